"""Android's system side on the virtual handset: logcat, the package manager, the activity
manager and the demo app's process.

The demo app's `BenchmarkActivity` is emulated by a long-lived worker process
(`app.py`), started on the first launch and kept, as Android keeps a cached app process:
the first launch is cold (Python and LiteRT start), later ones are warm. A crash kills only that
process; logcat then shows what Android would (an AndroidRuntime `FATAL EXCEPTION` for an
injected Java crash, a `Fatal signal` tombstone header when the worker really died of a signal).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from packager.device.contract import APP_PACKAGE, LOG_TAG
from packager.device.virtual import game_loop
from packager.device.virtual.apk import ApkError, ManifestFacts, manifest_facts
from packager.device.virtual.shell import Context

if TYPE_CHECKING:  # pragma: no cover
    from packager.device.virtual.parts import Device

SYSTEM_PACKAGES = ("android", "com.android.shell", "com.android.settings", "com.android.systemui")
EMULATED_ACTIVITIES = {f"{APP_PACKAGE}/.BenchmarkActivity", f"{APP_PACKAGE}/.GameLoopActivity"}  # run by the worker; others only "start"
NOT_ON_A_HOST = ("gpu", "nnapi", "npu")


class Logcat:
    """The device log (a ring buffer, as on a phone), in `logcat -v threadtime` format."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._lines: collections.deque[tuple[str, str]] = collections.deque(maxlen=capacity)
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


# --- packages -------------------------------------------------------------------------------------
@dataclass
class Package:
    name: str
    apk: str  # device path of base.apk
    uid: int
    debuggable: bool = True
    version_code: int = 1
    version_name: str = "1.0"
    activities: list[str] = field(default_factory=list)


