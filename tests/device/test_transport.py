"""Transports: the user's own ADB key, USB through the wheel's libusb, and every way of not reaching
a handset as one clear line. (Key creation with 0600: test_kit.py.)"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading

import pytest

from packager.device import transport
from packager.errors import PackagerError


def test_an_existing_adbkey_is_used_as_it_is(tmp_path, monkeypatch):
    from adb_shell.auth.keygen import keygen

    home = tmp_path / ".android"
    home.mkdir()
    keygen(str(home / "adbkey"))  # as the adb tool leaves it
    before = (home / "adbkey").read_bytes()
    monkeypatch.delenv("ANDROID_USER_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert transport.adb_key_path() == home / "adbkey" and (home / "adbkey").read_bytes() == before
    assert transport.load_signer().GetPublicKey().split()[0] == (home / "adbkey.pub").read_text().split()[0]


def _listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server, f"127.0.0.1:{server.getsockname()[1]}"


def test_nobody_listening():
    server, address = _listener()
    server.close()
    with pytest.raises(PackagerError) as error:
        transport.DirectTransport(address)
    assert re.fullmatch(r"cannot reach 127\.0\.0\.1:\d+ \(Connection refused\); check the address .*\.", error.value.one_line())


def test_something_that_is_not_adb():
    server, address = _listener()

    def answer_http():
        conn, _ = server.accept()
        conn.recv(1024)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + bytes(32))
        conn.close()

    threading.Thread(target=answer_http, daemon=True).start()
    with pytest.raises(PackagerError) as error:
        transport.DirectTransport(address)
    assert "is not an ADB device" in error.value.one_line() and "check the port" in error.value.one_line()
    server.close()


def test_an_endpoint_that_never_answers():
    server, address = _listener()  # accepts (the kernel does), never speaks
    with pytest.raises(PackagerError, match="does not answer ADB") as error:
        transport.DirectTransport(address, transport_timeout_s=0.5)
    assert "unauthorized" not in str(error.value)
    server.close()


def test_usb_goes_through_the_wheels_libusb():
    """Direct USB in a fresh interpreter: libusb comes from libusb-package (no system library
    needed), the bus is scanned, and an absent phone is a clear error."""
    code = (
        "import usb1._libusb1 as L, libusb_package\n"
        "from packager.device.transport import DirectTransport\n"
        "from packager.errors import PackagerError\n"
        "try:\n    DirectTransport('NOSUCHSERIAL0')\n"
        "except PackagerError as e:\n    print(e.one_line())\n"
        "print(L.libusb._name == str(libusb_package.get_library_path()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    message, same_library = out.stdout.strip().splitlines()
    assert message.startswith("no USB device NOSUCHSERIAL0 with USB debugging found; plug the phone in")
    assert same_library == "True"


def test_choosing_a_transport(monkeypatch, adb, virtual_handset):
    # no adb server: a serial is a USB phone reached directly, a host:port a TCP one
    monkeypatch.setenv("ADB_SERVER_SOCKET", "tcp:127.0.0.1:1")
    with pytest.raises(PackagerError, match="no USB device R5CT12345"):
        transport.open_transport("R5CT12345")
    with pytest.raises(PackagerError, match="no adb server is running to reach R5CT12345"):
        transport.open_transport("R5CT12345", prefer="server")
    assert transport.list_devices() == []  # and no USB phones here
    direct = transport.open_transport(virtual_handset.address)
    assert isinstance(direct, transport.DirectTransport)
    direct.close()
    # a running adb server that does not hold the serial: say so, and what it does hold
    monkeypatch.setenv("ADB_SERVER_SOCKET", f"tcp:127.0.0.1:{adb.port}")
    with pytest.raises(PackagerError) as error:
        transport.open_transport("R5CT12345")
    assert error.value.one_line().startswith("device R5CT12345 is not attached to the adb server; attached: none")


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_damaged_adb_key_is_one_line(damage, isolated_android_home, tmp_path, monkeypatch):
    """An empty or cut ~/.android/adbkey: a PackagerError naming the file, not a PEM ValueError."""
    from packager.device.transport import adb_key_path, load_signer

    monkeypatch.setenv("ANDROID_USER_HOME", str(tmp_path))
    good = adb_key_path().read_text()
    (tmp_path / "adbkey.pub").unlink()
    key = tmp_path / "adbkey"
    key.write_text({"empty": "", "truncated": good[: len(good) // 2], "garbage": "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n"}[damage])
    with pytest.raises(PackagerError) as err:
        load_signer()
    assert str(key) in err.value.one_line() and "damaged" in err.value.one_line()


def test_ipv6_address(tmp_path):
    """`[::1]:PORT` reaches a handset listening on IPv6 loopback."""
    from packager.device.transport import DirectTransport
    from packager.device.virtual import VirtualHandset

    with VirtualHandset(root=tmp_path / "device", host="::1") as handset:
        assert handset.address.startswith("[::1]:")
        transport = DirectTransport(handset.address)
        try:
            assert transport.shell("echo hello").output.strip() == "hello"
        finally:
            transport.close()


def test_bench_result_timeout_option(digits_bundle, tmp_path):
    """`device bench --result-timeout` bounds the wait for a result the app never writes (was a fixed 180 s)."""
    import time

    from click.testing import CliRunner

    from packager.cli import main
    from packager.device.virtual import VirtualHandset
    from packager.device.virtual.handset import Faults

    with VirtualHandset(root=tmp_path / "device", faults=Faults(missing_result=True)) as handset:
        start = time.monotonic()
        result = CliRunner().invoke(main, ["device", "bench", str(digits_bundle), "-d", handset.address, "-a", "cpu",
                                           "--runs", "1", "--warmup", "0", "--result-timeout", "2"], catch_exceptions=False)
        elapsed = time.monotonic() - start
    assert result.exit_code == 2, result.output
    assert "within 2 s" in result.stderr and "Traceback" not in result.output
    assert elapsed < 60, elapsed
