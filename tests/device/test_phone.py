"""Runs only with a real handset attached: `pytest tests/device/test_phone.py --device SERIAL --bundle dist/digits`."""

from __future__ import annotations

import pytest


@pytest.mark.phone
def test_digits_bundle_on_a_real_phone(handset, bundle, accelerator):
    from packager.device.bench import bench

    results = bench(handset, [bundle], [accelerator], runs=20)
    run = results.runs[0]
    assert not run.virtual
    assert run.status == "ok", run.errors
    assert run.parity is not None and run.parity.top1_agreement >= 0.99
