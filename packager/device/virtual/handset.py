"""A virtual Android handset for CI: an ADB device daemon (the adbd side) on 127.0.0.1.

Real, not imitated:
- the ADB wire protocol (messages packed with adb-shell's AdbMessage): CNXN with a device
  banner, AUTH with RSA keys (signatures verified with `cryptography`), OPEN/OKAY/WRTE/CLSE with
  per-stream flow control, many streams per connection and many connections; the services
  `shell:` (v1), `shell,v2:` (exit codes, stderr, stdin), `exec:` and `sync:` (STAT, LIST, SEND,
  RECV, QUIT; stat_v2/ls_v2). The Debian `adb` client, adb-shell, and adbutils through an adb
  server that `adb connect`ed it all talk to it as to a phone (the tests prove it);
- model inference: the host's LiteRT (ai-edge-litert) in a separate, long-lived "app process";
- files: a sandbox folder per handset (see fs.py for the Android access rules kept).

Emulated: properties (getprop), the package manager (pm / cmd package: list, path, install from
a file or streamed as `adb install` does, uninstall, clear), the activity manager (am start
[-W] / force-stop), run-as for debuggable packages, logcat, pidof, dumpsys meminfo, and a small
/system/bin/sh (see shell.py and commands.COMMANDS). The demo app
dev.packager.demo comes pre-installed as a stand-in APK (a real zip around the host LiteRT
library); its BenchmarkActivity runs contract 2 requests (docs/CONTRACTS.md): cpu = LiteRT's
builtin kernels, xnnpack = XNNPACK; gpu, nnapi and npu do not exist on a host, so they fall back and the result
says so, never claiming success. Results say "virtual": true.

Not emulated: an interactive shell (pty), native binaries on the device (they fail with "Exec
format error"), command substitution, port forwarding, root/remount/reboot, USB transport,
APK signature checks, compressed sync (sendrecv_v2), streaming `logcat` (it dumps and returns).

Faults (`VirtualHandset.faults`, a `Faults` dataclass, changeable while running): disconnect
mid-transfer (once or always), unauthorized (the "allow USB debugging" prompt is never accepted
until cleared), slow link (throughput cap, per-packet latency), crashing app (with an
AndroidRuntime logcat tail), missing result file, missing accelerators.
"""

from __future__ import annotations

import platform
import secrets
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from packager.device.contract import APP_PACKAGE
from packager.device.virtual import protocol
from packager.device.virtual.apk import stand_in_demo_apk
from packager.device.virtual.commands import COMMANDS
from packager.device.virtual.fs import Sandbox
from packager.device.virtual.parts import Faults
from packager.device.virtual.system import ActivityManager, Logcat, PackageManager

FEATURES = ("shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir")


# Host connections served at once; more are closed as they arrive (a real adbd serves a handful).
MAX_CONNECTIONS = 32


def default_props(serial: str) -> dict[str, str]:
    """A plausible Android 14 handset whose CPU ABI is the host's (the models really run there)."""
    machine = platform.machine() or "x86_64"
    abi = "x86_64" if machine in ("x86_64", "AMD64") else "arm64-v8a"
    return {
        "ro.product.manufacturer": "Packager", "ro.product.brand": "packager", "ro.product.model": "Virtual Handset",
        "ro.product.name": "virtual_handset", "ro.product.device": "vhandset", "ro.serialno": serial,
        "ro.soc.manufacturer": "Host", "ro.soc.model": f"{platform.processor() or machine} (host CPU)",
        "ro.product.cpu.abi": abi, "ro.product.cpu.abilist": abi,
        "ro.product.cpu.abilist64": abi, "ro.product.cpu.abilist32": "",
        "ro.build.version.sdk": "34", "ro.build.version.release": "14", "ro.build.type": "userdebug",
        "ro.build.id": "VH1.240101.001", "ro.build.fingerprint": "packager/virtual_handset/vhandset:14/VH1.240101.001/1:userdebug/test-keys",
        "ro.debuggable": "1", "ro.adb.secure": "1", "ro.hardware": "virtual", "ro.boot.virtual_handset": "1",
        "sys.boot_completed": "1", "init.svc.adbd": "running", "persist.sys.timezone": "UTC",
    }


