"""Fixtures for the device kit's tests: virtual handsets, an isolated ADB key, a private adb server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from packager.device.virtual import VirtualHandset


@pytest.fixture(autouse=True)
def isolated_android_home(tmp_path_factory, monkeypatch):
    """Never touch the user's ~/.android: a per-session key folder for adb-shell and adb."""
    home = tmp_path_factory.getbasetemp() / "android-home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("ANDROID_USER_HOME", str(home))
    return home


@pytest.fixture()
def virtual_handset(tmp_path):
    with VirtualHandset(root=tmp_path / "device") as handset:
        yield handset


@pytest.fixture(scope="session")
def adb_signer(tmp_path_factory):
    """An ADB RSA key pair as adb-shell uses it, made once per session."""
    from adb_shell.auth.keygen import keygen
    from adb_shell.auth.sign_pythonrsa import PythonRSASigner

    folder = tmp_path_factory.mktemp("adb-key")
    keygen(str(folder / "adbkey"))
    return PythonRSASigner((folder / "adbkey.pub").read_text(), (folder / "adbkey").read_text())


@pytest.fixture()
def adb_device(virtual_handset, adb_signer):
    """adb-shell's AdbDeviceTcp, authenticated, on the virtual handset (no kit code involved)."""
    from adb_shell.adb_device import AdbDeviceTcp

    device = AdbDeviceTcp("127.0.0.1", virtual_handset.port, default_transport_timeout_s=10)
    assert device.connect(rsa_keys=[adb_signer], auth_timeout_s=5)
    yield device
    device.close()


@pytest.fixture()
def kit_handset(virtual_handset):
    """The kit's Handset on the virtual handset, over direct ADB (adb-shell)."""
    from packager.device.handset import Handset

    handset = Handset.open(virtual_handset.address, prefer="direct")
    yield handset
    handset.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AdbCli:
    """The Debian `adb` client with its own server port and HOME."""

    def __init__(self, home: Path, port: int):
        self.env = {**os.environ, "HOME": str(home), "ANDROID_USER_HOME": str(home / ".android"), "ADB_SERVER_SOCKET": f"tcp:127.0.0.1:{port}"}
        self.port = port

    def __call__(self, *args: str, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess:
        proc = subprocess.run(["adb", "-P", str(self.port), *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"adb {' '.join(args)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
        return proc


@pytest.fixture()
def adb(tmp_path, monkeypatch):
    """A private adb server (own port, own HOME); the kit's ServerTransport finds it too."""
    assert shutil.which("adb"), "the Debian adb client is installed by scripts/setup.sh"
    home = tmp_path / "adb-home"
    (home / ".android").mkdir(parents=True)
    cli = AdbCli(home, _free_port())
    cli("start-server", check=True)
    monkeypatch.setenv("ADB_SERVER_SOCKET", f"tcp:127.0.0.1:{cli.port}")
    monkeypatch.setenv("ANDROID_USER_HOME", str(home / ".android"))
    yield cli
    cli("kill-server")
