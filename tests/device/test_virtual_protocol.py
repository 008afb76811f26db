"""The virtual handset speaks ADB as a phone does: proven with peers nobody here wrote (the Debian
`adb` client through its own server, and adb-shell), without any of the kit's code."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import threading
import time
import zipfile

import pytest

from packager.device.virtual import VirtualHandset


def _wait_for_state(adb, address: str, state: str, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if f"{address}\t{state}" in adb("devices").stdout:
            return
        time.sleep(0.1)
    raise AssertionError(f"{address} never became {state!r}: {adb('devices').stdout}")


def _connect(adb, handset) -> list[str]:
    adb("connect", handset.address)
    _wait_for_state(adb, handset.address, "device")
    return ["-s", handset.address]


def test_adb_client_shell_push_pull(adb, virtual_handset, tmp_path):
    s = _connect(adb, virtual_handset)
    devices = adb("devices", "-l").stdout
    assert "model:Virtual_Handset" in devices and "product:virtual_handset" in devices and "device:vhandset" in devices
    out = adb(*s, "shell", "echo hello && getprop ro.build.version.sdk")
    assert (out.returncode, out.stdout.split()) == (0, ["hello", "34"])
    failed = adb(*s, "shell", "ls /no/such/dir")  # shell v2: the exit code and stderr come through
    assert failed.returncode == 1 and failed.stdout == "" and "No such file or directory" in failed.stderr
    missing = adb(*s, "shell", "frobnicate")
    assert missing.returncode == 127 and "frobnicate: inaccessible or not found" in missing.stderr
    # push: deep folders are created, the content arrives intact, nothing else is left behind
    payload = os.urandom(700_000)
    (tmp_path / "blob.bin").write_bytes(payload)
    adb(*s, "push", str(tmp_path / "blob.bin"), "/data/local/tmp/deep/dir/blob.bin", check=True)
    assert adb(*s, "shell", "sha256sum /data/local/tmp/deep/dir/blob.bin").stdout.split()[0] == hashlib.sha256(payload).hexdigest()
    assert adb(*s, "shell", "ls /data/local/tmp/deep/dir").stdout.split() == ["blob.bin"]
    assert virtual_handset.bytes_received == len(payload)
    # pull, and exec-out: binary-safe both ways
    adb(*s, "pull", "/data/local/tmp/deep/dir/blob.bin", str(tmp_path / "back.bin"), check=True)
    assert (tmp_path / "back.bin").read_bytes() == payload
    raw = subprocess.run(["adb", "-P", str(adb.port), *s, "exec-out", "cat /data/local/tmp/deep/dir/blob.bin"],
                         capture_output=True, env=adb.env, timeout=30)
    assert raw.stdout == payload
    # a whole folder (LIST / ls_v2 and stat_v2 under the hood)
    adb(*s, "pull", "/data/local/tmp/deep", str(tmp_path / "copy"), check=True)
    assert (tmp_path / "copy" / "dir" / "blob.bin").read_bytes() == payload


def test_adb_client_shell_stdin(adb, virtual_handset):
    s = _connect(adb, virtual_handset)
    fed = subprocess.run(["adb", "-P", str(adb.port), *s, "shell", "cat > /data/local/tmp/in.txt && wc -c /data/local/tmp/in.txt"],
                         input=b"typed into adb\n", capture_output=True, env=adb.env, timeout=30)
    assert fed.returncode == 0 and fed.stdout.split() == [b"15"]
    assert (virtual_handset.root / "data/local/tmp/in.txt").read_bytes() == b"typed into adb\n"


def _apk(path, package: str) -> None:
    with zipfile.ZipFile(path, "w") as apk:
        apk.writestr("AndroidManifest.xml", f'<manifest xmlns:android="http://schemas.android.com/apk/res/android" '
                                            f'package="{package}"><application android:debuggable="true"/></manifest>')
        apk.writestr("classes.dex", b"dex\n035\0" + bytes(2048))


def test_adb_client_install(adb, virtual_handset, tmp_path):
    s = _connect(adb, virtual_handset)
    _apk(tmp_path / "hello.apk", "com.example.hello")
    installed = adb(*s, "install", str(tmp_path / "hello.apk"))  # streamed: exec:cmd package install -S
    assert installed.returncode == 0 and "Success" in installed.stdout, installed.stdout + installed.stderr
    assert "com.example.hello" in virtual_handset.installed_packages
    again = adb(*s, "install", str(tmp_path / "hello.apk"))  # replacing is the default on Android 7+
    assert again.returncode == 0 and "Success" in again.stdout
    path = adb(*s, "shell", "pm path com.example.hello").stdout.strip()
    assert path.startswith("package:/data/app/") and path.endswith("/base.apk")
    pulled = tmp_path / "pulled.apk"
    adb(*s, "pull", path[len("package:"):], str(pulled), check=True)
    assert pulled.read_bytes() == (tmp_path / "hello.apk").read_bytes()
    assert adb(*s, "shell", "run-as com.example.hello id").stdout.startswith("uid=")
    (tmp_path / "broken.apk").write_bytes(b"not a zip")
    broken = adb(*s, "install", str(tmp_path / "broken.apk"))
    assert broken.returncode != 0 and "INSTALL_PARSE_FAILED_NOT_APK" in broken.stdout + broken.stderr
    assert adb(*s, "uninstall", "com.example.hello").stdout.strip() == "Success"


def test_adb_client_unauthorized_until_allowed(adb, virtual_handset):
    virtual_handset.faults.unauthorized = True
    adb("connect", virtual_handset.address)
    _wait_for_state(adb, virtual_handset.address, "unauthorized")
    refused = adb("-s", virtual_handset.address, "shell", "echo hi")
    assert refused.returncode != 0 and "unauthorized" in refused.stderr
    virtual_handset.faults.unauthorized = False  # the user finally taps "allow"
    _wait_for_state(adb, virtual_handset.address, "device")
    assert adb("-s", virtual_handset.address, "shell", "echo hi").stdout == "hi\n"


def test_push_where_the_shell_user_cannot_write(adb, virtual_handset, tmp_path):
    s = _connect(adb, virtual_handset)
    (tmp_path / "x").write_bytes(b"x" * 10)
    refused = adb(*s, "push", str(tmp_path / "x"), "/system/bin/x")
    assert refused.returncode != 0 and "remote couldn't create file: Permission denied" in refused.stdout + refused.stderr
    assert not (virtual_handset.root / "system/bin/x").exists()
    assert adb(*s, "shell", "echo still fine").stdout == "still fine\n"


def test_concurrent_streams_and_connections(adb, virtual_handset, adb_device):
    """Four `adb shell sleep 1` at once share one connection (the adb server's), each on its own
    stream, while adb-shell holds a second connection: all in about one second."""
    s = _connect(adb, virtual_handset)
    results = []

    def one(i: int) -> None:
        results.append(adb(*s, "shell", f"sleep 1; echo done{i}").stdout.strip())

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    assert adb_device.shell("echo from adb-shell") == "from adb-shell\n"
    for thread in threads:
        thread.join()
    assert sorted(results) == [f"done{i}" for i in range(4)]
    assert time.perf_counter() - started < 3.5
    assert len(virtual_handset.connections) == 2


def test_adb_shell_library_with_auth(virtual_handset, adb_signer, tmp_path):
    from adb_shell.adb_device import AdbDeviceTcp

    device = AdbDeviceTcp("127.0.0.1", virtual_handset.port, default_transport_timeout_s=10)
    assert device.connect(rsa_keys=[adb_signer], auth_timeout_s=5)
    assert device.shell("echo '$((1+1))' ok; id").startswith("$((1+1)) ok\nuid=2000(shell)")  # quoting intact
    (tmp_path / "a.txt").write_bytes(b"x" * 100_000)
    device.push(str(tmp_path / "a.txt"), "/sdcard/a.txt")
    assert device.stat("/sdcard/a.txt")[1] == 100_000
    device.pull("/sdcard/a.txt", str(tmp_path / "b.txt"))
    assert (tmp_path / "b.txt").read_bytes() == b"x" * 100_000
    assert [e.filename for e in device.list("/sdcard") if e.filename not in (b".", b"..")] == [b"a.txt"]
    device.close()
    # the key is now known: a second connection gets in on its signature alone
    again = AdbDeviceTcp("127.0.0.1", virtual_handset.port, default_transport_timeout_s=10)
    assert again.connect(rsa_keys=[adb_signer], auth_timeout_s=5)
    again.close()
    assert len(virtual_handset.accepted_keys()) == 1


def test_a_wrong_signature_is_not_accepted(virtual_handset, tmp_path):
    """The token's signature is really verified: a key that signs wrongly never gets in."""
    from adb_shell.adb_device import AdbDeviceTcp
    from adb_shell.auth.keygen import keygen
    from adb_shell.auth.sign_pythonrsa import PythonRSASigner

    keygen(str(tmp_path / "key"))
    keygen(str(tmp_path / "other"))
    good = PythonRSASigner((tmp_path / "key.pub").read_text(), (tmp_path / "key").read_text())
    device = AdbDeviceTcp("127.0.0.1", virtual_handset.port, default_transport_timeout_s=5)
    assert device.connect(rsa_keys=[good], auth_timeout_s=5)
    device.close()
    # the accepted public key, paired with another private key: the signature cannot verify
    liar = PythonRSASigner((tmp_path / "key.pub").read_text(), (tmp_path / "other").read_text())
    virtual_handset.faults.unauthorized = True  # and the "user" will not accept a new key either
    intruder = AdbDeviceTcp("127.0.0.1", virtual_handset.port, default_transport_timeout_s=3)
    with pytest.raises(Exception):
        intruder.connect(rsa_keys=[liar], auth_timeout_s=1)


def test_a_handset_without_adb_secure_needs_no_key(tmp_path):
    from adb_shell.adb_device import AdbDeviceTcp

    with VirtualHandset(root=tmp_path / "device", require_auth=False, serial="EMU0001") as handset:
        device = AdbDeviceTcp("127.0.0.1", handset.port, default_transport_timeout_s=5)
        assert device.connect(rsa_keys=None, auth_timeout_s=1)  # no AUTH exchange at all
        assert device.shell("getprop ro.adb.secure; getprop ro.serialno") == "0\nEMU0001\n"
        device.close()


def test_adb_shell_unauthorized_waits_like_a_phone(virtual_handset, adb_signer):
    """Like a phone whose user never taps "allow": no CNXN, so adb-shell times out waiting."""
    from adb_shell.adb_device import AdbDeviceTcp
    from adb_shell.exceptions import TcpTimeoutException

    virtual_handset.faults.unauthorized = True
    device = AdbDeviceTcp("127.0.0.1", virtual_handset.port, default_transport_timeout_s=3)
    started = time.perf_counter()
    with pytest.raises(TcpTimeoutException):
        device.connect(rsa_keys=[adb_signer], auth_timeout_s=1)
    assert time.perf_counter() - started < 5
    assert virtual_handset.accepted_keys() == []
    assert any("waiting for the user to allow USB debugging" in line for line in virtual_handset.logcat.lines({"adbd"}))


def test_stop_releases_the_port_and_every_thread(tmp_path, adb_signer):
    from adb_shell.adb_device import AdbDeviceTcp

    handset = VirtualHandset(root=tmp_path / "device").start()
    device = AdbDeviceTcp("127.0.0.1", handset.port, default_transport_timeout_s=5)
    assert device.connect(rsa_keys=[adb_signer], auth_timeout_s=5)
    assert device.shell("echo up") == "up\n"
    prefix = f"vhs-{handset.serial}-"
    assert any(t.name.startswith(prefix) for t in threading.enumerate())
    started = time.perf_counter()
    handset.stop()
    assert time.perf_counter() - started < 5
    assert not [t.name for t in threading.enumerate() if t.name.startswith(prefix)]
    device.close()
    with VirtualHandset(root=tmp_path / "again", port=handset.port) as again:  # the port is free for the next one
        assert again.port == handset.port


def test_stand_in_apk_is_a_real_zip(adb_device, tmp_path):
    path = adb_device.shell("pm path dev.packager.demo").strip()[len("package:"):]
    adb_device.pull(path, str(tmp_path / "base.apk"))
    with zipfile.ZipFile(io.BytesIO((tmp_path / "base.apk").read_bytes())) as z:
        names = z.namelist()
    assert "classes.dex" in names and any(n.startswith("lib/") and n.endswith("libLiteRt.so") for n in names)