class VirtualHandset:
    """An ADB device on host:port backed by a sandbox folder and host LiteRT.

    Args: root (sandbox folder; a temporary one, removed on stop, when None), port (0: any free
    port), serial (default VHS + 8 hex digits), props (overrides of default_props), faults,
    require_auth (False = ro.adb.secure=0: no AUTH exchange), preinstall_demo_app, host.
    """

    def __init__(self, root: str | Path | None = None, port: int = 0, serial: str | None = None,
                 props: dict[str, str] | None = None, faults: Faults | None = None, require_auth: bool = True,
                 preinstall_demo_app: bool = True, host: str = "127.0.0.1"):
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="virtual-handset-")
            root = self._tmp.name
        self.sandbox = Sandbox(Path(root))
        self.host = host
        self.port = port
        self.serial = serial or f"VHS{secrets.token_hex(4).upper()}"
        self.faults = faults or Faults()
        self.require_auth = require_auth
        self.props = default_props(self.serial)
        self.props["ro.adb.secure"] = "1" if require_auth else "0"
        self.props.update(props or {})
        self.logcat = Logcat()
        self.packages = PackageManager(self)
        self.activities = ActivityManager(self)
        self.commands = COMMANDS  # what its shell runs (shell.lookup)
        self.connections: set[protocol.Connection] = set()
        self.stopping = threading.Event()
        self.bytes_received = 0  # file bytes pushed through sync SEND
        self.bytes_sent = 0  # file bytes pulled through sync RECV
        self._counter_lock = threading.Lock()
        self._keys: list[Any] = []
        self._keys_lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connection_slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.idle_timeout_s = protocol.IDLE_TIMEOUT_S  # a silent connection with no open stream is closed after this
        self._booted = time.monotonic()
        if preinstall_demo_app:
            self.packages.install(stand_in_demo_apk())

    # --- identity -----------------------------------------------------------------------------
    def device_info(self) -> dict[str, Any]:
        """The `device` block of a bench result."""
        p = self.props
        return {
            "serial": self.serial, "manufacturer": p["ro.product.manufacturer"], "model": p["ro.product.model"],
            "soc": p.get("ro.soc.model"), "abi": p["ro.product.cpu.abi"], "sdk": int(p["ro.build.version.sdk"]),
            "android_version": p["ro.build.version.release"],
        }

    def banner(self) -> str:
        p = self.props
        return (f"device::ro.product.name={p['ro.product.name']};ro.product.model={p['ro.product.model']};"
                f"ro.product.device={p['ro.product.device']};features={','.join(FEATURES)}")

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def root(self) -> Path:
        return self.sandbox.root

    @property
    def installed_packages(self) -> list[str]:
        return self.packages.names()

    def uptime_s(self) -> float:
        return time.monotonic() - self._booted

    # --- keys and logs ------------------------------------------------------------------------
    def accepted_keys(self) -> list[Any]:
        with self._keys_lock:
            return list(self._keys)

    def accept_key(self, key: Any) -> None:
        with self._keys_lock:
            self._keys.append(key)
        self.log("I", "adbd", "USB debugging allowed for a new RSA key")

    def log(self, level: str, tag: str, message: str, pid: int = 1000) -> None:
        self.logcat.add(level, tag, message, pid=pid)

    def count_transfer(self, received: int = 0, sent: int = 0) -> None:
        with self._counter_lock:
            self.bytes_received += received
            self.bytes_sent += sent

    # --- threads and lifecycle ----------------------------------------------------------------
    def spawn(self, target, *args, name: str) -> threading.Thread:
        """A daemon thread that stop() waits for."""
        def run() -> None:
            try:
                target(*args)
            finally:
                with self._threads_lock:
                    self._threads.discard(thread)

        thread = threading.Thread(target=run, name=f"vhs-{self.serial}-{name}", daemon=True)
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()
        return thread

    def start(self) -> VirtualHandset:
        listener = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self.stopping.clear()
        self.spawn(self._accept_loop, listener, name="accept")
        self.log("I", "adbd", f"adbd listening on tcp:{self.port}")
        return self

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            if not self._connection_slots.acquire(blocking=False):  # every slot taken: closed at once, as a busy adbd would
                self.log("W", "adbd", f"refused a connection: {MAX_CONNECTIONS} are open")
                sock.close()
                continue
            self.spawn(self._serve, sock, name="connection")

    def _serve(self, sock: socket.socket) -> None:
        try:
            protocol.serve_connection(self, sock)
        finally:
            self._connection_slots.release()

    def serve_forever(self) -> None:
        """Run until interrupted (Ctrl-C), then stop."""
        if self._listener is None:
            self.start()
        try:
            while not self.stopping.wait(3600):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the port, drop every connection, kill the app process, wait for every thread."""
        self.stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            for close in (lambda: listener.shutdown(socket.SHUT_RDWR), listener.close):
                try:
                    close()
                except OSError:
                    pass
        self.disconnect_all()
        self.activities.stop_all()
        deadline = time.monotonic() + timeout
        while True:
            with self._threads_lock:
                alive = [t for t in self._threads if t is not threading.current_thread()]
            if not alive or time.monotonic() > deadline:
                break
            alive[0].join(timeout=max(0.0, deadline - time.monotonic()))
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> VirtualHandset:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def disconnect_all(self) -> None:
        """Drop every host connection (as if the cable was pulled)."""
        for conn in list(self.connections):
            conn.drop()

    # --- conveniences for tests and tools -----------------------------------------------------
    def install_apk_bytes(self, data: bytes, replace: bool = True) -> str:
        """What `pm install` answers for these APK bytes ("Success" or "Failure [...]")."""
        return self.packages.install(data, replace=replace)

    def uninstall(self, name: str, keep_data: bool = False) -> bool:
        return self.packages.uninstall(name, keep_data=keep_data)

    def app_pid(self, package: str = APP_PACKAGE) -> int | None:
        return self.activities.pid(package)

    def app_idle(self, package: str = APP_PACKAGE, timeout: float = 60.0) -> bool:
        """Wait until the app has run every request it was given; False on timeout."""
        return self.activities.idle(package, timeout)


def main() -> None:  # pragma: no cover - `python -m packager.device.virtual [PORT]` (see __main__.py)
    handset = VirtualHandset(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0).start()
    print(handset.address, flush=True)
    handset.serve_forever()
