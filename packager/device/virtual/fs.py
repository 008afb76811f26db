"""The virtual handset's file system: device paths mapped into one host folder.

Device path /a/b is <root>/a/b. Nothing can leave the root: paths are normalized ('..' stops at
/) and symlinks are resolved before the rules are checked, so a link cannot point a way out or
around a rule. The Android rules that matter to a harness are kept, because a harness that
breaks them works here and fails on a phone:

- aliases: /data/data/<pkg> is /data/user/0/<pkg>; /sdcard, /storage/emulated/0 and
  /storage/self/primary are one folder;
- an app's private folder /data/user/0/<pkg> is readable and writable only by that app (through
  `run-as <pkg>`) and root;
- the shell user writes only under /data/local/tmp and /sdcard; an app user only in its own
  folder; everything else is read-only for them (installed APKs are written by the package
  manager, as root).
"""

from __future__ import annotations

import os
import posixpath
import stat as stat_module
from pathlib import Path

APP_DATA = "/data/user/0"
ALIASES = (("/data/data", APP_DATA), ("/storage/emulated/0", "/sdcard"), ("/storage/self/primary", "/sdcard"),
           ("/mnt/sdcard", "/sdcard"))
SHELL_WRITABLE = ("/data/local/tmp", "/sdcard")
SKELETON = ("data/local/tmp", "data/user/0", "data/app", "sdcard", "system/bin", "vendor/lib64")


class AccessDenied(PermissionError):
    """A rule of the device refused the access (errno EACCES, like the kernel or SELinux would)."""

    def __init__(self, device_path: str):
        super().__init__(13, "Permission denied", device_path)


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def app_of(path: str) -> str | None:
    """The package whose private folder holds `path`, if any."""
    if _under(path, APP_DATA) and path != APP_DATA:
        return path[len(APP_DATA) + 1 :].split("/", 1)[0]
    return None


class Sandbox:
    """Device paths -> host paths under `root`, with Android's access rules."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        for folder in SKELETON:
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    @staticmethod
    def canonical(path: str, cwd: str = "/") -> str:
        """Absolute, normalized, aliases resolved ('..' above / stays at /)."""
        if not path.startswith("/"):
            path = posixpath.join(cwd or "/", path)
        path = "/" + posixpath.normpath("/" + path).lstrip("/")
        for alias, target in ALIASES:
            if _under(path, alias):
                return target + path[len(alias) :]
        return path

    def may_write(self, path: str, user: str) -> bool:
        if user == "root":
            return True
        owner = app_of(path)
        if owner is not None:
            return owner == user
        return user == "shell" and any(_under(path, folder) and path != folder for folder in SHELL_WRITABLE)

    def may_read(self, path: str, user: str) -> bool:
        owner = app_of(path)
        return owner is None or user in ("root", owner)

    def host(self, device_path: str, cwd: str = "/", user: str = "shell", write: bool = False) -> Path:
        """The host path of `device_path` for `user`; AccessDenied when a rule forbids it."""
        path = self.canonical(device_path, cwd)
        host = (self.root / path.lstrip("/")).resolve()  # follows symlinks, so the rules see the real target
        if host != self.root and self.root not in host.parents:
            raise AccessDenied(device_path)
        real = self.device(host)
        for checked in {path, real}:
            if not self.may_read(checked, user) or (write and not self.may_write(checked, user)):
                raise AccessDenied(device_path)
        return host

    def device(self, host: Path) -> str:
        """The device path of a host path inside the sandbox."""
        relative = Path(os.path.abspath(host)).relative_to(self.root).as_posix()
        return "/" if relative == "." else "/" + relative


def file_mode(path: Path) -> int:
    """st_mode as the device reports it (the host's bits for files and folders)."""
    st = path.stat()
    return st.st_mode if stat_module.S_ISDIR(st.st_mode) else stat_module.S_IFREG | stat_module.S_IMODE(st.st_mode)


def set_mode(path: Path, mode: int) -> None:
    """chmod on the host, keeping the owner's rw (rwx for folders) so the sandbox stays removable."""
    keep = 0o700 if path.is_dir() else 0o600
    os.chmod(path, (mode & 0o7777) | keep)
