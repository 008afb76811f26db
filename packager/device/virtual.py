"""A virtual Android handset for CI: an ADB device daemon on 127.0.0.1.

What is real: the ADB wire protocol (CNXN, AUTH with RSA keys, OPEN/OKAY/WRTE/CLSE with flow
control, shell v1 and v2, exec, the sync service), so the Debian `adb` client, adb-shell and
adbutils (through an adb server that `adb connect`ed it) talk to it as to a phone; model
inference (host LiteRT, in a separate long-lived "app process"); files (a sandbox folder).

What is emulated: the handset's properties (getprop), the package manager (pm / cmd package:
list, path, install from an APK zip, uninstall), the activity manager (am start / force-stop),
run-as for debuggable packages, logcat, pidof, dumpsys meminfo, and the shell commands the
device kit uses (see _virtual_shell.COMMANDS). The demo app dev.packager.demo comes
pre-installed (its APK is a stand-in assembled from the host LiteRT library, so APK size
breakdowns have something real to measure) and runs benchmark requests as DESIGN contract 2
says. GPU, NNAPI and NPU do not exist on a host: requests for them fall back and say so.
Results are marked "virtual": true.

Faults for testing error paths (all on `VirtualHandset.faults`, changeable at run time):
disconnect mid-transfer, unauthorized (the "allow USB debugging" prompt is never accepted),
slow device (throughput cap and per-packet latency), crashing app (with an AndroidRuntime
logcat tail), missing result file, missing accelerators.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packager.device import _virtual_protocol as protocol
from packager.device import _virtual_shell as shell
from packager.device.contract import APP_PACKAGE, LOG_TAG

FEATURES = ("shell_v2", "cmd", "fixed_push_mkdir")
HOST_ACCELERATORS = {"cpu", "xnnpack"}


@dataclass
class Faults:
    """Faults to inject; every field may be changed while the handset runs."""

    disconnect_after_bytes: int | None = None  # cut the connection after this many bytes of one push
    disconnect_once: bool = True  # clear the fault after it fired (so a retry succeeds)
    unauthorized: bool = False  # never accept a new RSA key (the user ignores the prompt)
    throughput_bytes_per_s: float | None = None  # link speed cap, both directions
    latency_s: float = 0.0  # added per ADB packet
    crash_app: bool = False  # the app process dies on its next request
    missing_result: bool = False  # the app finishes without writing its result
    missing_accelerators: set[str] = field(default_factory=set)  # e.g. {"xnnpack"}
    delayed_s: float = 0.0  # total delay injected so far (what the slow link cost)

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


@dataclass
class Package:
    name: str
    apk: str  # device path of base.apk
    debuggable: bool = True
    version: str = "1.0"


class Logcat:
    """The device log, in `logcat -v threadtime` format."""

    def __init__(self) -> None:
        self._lines: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def add(self, level: str, tag: str, message: str, pid: int = 1000, tid: int | None = None) -> None:
        stamp = dt.datetime.now().strftime("%m-%d %H:%M:%S.%f")[:-3]
        with self._lock:
            for text in message.splitlines() or [""]:
                self._lines.append((tag, f"{stamp} {pid:5d} {tid or pid:5d} {level} {tag:<8}: {text}"))

    def lines(self, tags: set[str] | None = None) -> list[str]:
        with self._lock:
            return [line for tag, line in self._lines if tags is None or tag in tags]

    def clear(self) -> None:
        with self._lock:
            self._lines.clear()


class AppProcess:
    """The demo app's process: a worker started on the first launch and kept, like a cached app."""

    def __init__(self, handset: "VirtualHandset", package: str):
        self.handset = handset
        self.package = package
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()
        self.queue: list[str] = []
        self.busy = threading.Event()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def memory_kb(self) -> int | None:
        if self.pid is None:
            return None
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def launch(self, requests: list[str]) -> str:
        """Start (or reuse) the process and run the requests in the background."""
        cold = self.pid is None
        if cold:
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "packager.device._virtual_app"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, text=True, env=env,
            )
            self.handset.log("I", "ActivityManager", f"Start proc {self.proc.pid}:{self.package}/u0a123 for activity {{{self.package}/.BenchmarkActivity}}")
        self.busy.set()
        threading.Thread(target=self._run, args=(list(requests),), daemon=True).start()
        return "COLD" if cold else "WARM"

    def _run(self, requests: list[str]) -> None:
        with self.lock:
            try:
                for request in requests:
                    if not self._one(request):
                        break
            finally:
                self.busy.clear()

    def _one(self, request: str) -> bool:
        handset = self.handset
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return False
        fault = "crash" if handset.faults.crash_app else ("missing_result" if handset.faults.missing_result else None)
        if fault == "crash":
            handset.faults.crash_app = False
        job = {
            "root": str(handset.sandbox.root), "app_dir": f"/data/user/0/{self.package}", "device": handset.device_info(),
            "unavailable": sorted((set(("gpu", "nnapi", "npu")) - HOST_ACCELERATORS) | handset.faults.missing_accelerators),
            "fault": fault, "request": request,
        }
        handset.log("I", LOG_TAG, f"running {request}", pid=proc.pid)
        try:
            proc.stdin.write(json.dumps(job) + "\n")
            proc.stdin.flush()
            reply = proc.stdout.readline()
        except (BrokenPipeError, OSError):
            reply = ""
        if reply:
            for level, message in json.loads(reply).get("logs", []):
                handset.log(level, LOG_TAG, message, pid=proc.pid)
        if not reply or proc.poll() is not None or fault == "crash":
            proc.wait(timeout=10)
            pid = proc.pid
            handset.log("E", "AndroidRuntime", "FATAL EXCEPTION: main", pid=pid)
            handset.log("E", "AndroidRuntime", f"Process: {self.package}, PID: {pid}", pid=pid)
            handset.log("E", "AndroidRuntime", "java.lang.IllegalStateException: benchmark worker crashed", pid=pid)
            handset.log("E", "AndroidRuntime", f"\tat {self.package}.BenchmarkActivity.runRequests(BenchmarkActivity.kt:88)", pid=pid)
            handset.log("I", "ActivityManager", f"Process {self.package} (pid {pid}) has died: fg TOP", pid=1000)
            self.proc = None
            return False
        return True

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.handset.log("I", "ActivityManager", f"Force stopping {self.package}")
        self.proc = None


