"""What the virtual handset's services see of it.

protocol.py (the ADB wire), sync.py, shell.py, commands.py and system.py serve a `Device`: its
sandbox, properties, logs, packages, activities, faults and threads. They depend on this module
and not on handset.py, which builds them and is the one `Device` (`VirtualHandset`); so the
services import nothing above themselves and the package has no import cycle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from packager.device.virtual.fs import Sandbox


@dataclass
class Faults:
    """Faults to inject; every field may be changed while the handset runs."""

    disconnect_after_bytes: int | None = None  # drop the connection after this many bytes of one push
    disconnect_once: bool = True  # clear the fault once it fired (so a retry succeeds); False: every push
    unauthorized: bool = False  # new RSA keys are not accepted (the prompt is never tapped) while set
    throughput_bytes_per_s: float | None = None  # link speed cap, both directions
    latency_s: float = 0.0  # added to every ADB packet, both directions
    crash_app: bool = False  # the app process dies on its next request (no result, AndroidRuntime in logcat)
    crash_once: bool = True  # clear crash_app once it fired; False: every request crashes
    missing_result: bool = False  # the app runs but finishes without writing its result file
    missing_accelerators: set[str] = field(default_factory=set)  # e.g. {"xnnpack"}: falls back and says so
    delayed_s: float = 0.0  # observed: total delay the slow link injected so far

    def delay(self, size: int) -> None:
        wait = self.latency_s + (size / self.throughput_bytes_per_s if self.throughput_bytes_per_s else 0.0)
        if wait > 0:
            self.delayed_s += wait
            time.sleep(wait)

    def should_disconnect(self, received: int) -> bool:
        if self.disconnect_after_bytes is not None and received >= self.disconnect_after_bytes:
            if self.disconnect_once:
                self.disconnect_after_bytes = None
            return True
        return False


class Device(Protocol):
    """The handset as its services use it (VirtualHandset implements it)."""

    sandbox: Sandbox
    props: dict[str, str]
    faults: Faults
    require_auth: bool
    logcat: Any  # system.Logcat
    packages: Any  # system.PackageManager
    activities: Any  # system.ActivityManager
    commands: dict[str, Any]  # the shell's command table (commands.COMMANDS)
    connections: set[Any]  # protocol.Connection
    stopping: threading.Event

    def device_info(self) -> dict[str, Any]: ...
    def banner(self) -> str: ...
    def uptime_s(self) -> float: ...
    def accepted_keys(self) -> list[Any]: ...
    def accept_key(self, key: Any) -> None: ...
    def log(self, level: str, tag: str, message: str, pid: int = 1000) -> None: ...
    def count_transfer(self, received: int = 0, sent: int = 0) -> None: ...
    def spawn(self, target: Callable[..., Any], *args: Any, name: str) -> threading.Thread: ...


class Stream(Protocol):
    """One ADB stream as the sync service reads and writes it (protocol.Stream)."""

    def read_exact(self, size: int) -> bytes: ...
    def write(self, data: bytes) -> None: ...


class Connection(Protocol):
    """One ADB connection as the sync service sees it (protocol.Connection)."""

    handset: Device
    max_payload: int

    def drop(self) -> None: ...
