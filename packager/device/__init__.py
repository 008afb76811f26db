"""Device kit: talk to Android handsets over ADB, run bundles on them, measure.

transport.py (ADB transports), handset.py (one Handset API), runner.py (app and benchmark_model
runners), results.py (statistics, parity, reports). virtual/ is a virtual handset for CI, a subpackage the
real-device modules here never import (docs/ARCHITECTURE.md).
"""