class VirtualHandset:
    """An ADB device on 127.0.0.1:port backed by a sandbox folder and host LiteRT."""

    def __init__(self, root: str | Path | None = None, port: int = 0, serial: str | None = None,
                 props: dict[str, str] | None = None, faults: Faults | None = None, require_auth: bool = True,
                 preinstall_demo_app: bool = True, host: str = "127.0.0.1"):
        self._tmp = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="virtual-handset-")
            root = self._tmp.name
        self.sandbox = shell.Sandbox(Path(root))
        self.host = host
        self.port = port
        self.serial = serial or f"VHS{secrets.token_hex(4).upper()}"
        self.faults = faults or Faults()
        self.require_auth = require_auth
        self.props = self._default_props()
        self.props.update(props or {})
        self.logcat = Logcat()
        self.packages: dict[str, Package] = {}
        self.apps: dict[str, AppProcess] = {}
        self.connections: set[protocol.Connection] = set()
        self.bytes_received = 0
        self._keys: list[Any] = []
        self._keys_lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        if preinstall_demo_app:
            self.install_apk_bytes(_stand_in_apk(), replace=True)

    # --- identity -----------------------------------------------------------------------------
    def _default_props(self) -> dict[str, str]:
        cpu = platform.machine() or "x86_64"
        return {
            "ro.product.manufacturer": "Packager", "ro.product.brand": "packager", "ro.product.model": "Virtual Handset",
            "ro.product.name": "virtual_handset", "ro.product.device": "vhandset", "ro.serialno": "",
            "ro.soc.manufacturer": "Host", "ro.soc.model": f"{platform.processor() or cpu} (host CPU)",
            "ro.product.cpu.abi": "x86_64" if cpu == "x86_64" else "arm64-v8a",
            "ro.product.cpu.abilist": "x86_64" if cpu == "x86_64" else "arm64-v8a",
            "ro.build.version.sdk": "34", "ro.build.version.release": "14", "ro.build.type": "userdebug",
            "ro.debuggable": "1", "ro.adb.secure": "1", "ro.boot.virtual_handset": "1",
            "ro.hardware": "virtual", "ro.build.fingerprint": "packager/virtual_handset/vhandset:14/VH1/1:userdebug/test-keys",
        }

    def device_info(self) -> dict[str, Any]:
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
        return f"{self.host}:{self.port}"

    @property
    def root(self) -> Path:
        return self.sandbox.root

    @property
    def installed_packages(self) -> list[str]:
        return sorted(self.packages)

    # --- keys ---------------------------------------------------------------------------------
    def accepted_keys(self) -> list[Any]:
        with self._keys_lock:
            return list(self._keys)

    def accept_key(self, key: Any) -> None:
        with self._keys_lock:
            self._keys.append(key)
        self.log("I", "adbd", "USB debugging authorized for a new RSA key")

    def log(self, level: str, tag: str, message: str, pid: int = 1000) -> None:
        self.logcat.add(level, tag, message, pid=pid)

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "VirtualHandset":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self.props["ro.serialno"] = self.serial
        self._listener = listener
        self._thread = threading.Thread(target=self._accept_loop, name=f"virtual-handset-{self.port}", daemon=True)
        self._thread.start()
        self.log("I", "adbd", f"adbd listening on tcp:{self.port}")
        return self

    def _accept_loop(self) -> None:
        while self._listener is not None:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=protocol.serve_connection, args=(self, sock), daemon=True).start()

    def serve_forever(self) -> None:
        if self._listener is None:
            self.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            try:
                listener.close()
            except OSError:
                pass
        for conn in list(self.connections):
            conn.drop()
        for app in self.apps.values():
            app.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "VirtualHandset":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def disconnect_all(self) -> None:
        """Drop every host connection (as if the cable was pulled)."""
        for conn in list(self.connections):
            conn.drop()

    # --- services -----------------------------------------------------------------------------
    def service_handler(self, service: str):
        if service.startswith("shell"):
            return protocol.shell_service
        if service.startswith("exec:"):
            return protocol.exec_service
        if service == "sync:":
            return protocol.sync_service
        return None

    # --- package manager ----------------------------------------------------------------------
    def install_apk_bytes(self, data: bytes, replace: bool = False) -> str:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            manifest = archive.read("AndroidManifest.xml")
        except (zipfile.BadZipFile, KeyError):
            return "Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse APK: not a zip with an AndroidManifest.xml]\n"
        name, debuggable = _manifest_facts(manifest)
        if not name:
            return "Failure [INSTALL_PARSE_FAILED_MANIFEST_MALFORMED: no package name]\n"
        if name in self.packages and not replace:
            return f"Failure [INSTALL_FAILED_ALREADY_EXISTS: Attempt to re-install {name} without first uninstalling.]\n"
        if name in self.packages:
            self.uninstall(name, keep_data=True)
        folder = f"/data/app/~~{secrets.token_urlsafe(8).replace('-', 'A')}==/{name}-{secrets.token_hex(4)}"
        host = self.sandbox.host(folder, user="root")
        host.mkdir(parents=True, exist_ok=True)
        (host / "base.apk").write_bytes(data)
        self.packages[name] = Package(name, f"{folder}/base.apk", debuggable)
        self.sandbox.host(f"/data/user/0/{name}/files", user="root").mkdir(parents=True, exist_ok=True)
        self.log("I", "PackageManager", f"Installed {name} ({len(data)} bytes)")
        return "Success\n"

    def uninstall(self, name: str, keep_data: bool = False) -> bool:
        package = self.packages.pop(name, None)
        if package is None:
            return False
        if name in self.apps:
            self.apps.pop(name).stop()
        shutil.rmtree(self.sandbox.host(package.apk, user="root").parent.parent, ignore_errors=True)
        if not keep_data:
            shutil.rmtree(self.sandbox.host(f"/data/user/0/{name}", user="root"), ignore_errors=True)
        return True

    def package_manager(self, ctx: shell.Context, args: list[str]) -> int:
        if not args:
            ctx.err("usage: pm [list|path|install|uninstall] ...\n")
            return 1
        verb, rest = args[0], [a for a in args[1:]]
        if verb == "list" and rest[:1] == ["packages"]:
            names = self.installed_packages
            if "-3" not in rest:
                names = sorted(set(names) | {"android", "com.android.shell"})
            ctx.out("".join(f"package:{n}\n" for n in names))
            return 0
        if verb == "path" and rest:
            package = self.packages.get(rest[-1])
            if package is None:
                return 1
            ctx.out(f"package:{package.apk}\n")
            return 0
        if verb == "install":
            paths = [a for a in rest if not a.startswith("-")]
            if not paths:
                ctx.err("Error: no APK given\n")
                return 1
            path = ctx.path(paths[-1])
            if not path.is_file():
                ctx.out(f"Failure [INSTALL_FAILED_INVALID_URI: {paths[-1]} does not exist]\n")
                return 1
            message = self.install_apk_bytes(path.read_bytes(), replace="-r" in rest)
            ctx.out(message)
            return 0 if message.startswith("Success") else 1
        if verb == "uninstall" and rest:
            if self.uninstall(rest[-1], keep_data="-k" in rest):
                ctx.out("Success\n")
                return 0
            ctx.out("Failure [DELETE_FAILED_INTERNAL_ERROR]\n")
            return 1
        ctx.err(f"pm: unknown command '{verb}'\n")
        return 1

    # --- activity manager ---------------------------------------------------------------------
    def activity_manager(self, ctx: shell.Context, args: list[str]) -> int:
        if args[:1] == ["force-stop"] and len(args) > 1:
            if args[1] in self.apps:
                self.apps[args[1]].stop()
            return 0
        if args[:1] != ["start"]:
            ctx.err(f"am: unknown command '{args[0] if args else ''}'\n")
            return 1
        wait = "-W" in args
        component, extras = None, {}
        i = 1
        while i < len(args):
            arg = args[i]
            if arg == "-n" and i + 1 < len(args):
                component, i = args[i + 1], i + 2
            elif arg in ("--es", "--esa", "--ei", "--ez") and i + 2 < len(args):
                extras[args[i + 1]] = args[i + 2].split(",") if arg == "--esa" else args[i + 2]
                i += 3
            else:
                i += 1
        if component is None or "/" not in component:
            ctx.err("Error: no component given (-n package/.Activity)\n")
            return 1
        package, activity = component.split("/", 1)
        if package not in self.packages:
            ctx.out(f"Starting: Intent {{ cmp={component} }}\n")
            ctx.err(f"Error type 3\nError: Activity class {{{component}}} does not exist.\n")
            return 1
        ctx.out(f"Starting: Intent {{ cmp={component}{' (has extras)' if extras else ''} }}\n")
        started = time.perf_counter()
        state = "WARM"
        if activity.endswith("BenchmarkActivity"):
            requests = extras.get("requests") or ([extras["request"]] if "request" in extras else [])
            if isinstance(requests, str):
                requests = [requests]
            app = self.apps.setdefault(package, AppProcess(self, package))
            state = app.launch([r for r in requests if r])
            self.log("I", "ActivityManager", f"Displayed {component}: +{int((time.perf_counter() - started) * 1000)}ms")
        if wait:
            total = int((time.perf_counter() - started) * 1000)
            ctx.out(f"Status: ok\nLaunchState: {state}\nActivity: {component}\nTotalTime: {total}\nWaitTime: {total + 2}\nComplete\n")
        return 0

    def app_pid(self, package: str) -> int | None:
        app = self.apps.get(package)
        return app.pid if app is not None else None

    def app_memory_kb(self, package: str) -> int | None:
        app = self.apps.get(package)
        return app.memory_kb() if app is not None else None

    def app_idle(self, package: str = APP_PACKAGE, timeout: float = 60.0) -> bool:
        """Wait until the app has run everything it was given (for tests)."""
        deadline = time.time() + timeout
        app = self.apps.get(package)
        while app is not None and app.busy.is_set() and time.time() < deadline:
            time.sleep(0.02)
        return app is None or not app.busy.is_set()


