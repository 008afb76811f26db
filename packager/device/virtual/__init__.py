"""A virtual Android handset for CI (see handset.py for what is real, emulated and not).

Layout: handset.py (VirtualHandset, Faults: the public API), protocol.py (ADB wire protocol,
device side), sync.py (the `sync:` service), shell.py and commands.py (a small /system/bin/sh),
fs.py (the per-handset sandbox and its access rules), system.py (logcat, package and activity
managers), apk.py (the stand-in demo APK), app.py (the demo app's worker process, run as
`python -m packager.device.virtual.app`).

Only tests, benchmarks, the CLI (`packager device virtual`, `device bench --virtual`, `packager
demo`) and the pytest plugin import this package; the real-device code in packager/device/ does
not (docs/ARCHITECTURE.md). The CLI, the benchmarks and the plugin start a handset with `start`,
which registers its stop.
`from packager.device.virtual import VirtualHandset, Faults` loads handset.py on first use, so
the app worker, started as a submodule, does not pay for the ADB protocol's imports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from packager.device.virtual import handset
from packager.device.virtual.handset import VirtualHandset

if TYPE_CHECKING:
    from packager.device.virtual.handset import Faults, VirtualHandset

__all__ = ["Faults", "VirtualHandset", "start"]


def start(on_exit: Callable[[Callable[[], None]], Any], **options: Any) -> VirtualHandset:
    """Start a virtual handset (VirtualHandset(**options)) and register its stop with `on_exit`
    (contextlib.ExitStack.callback, pytest's config.add_cleanup): the one place the CLI, the demo
    and the plugin start one and make sure it stops."""

    handset = VirtualHandset(**options)
    try:
        handset.start()
    except BaseException:  # the port could not be had: leave no sandbox folder behind
        handset.stop()
        raise
    on_exit(handset.stop)
    return handset


def __getattr__(name: str):
    if name in ("Faults", "VirtualHandset"):

        return getattr(handset, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