class PackageManager:
    """`pm` / `cmd package`: list, path, install (file or streamed), uninstall, clear."""

    def __init__(self, handset: Device):
        self.handset = handset
        self._packages: dict[str, Package] = {}
        self._lock = threading.RLock()
        self._next_uid = 10123

    # the dict-like view the handset exposes
    def get(self, name: str) -> Package | None:
        return self._packages.get(name)

    def __getitem__(self, name: str) -> Package:
        return self._packages[name]

    def __contains__(self, name: object) -> bool:
        return name in self._packages

    def names(self) -> list[str]:
        return sorted(self._packages)

    def uid(self, name: str) -> int:
        package = self._packages.get(name)
        return package.uid if package else 10000

    @staticmethod
    def data_dir(name: str) -> str:
        return f"/data/user/0/{name}"

    def install(self, apk: bytes, replace: bool = True, allow_test: bool = False) -> str:
        """Install APK bytes; returns pm's answer ("Success" or "Failure [REASON: ...]")."""
        try:
            facts = manifest_facts(apk)
        except ApkError as exc:
            return f"Failure [{exc}]"
        if facts.test_only and not allow_test:
            return "Failure [INSTALL_FAILED_TEST_ONLY: installPackageLI]"
        with self._lock:
            old = self._packages.get(facts.package)
            if old is not None and not replace:
                return f"Failure [INSTALL_FAILED_ALREADY_EXISTS: Attempt to re-install {facts.package} without first uninstalling.]"
            if old is not None:
                self.handset.activities.force_stop(facts.package)
                shutil.rmtree(self._apk_dir(old), ignore_errors=True)
            folder = f"/data/app/~~{secrets.token_urlsafe(12)[:16].replace('-', 'A').replace('_', 'B')}==/{facts.package}-{secrets.token_urlsafe(12)[:16].replace('-', 'A').replace('_', 'B')}=="
            host = self.handset.sandbox.host(folder, user="root", write=True)
            host.mkdir(parents=True, exist_ok=True)
            (host / "base.apk").write_bytes(apk)
            uid = old.uid if old else self._new_uid()
            self._packages[facts.package] = self._record(facts, f"{folder}/base.apk", uid)
            self.handset.sandbox.host(f"{self.data_dir(facts.package)}/files", user="root", write=True).mkdir(parents=True, exist_ok=True)
        self.handset.log("I", "PackageManager", f"{'Updated' if old else 'Installed'} {facts.package} ({len(apk)} bytes)")
        return "Success"

    def _new_uid(self) -> int:
        uid, self._next_uid = self._next_uid, self._next_uid + 1
        return uid

    @staticmethod
    def _record(facts: ManifestFacts, apk: str, uid: int) -> Package:
        return Package(facts.package, apk, uid, facts.debuggable, facts.version_code, facts.version_name, list(facts.activities))

    def _apk_dir(self, package: Package) -> Path:
        return self.handset.sandbox.host(package.apk, user="root").parent.parent

    def uninstall(self, name: str, keep_data: bool = False) -> bool:
        with self._lock:
            package = self._packages.pop(name, None)
        if package is None:
            return False
        self.handset.activities.force_stop(name)
        shutil.rmtree(self._apk_dir(package), ignore_errors=True)
        if not keep_data:
            shutil.rmtree(self.handset.sandbox.host(self.data_dir(name), user="root"), ignore_errors=True)
        self.handset.log("I", "PackageManager", f"Removed {name}")
        return True

    def shell(self, ctx: Context, args: list[str]) -> int:
        verb, rest = (args[0], args[1:]) if args else ("", [])
        handler = {"list": self._list, "path": self._path, "install": self._install, "uninstall": self._uninstall,
                   "clear": self._clear}.get(verb)
        if handler is None:
            ctx.err(f"Unknown command: {verb}\n" if verb else "usage: pm [list|path|install|uninstall|clear] ...\n")
            return 1 if verb else 0
        return handler(ctx, rest)

    def _list(self, ctx: Context, rest: list[str]) -> int:
        if rest[:1] != ["packages"]:
            ctx.err(f"Error: unknown list type '{rest[0] if rest else ''}'\n")
            return 1
        options = [a for a in rest[1:] if a.startswith("-")]
        needle = next((a for a in rest[1:] if not a.startswith("-")), "")
        names = self.names() if "-3" in options else sorted(set(self.names()) | set(SYSTEM_PACKAGES))
        lines = []
        for name in names:
            if needle in name:
                package = self._packages.get(name)
                where = f"{package.apk}=" if "-f" in options and package else ("/system/framework/framework-res.apk=" if "-f" in options else "")
                lines.append(f"package:{where}{name}" + (f" uid:{self.uid(name)}" if "-U" in options else "") + "\n")
        ctx.out("".join(lines))
        return 0

    def _path(self, ctx: Context, rest: list[str]) -> int:
        package = self._packages.get(rest[-1]) if rest else None
        if package is None:
            return 1
        ctx.out(f"package:{package.apk}\n")
        return 0

    def _install(self, ctx: Context, rest: list[str]) -> int:
        """`pm install [-r] [-t] [-R] [-S SIZE] [PATH]`: from a file, or SIZE bytes of stdin (what
        `adb install` streams). Since Android 7 replacing is the default (-r is accepted and
        ignored; -R refuses to replace)."""
        size, paths, i = None, [], 0
        while i < len(rest):
            if rest[i] == "-S" and i + 1 < len(rest):
                size, i = int(rest[i + 1]), i + 2
                continue
            if rest[i] in ("-i", "--user", "--install-location", "--abi") and i + 1 < len(rest):
                i += 2
                continue
            if not rest[i].startswith("-"):
                paths.append(rest[i])
            i += 1
        if size is not None:
            data = ctx.read_stdin(size)
            if len(data) != size:
                ctx.out(f"Failure [INSTALL_FAILED_INVALID_APK: got {len(data)} of {size} bytes]\n")
                return 1
        elif paths:
            path = ctx.path(paths[-1])
            if not path.is_file():
                ctx.err(f"Error: Unable to open file: {paths[-1]}\nConsider using a file under /data/local/tmp/\n")
                ctx.out("Error: Can't open file: " + paths[-1] + "\n")
                return 1
            data = path.read_bytes()
        else:
            ctx.err("Error: APK content must be streamed (-S SIZE) or given as a path\n")
            return 1
        answer = self.install(data, replace="-R" not in rest, allow_test="-t" in rest)
        ctx.out(answer + "\n")
        return 0 if answer == "Success" else 1

    def _uninstall(self, ctx: Context, rest: list[str]) -> int:
        names = [a for a in rest if not a.startswith("-")]
        if names and self.uninstall(names[-1], keep_data="-k" in rest):
            ctx.out("Success\n")
            return 0
        ctx.out("Failure [DELETE_FAILED_INTERNAL_ERROR]\n")
        return 1

    def _clear(self, ctx: Context, rest: list[str]) -> int:
        if not rest or rest[-1] not in self._packages:
            ctx.out("Failed\n")
            return 1
        self.handset.activities.force_stop(rest[-1])
        data = self.handset.sandbox.host(self.data_dir(rest[-1]), user="root")
        shutil.rmtree(data, ignore_errors=True)
        (data / "files").mkdir(parents=True, exist_ok=True)
        ctx.out("Success\n")
        return 0