def _manifest_facts(manifest: bytes) -> tuple[str | None, bool]:
    """Package name and debuggable flag from a text or binary (AXML) AndroidManifest.xml."""
    if manifest.lstrip().startswith(b"<"):
        text = manifest.decode("utf-8", "replace")
        name = re.search(r'\bpackage="([^"]+)"', text)
        return (name.group(1) if name else None), 'android:debuggable="true"' in text
    # binary XML: the package name is a string of the string pool (UTF-16LE)
    strings = re.findall(rb"((?:[\x20-\x7e]\x00){3,})", manifest)
    decoded = [s.decode("utf-16le") for s in strings]
    names = [s for s in decoded if re.fullmatch(r"[a-zA-Z]\w*(\.\w+)+", s) and not s.startswith("android.")]
    return (names[0] if names else None), "debuggable" in decoded


@functools.lru_cache(maxsize=1)
def _stand_in_apk() -> bytes:
    """The demo app's APK on the virtual handset: the real host LiteRT library as its native
    code, a small dex and resources stand-in, and an empty model index."""
    buffer = io.BytesIO()
    manifest = (f'<?xml version="1.0" encoding="utf-8"?>\n<manifest package="{APP_PACKAGE}" '
                'xmlns:android="http://schemas.android.com/apk/res/android">\n'
                '  <application android:debuggable="true" android:extractNativeLibs="false"/>\n</manifest>\n')
    abi = "x86_64" if platform.machine() == "x86_64" else "arm64-v8a"
    with zipfile.ZipFile(buffer, "w") as apk:
        apk.writestr("AndroidManifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        apk.writestr("classes.dex", b"dex\n035\0" + secrets.token_bytes(96 * 1024), compress_type=zipfile.ZIP_DEFLATED)
        apk.writestr("resources.arsc", b"\x02\x00\x0c\x00" + bytes(24 * 1024), compress_type=zipfile.ZIP_STORED)
        apk.writestr("res/drawable/icon.png", secrets.token_bytes(4 * 1024), compress_type=zipfile.ZIP_STORED)
        apk.writestr("assets/models/index.json", '{"bundles": []}\n', compress_type=zipfile.ZIP_DEFLATED)
        try:
            import ai_edge_litert

            lib = Path(ai_edge_litert.__file__).with_name("libLiteRt.so")
            apk.writestr(f"lib/{abi}/libLiteRt.so", lib.read_bytes(), compress_type=zipfile.ZIP_STORED)
        except (ImportError, OSError):
            apk.writestr(f"lib/{abi}/libLiteRt.so", secrets.token_bytes(256 * 1024), compress_type=zipfile.ZIP_STORED)
        apk.writestr("META-INF/CERT.RSA", secrets.token_bytes(1024), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def main() -> None:  # pragma: no cover - `python -m packager.device.virtual`
    handset = VirtualHandset(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0).start()
    print(handset.address, flush=True)
    handset.serve_forever()


if __name__ == "__main__":  # pragma: no cover
    main()
