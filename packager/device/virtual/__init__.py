"""A virtual Android handset for CI (see handset.py for what is real, emulated and not).

Layout: handset.py (VirtualHandset, Faults: the public API), protocol.py (ADB wire protocol,
device side), sync.py (the `sync:` service), shell.py and commands.py (a small /system/bin/sh),
fs.py (the per-handset sandbox and its access rules), system.py (logcat, package and activity
managers), apk.py (the stand-in demo APK), app.py (the demo app's worker process, run as
`python -m packager.device.virtual.app`).

Only tests, the CLI (`packager device virtual`, `packager demo`) and the pytest plugin import
this package; the real-device code in packager/device/ does not (docs/ARCHITECTURE.md).
`from packager.device.virtual import VirtualHandset, Faults` loads handset.py on first use, so
the app worker, started as a submodule, does not pay for the ADB protocol's imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from packager.device.virtual.handset import Faults, VirtualHandset

__all__ = ["Faults", "VirtualHandset"]


def __getattr__(name: str):
    if name in __all__:
        from packager.device.virtual import handset  # noqa: PLC0415

        return getattr(handset, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