# --- activities and the app process ---------------------------------------------------------------
class ActivityManager:
    """`am start` / `am force-stop`, process bookkeeping for pidof and dumpsys."""

    def __init__(self, handset: Device):
        self.handset = handset
        self._apps: dict[str, AppProcess] = {}
        self._lock = threading.Lock()

    def app(self, package: str) -> AppProcess:
        with self._lock:
            return self._apps.setdefault(package, AppProcess(self.handset, package))

    def pid(self, package: str) -> int | None:
        app = self._apps.get(package)
        return app.pid if app else None

    def memory_kb(self, package: str) -> tuple[int, int] | None:
        app = self._apps.get(package)
        return app.memory_kb() if app else None

    def force_stop(self, package: str) -> None:
        app = self._apps.get(package)
        if app is not None:
            app.stop(reason="force-stop")

    def stop_all(self) -> None:
        for app in list(self._apps.values()):
            app.stop(reason="shutdown")

    def idle(self, package: str, timeout: float) -> bool:
        app = self._apps.get(package)
        return app is None or app.wait_idle(timeout)

    def shell(self, ctx: Context, args: list[str]) -> int:
        if args[:1] == ["force-stop"] and len(args) > 1:
            self.force_stop(args[-1])
            return 0
        if args[:1] == ["start"]:
            return self._start(ctx, args[1:])
        ctx.err(f"Unknown command: {args[0]}\n" if args else "usage: am [start|force-stop] ...\n")
        return 1 if args else 0

    def _start(self, ctx: Context, args: list[str]) -> int:
        wait = "-W" in args
        component, extras, i = None, {}, 0
        action = data = None
        while i < len(args):
            arg = args[i]
            if arg == "-n" and i + 1 < len(args):
                component, i = args[i + 1], i + 2
            elif arg in ("-a", "-d") and i + 1 < len(args):
                action, data = (args[i + 1], data) if arg == "-a" else (action, args[i + 1])
                i += 2
            elif arg in ("--es", "--esa", "--ei", "--ez", "--el", "--ef") and i + 2 < len(args):
                value = args[i + 2]
                extras[args[i + 1]] = [v for v in value.split(",") if v] if arg == "--esa" else value
                i += 3
            elif arg in ("-t", "-c", "--user") and i + 1 < len(args):
                i += 2
            else:
                i += 1
        if component is None or "/" not in component:
            ctx.err("Error: Activity not started, unable to resolve Intent (give -n package/.Activity)\n")
            return 1
        package, activity = component.split("/", 1)
        full = activity if not activity.startswith(".") else package + activity
        ctx.out(f"Starting: Intent {{ cmp={component}{' (has extras)' if extras else ''} }}\n")
        record = self.handset.packages.get(package)
        short = full[len(package):] if full.startswith(package + ".") else full
        if record is None or (record.activities and short not in record.activities and full not in record.activities):
            ctx.err(f"Error type 3\nError: Activity class {{{package}/{full}}} does not exist.\n")
            return 1
        started = time.perf_counter()
        state = "WARM"
        if f"{package}/{short}" == f"{APP_PACKAGE}/.GameLoopActivity":
            if action == game_loop.ACTION:  # Firebase Test Lab's game loop
                # an array extra (--esa) is no int: getIntExtra gives its default, as for no extra
                scenario = extras.get("scenario")
                loop = game_loop.prepare(self.handset, package, record.apk, scenario if isinstance(scenario, str) else None, data)
                if loop is not None:
                    state = self.app(package).launch(loop[0], then=loop[1])
        elif f"{package}/{short}" in EMULATED_ACTIVITIES:
            requests = extras.get("requests") or extras.get("request") or []
            requests = [requests] if isinstance(requests, str) else requests
            state = self.app(package).launch(requests)
        took = max(1, int((time.perf_counter() - started) * 1000))
        self.handset.log("I", "ActivityTaskManager", f"Displayed {package}/{short}: +{took}ms")
        if wait:
            ctx.out(f"Status: ok\nLaunchState: {state}\nActivity: {package}/{full}\nTotalTime: {took}\nWaitTime: {took + 2}\nComplete\n")
        return 0


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


