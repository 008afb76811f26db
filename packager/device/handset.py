"""One API for a handset, over any transport: properties, quoted shell, files, packages, logs.

Every argument that reaches the device shell is quoted (a model named `x; rm -rf /` is a file
name, never a command). Pushes are atomic (temporary name, then `mv`) and skip files whose
sha256 already matches on the device, so unchanged bundles cost no transfer.
"""

from __future__ import annotations

import posixpath
import shlex
import tempfile
import uuid
from pathlib import Path

from packager.device.contract import STAGING_DIR
from packager.device.transport import DeviceLost, ShellResult, Transport, open_transport
from packager.errors import PackagerError
from packager.fileio import sha256_file
from packager.manifest import DeviceProps

TEMP_SUFFIX = ".packager-partial"


def quote(*argv: str) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


class Handset:
    def __init__(self, transport: Transport):
        self.transport = transport
        self._props: DeviceProps | None = None
        self.bytes_pushed = 0
        self.bytes_skipped = 0

    @classmethod
    def open(cls, target: str, prefer: str = "auto", auth_timeout_s: float = 10.0) -> Handset:
        return cls(open_transport(target, prefer, auth_timeout_s=auth_timeout_s))

    @property
    def serial(self) -> str:
        return self.transport.serial

    def close(self) -> None:
        self.transport.close()

    # --- shell --------------------------------------------------------------------------------
    def run(self, command_line: str, check: bool = True, timeout: float = 60.0) -> ShellResult:
        """A command line already built with quote(); check=True raises on a non-zero exit."""
        result = self.transport.shell(command_line, timeout=timeout)
        if check and result.exit_code != 0:
            first = command_line.split(" ", 1)[0]
            raise PackagerError(f"`{first}` failed on {self.serial} (exit {result.exit_code}): {result.output.strip()[:300]}",
                                "see the device's message above")
        return result

    def shell(self, *argv: str, check: bool = True, timeout: float = 60.0) -> str:
        """Run one command with every argument quoted; returns its output."""
        return self.run(quote(*argv), check=check, timeout=timeout).output

    def props(self) -> DeviceProps:
        if self._props is None:
            raw = self.shell("getprop")
            values = {}
            for line in raw.splitlines():
                key, _, value = line.partition("]: [")
                values[key.lstrip("[")] = value.rstrip("]")
            sdk = values.get("ro.build.version.sdk", "0")
            self._props = DeviceProps(
                serial=self.serial,
                manufacturer=values.get("ro.product.manufacturer", "unknown"),
                model=values.get("ro.product.model", "unknown"),
                soc=values.get("ro.soc.model") or values.get("ro.board.platform") or values.get("ro.hardware") or None,
                abi=values.get("ro.product.cpu.abi", "unknown"),
                sdk=int(sdk) if sdk.isdigit() else 0,
                android_version=values.get("ro.build.version.release", "unknown"),
                virtual=values.get("ro.boot.virtual_handset") == "1",
            )
        return self._props

    # --- files --------------------------------------------------------------------------------
    def sha256(self, remote: str) -> str | None:
        result = self.run(quote("sha256sum", remote) + " 2>/dev/null", check=False)
        if result.exit_code != 0 or not result.output.strip():
            return None
        return result.output.split()[0]

    def push(self, local: Path, remote: str) -> int:
        """Push atomically: to a temporary name, then `mv`; a failure leaves no partial file."""
        local = Path(local)
        tmp = f"{remote}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}"
        self.shell("mkdir", "-p", posixpath.dirname(remote))
        try:
            self.transport.push(local, tmp)
            self.shell("mv", "-f", tmp, remote)
        except DeviceLost:
            self._forget_partial(tmp)
            raise
        except PackagerError:
            self._forget_partial(tmp)
            raise
        size = local.stat().st_size
        self.bytes_pushed += size
        return size

    def _forget_partial(self, tmp: str) -> None:
        try:  # the connection may be gone; a later clean_partials() catches what this misses
            self.run(quote("rm", "-f", tmp), check=False, timeout=10)
        except PackagerError:
            pass

    def sha256_many(self, remotes: list[str]) -> dict[str, str]:
        """sha256 of several device files in one `sha256sum` call; missing files are left out."""
        digests: dict[str, str] = {}
        for start in range(0, len(remotes), 64):  # keeps each command line short
            batch = remotes[start:start + 64]
            output = self.run(quote("sha256sum", *batch) + " 2>/dev/null", check=False).output
            for line in output.splitlines():
                digest, _, path = line.partition("  ")
                if len(digest) == 64 and path in batch:
                    digests[path] = digest
        return digests

    def push_if_changed(self, local: Path, remote: str) -> int:
        """Push unless the device already has the same bytes (sha256 on both sides); bytes sent."""
        return self.push_many_if_changed([(Path(local), remote)])

    def push_many_if_changed(self, pairs: list[tuple[Path, str]]) -> int:
        """push_if_changed for several files, asking the device for all their sha256 at once."""
        on_device = self.sha256_many(list(dict.fromkeys(remote for _, remote in pairs)))
        sent = 0
        for local, remote in pairs:
            digest = sha256_file(local)
            if on_device.get(remote) == digest:  # (also a second file with the same bytes and name)
                self.bytes_skipped += Path(local).stat().st_size
            else:
                sent += self.push(Path(local), remote)
                on_device[remote] = digest
        return sent

    def clean_partials(self, folder: str = STAGING_DIR) -> None:
        """Remove temporary files an interrupted push may have left (a retry calls this first)."""
        listing = self.run(quote("ls", folder) + " 2>/dev/null", check=False).output.split()
        stale = [posixpath.join(folder, name) for name in listing if name.endswith(TEMP_SUFFIX)]
        if stale:
            self.shell("rm", "-f", *stale)

    def pull(self, remote: str, local: Path) -> Path:
        self.transport.pull(remote, Path(local))
        return Path(local)

    def read_tail(self, remote: str, nbytes: int) -> bytes:
        """The last `nbytes` bytes of a device file (`tail -c`, staged, then pulled: binary-safe)."""
        staged = f"{STAGING_DIR}/tail-{uuid.uuid4().hex[:8]}"
        self.run(quote("mkdir", "-p", STAGING_DIR) + " && " + quote("tail", "-c", str(nbytes), remote) + " > " + quote(staged))
        try:
            with tempfile.TemporaryDirectory() as tmp:
                return self.pull(staged, Path(tmp) / "tail").read_bytes()
        finally:
            self.run(quote("rm", "-f", staged), check=False)

    def file_sizes(self, *remotes: str) -> list[int]:
        """Sizes in bytes of device files (`stat -c %s`, one command for all)."""
        output = self.shell("stat", "-c", "%s", *remotes).split()
        if len(output) != len(remotes) or not all(o.isdigit() for o in output):
            raise PackagerError(f"unexpected `stat` output on {self.serial}: {' '.join(output)[:120]}", "report this device's model")
        return [int(o) for o in output]

    def exists(self, remote: str) -> bool:
        return self.run(quote("test", "-e", remote), check=False).exit_code == 0

    # --- packages -----------------------------------------------------------------------------
    def apk_paths(self, package: str) -> list[str]:
        result = self.run(quote("pm", "path", package), check=False)
        return [line.split(":", 1)[1] for line in result.output.splitlines() if line.startswith("package:")]

    def is_installed(self, package: str) -> bool:
        return bool(self.apk_paths(package))

    def install(self, apk: Path, replace: bool = True) -> None:
        remote = f"{STAGING_DIR}/{Path(apk).name}"
        self.push(Path(apk), remote)
        output = self.shell("pm", "install", *(["-r"] if replace else []), remote, check=False)
        self.shell("rm", "-f", remote, check=False)
        if "Success" not in output:
            raise PackagerError(f"installing {Path(apk).name} on {self.serial} failed: {output.strip()[:200]}",
                                "check the APK is built for this device's ABI and SDK")

    def uninstall(self, package: str) -> bool:
        return "Success" in self.shell("pm", "uninstall", package, check=False)

    def installed_apk_bytes(self, package: str) -> int | None:
        """Size of the installed APK(s) on the device (`pm path` + `stat`)."""
        paths = self.apk_paths(package)
        return sum(self.file_sizes(*paths)) if paths else None

    # --- apps ---------------------------------------------------------------------------------
    def run_as(self, package: str, *argv: str, check: bool = True) -> str:
        """Run a command as a debuggable app, in its data folder."""
        result = self.run(quote("run-as", package, *argv), check=False)
        if check and result.exit_code != 0:
            text = result.output.strip()
            if "not debuggable" in text or "unknown package" in text:
                raise PackagerError(f"run-as {package} failed on {self.serial}: {text[:200]}",
                                    "install a debuggable build of the app (the debug APK)")
            raise PackagerError(f"`{argv[0] if argv else 'run-as'}` as {package} failed on {self.serial}: {text[:200]}",
                                "see the device's message above")
        return result.output

    def push_to_app(self, package: str, local: Path, app_path: str) -> None:
        """Copy a file into a debuggable app's private folder (apps cannot read /data/local/tmp
        on Android 10+): push it to the staging folder, then `run-as <package> cp` it in."""
        staged = f"{STAGING_DIR}/to-app-{uuid.uuid4().hex[:8]}{Path(local).suffix}"
        self.push(Path(local), staged)
        try:
            self.run_as(package, "mkdir", "-p", posixpath.dirname(app_path) or ".")
            self.run_as(package, "cp", staged, app_path)
        finally:
            self.run(quote("rm", "-f", staged), check=False)

    def pull_from_app(self, package: str, app_path: str, local: Path) -> Path:
        """Copy a file out of a debuggable app's private folder: `run-as <package> cat` into the
        staging folder (the shell user writes there), then pull it."""
        staged = f"{STAGING_DIR}/from-app-{uuid.uuid4().hex[:8]}"
        self.shell("mkdir", "-p", STAGING_DIR)
        try:
            result = self.run(quote("run-as", package, "cat", app_path) + " > " + quote(staged), check=False)
            if result.exit_code != 0:
                raise PackagerError(f"cannot read {app_path} as {package} on {self.serial}: {result.output.strip()[:200]}",
                                    "check the path and that the app is a debuggable build")
            return self.pull(staged, Path(local))
        finally:
            self.run(quote("rm", "-f", staged), check=False)

    def app_running(self, package: str) -> bool:
        return self.run(quote("pidof", package), check=False).exit_code == 0

    def logcat_tail(self, lines: int = 40, tags: list[str] | None = None) -> str:
        spec = ["-s", *tags] if tags else []
        return self.shell("logcat", "-d", "-t", str(lines), *spec, check=False)
