"""Remove what the kit keeps on a handset between runs.

Models and golden inputs stay on the device, content-addressed (`<sha256>.<ext>`), in the shell's
staging folder and in the demo app's own folder, so that a second run with unchanged bundles
transfers nothing. `clean` frees that space when it is no longer wanted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from packager.device.contract import APP_PACKAGE, APP_WORK_DIR, STAGING_DIR
from packager.device.handset import Handset, quote
from packager.errors import PackagerError


@dataclass(frozen=True)
class Cleanup:
    serial: str
    staged_files: int
    staged_bytes: int
    app_files: int  # 0 when the app is absent or not debuggable
    app_bytes: int

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)


def _files_and_bytes(handset: Handset, folder: str, run_as: str | None = None) -> tuple[int, int]:
    """Regular files in `folder` and `folder`/blobs (the kit's layout) and their total size."""
    # globs stay unquoted on purpose: the device's shell expands them; an empty folder leaves the
    # pattern as it is, which stat reports as missing (ignored)
    script = f"stat -c '%s %F' {quote(folder)}/* {quote(folder)}/blobs/* 2>/dev/null; true"
    command = quote("run-as", run_as, "sh", "-c", script) if run_as else script
    sizes = []
    for line in handset.run(command, check=False).output.splitlines():
        size, _, kind = line.strip().partition(" ")
        if size.isdigit() and kind.startswith("regular"):
            sizes.append(int(size))
    return len(sizes), sum(sizes)


def clean(handset: Handset, package: str = APP_PACKAGE) -> Cleanup:
    """Delete the kit's staging folder and the app's copy of models and inputs."""
    staged_files, staged_bytes = _files_and_bytes(handset, STAGING_DIR)
    handset.run(quote("rm", "-rf", STAGING_DIR), check=False)
    app_files = app_bytes = 0
    if handset.is_installed(package):
        app_files, app_bytes = _files_and_bytes(handset, APP_WORK_DIR, run_as=package)
        handset.run(quote("run-as", package, "rm", "-rf", APP_WORK_DIR), check=False)
    if handset.exists(STAGING_DIR):
        raise PackagerError(f"could not remove {STAGING_DIR} on {handset.serial}", f"remove it by hand: adb -s {handset.serial} shell rm -rf {STAGING_DIR}")
    return Cleanup(handset.serial, staged_files, staged_bytes, app_files, app_bytes)