class AppProcess:
    """The demo app's process: a worker started on the first launch and kept while cached."""

    def __init__(self, handset: Device, package: str):
        self.handset = handset
        self.package = package
        self.proc: subprocess.Popen[str] | None = None  # stdin, stdout and stderr are pipes (_spawn)
        self._work_lock = threading.Lock()  # one launch's requests at a time, in order
        self._state_lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition(self._state_lock)
        self._stopping = False

    @property
    def pid(self) -> int | None:
        proc = self.proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def memory_kb(self) -> tuple[int, int] | None:
        """(VmRSS, VmHWM) of the process, from /proc, like dumpsys meminfo's RSS figures; with its
        runtimes' processes (app.py), which hold what an app's native libraries hold in its own."""
        pid = self.pid
        if pid is None:
            return None
        total = None
        for one in [pid, *_children(pid)]:
            try:
                fields = dict(line.split(":", 1) for line in Path(f"/proc/{one}/status").read_text().splitlines() if ":" in line)
                rss, hwm = int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
            except (OSError, KeyError, ValueError):
                if one == pid:
                    return None
                continue
            total = (rss, hwm) if total is None else (total[0] + rss, total[1] + hwm)
        return total

    def launch(self, requests: list[str], then: Callable[[], None] | None = None) -> str:
        """Start (or reuse) the process and run the requests in the background, as an
        Activity runs after `am start` returns. Returns the launch state (COLD or WARM)."""
        with self._state_lock:
            self._stopping = False
            cold = self.pid is None
            if cold:
                self._spawn()
            self._pending += 1
        self.handset.spawn(self._run, list(requests), then, name=f"app-{self.package}")
        return "COLD" if cold else "WARM"

    def _spawn(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "packager.device.virtual.app"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=env,
        )
        pid = self.proc.pid
        self.handset.log("I", "ActivityManager", f"Start proc {pid}:{self.package}/u0a{self.handset.packages.uid(self.package) - 10000} "
                                                 f"for top-activity {{{self.package}/.BenchmarkActivity}}")
        self.handset.spawn(self._forward_stderr, self.proc, name=f"app-stderr-{pid}")

    def _forward_stderr(self, proc: subprocess.Popen[str]) -> None:
        """The worker's stderr goes to logcat, as an app's does: LiteRT's lines under `tflite`."""
        assert proc.stderr is not None  # started with stderr=PIPE
        try:
            for line in proc.stderr:
                line = line.rstrip()
                for prefix, level in (("INFO: ", "I"), ("WARNING: ", "W"), ("ERROR: ", "E")):
                    if line.startswith(prefix):
                        self.handset.log(level, "tflite", line[len(prefix):], pid=proc.pid)
                        break
                else:
                    if line:
                        self.handset.log("W", "System.err", line, pid=proc.pid)
        except (OSError, ValueError):  # closed under us by stop()
            pass
        finally:
            proc.stderr.close()

    def _run(self, requests: list[str], then: Callable[[], None] | None = None) -> None:
        try:
            with self._work_lock:
                for request in requests:
                    if not self._one(request):
                        break
                else:
                    if then is not None:
                        then()
        finally:
            with self._state_lock:
                self._pending -= 1
                self._idle.notify_all()

    def _one(self, request: str) -> bool:
        handset, faults = self.handset, self.handset.faults
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return False
        fault = None
        if faults.crash_app:
            fault = "crash"
            if faults.crash_once:
                faults.crash_app = False
        elif faults.missing_result:
            fault = "missing_result"
        job = {
            "root": str(handset.sandbox.root), "app_dir": handset.packages.data_dir(self.package),
            "device": handset.device_info(), "unavailable": sorted(set(NOT_ON_A_HOST) | set(faults.missing_accelerators)),
            "fault": fault, "request": request,
        }
        handset.log("I", LOG_TAG, f"BenchmarkActivity: request {request}", pid=proc.pid)
        assert proc.stdin is not None and proc.stdout is not None  # started with pipes
        try:
            proc.stdin.write(json.dumps(job) + "\n")
            proc.stdin.flush()
            reply = proc.stdout.readline()
        except (BrokenPipeError, OSError, ValueError):
            reply = ""
        if reply:
            for level, message in json.loads(reply).get("logs", []):
                handset.log(level, LOG_TAG, message, pid=proc.pid)
        if reply and fault != "crash":
            return True
        self._died(proc, fault == "crash")
        return False

    def _died(self, proc: subprocess.Popen[str], injected: bool) -> None:
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            assert stream is not None  # started with pipes
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        with self._state_lock:
            if self.proc is proc:
                self.proc = None
            if self._stopping:  # killed by force-stop or shutdown: not a crash
                return
        log, pid = self.handset.log, proc.pid
        if code < 0 and not injected:  # a real signal: what Android's debuggerd prints first
            name = signal.Signals(-code).name
            log("F", "libc", f"Fatal signal {-code} ({name}) in tid {pid} (main), pid {pid} ({self.package[-15:]})", pid=pid)
            log("F", "DEBUG", "*** *** *** *** *** *** *** *** *** *** *** *** *** *** *** ***", pid=pid)
            log("F", "DEBUG", f"pid: {pid}, tid: {pid}, name: main  >>> {self.package} <<<", pid=pid)
        else:
            log("E", "AndroidRuntime", "FATAL EXCEPTION: main", pid=pid)
            log("E", "AndroidRuntime", f"Process: {self.package}, PID: {pid}", pid=pid)
            log("E", "AndroidRuntime", "java.lang.IllegalStateException: LiteRT interpreter failed to run the benchmark request", pid=pid)
            log("E", "AndroidRuntime", f"\tat {self.package}.BenchmarkActivity.runRequests(BenchmarkActivity.kt:88)", pid=pid)
            log("E", "AndroidRuntime", f"\tat {self.package}.BenchmarkActivity.onCreate(BenchmarkActivity.kt:41)", pid=pid)
            log("E", "AndroidRuntime", "\tat android.app.Activity.performCreate(Activity.java:8595)", pid=pid)
        log("I", "ActivityManager", f"Process {self.package} (pid {pid}) has died: fg  TOP ", pid=1000)

    def wait_idle(self, timeout: float) -> bool:
        with self._state_lock:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def stop(self, reason: str) -> None:
        with self._state_lock:
            self._stopping = True
            proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
            if reason == "force-stop":
                self.handset.log("I", "ActivityManager", f"Force stopping {self.package} appid={self.handset.packages.uid(self.package)} user=0: from pid 0")
                self.handset.log("I", "ActivityManager", f"Killing {proc.pid}:{self.package}/u0a{self.handset.packages.uid(self.package) - 10000} (adj 0): stop {self.package} due to from pid 0")
        for stream in (proc.stdin, proc.stdout) if proc is not None else ():  # stderr: its reader closes it
            assert stream is not None  # started with pipes
            try:
                stream.close()
            except (OSError, ValueError):
                pass
