"""The virtual handset speaks ADB as a phone does: proven with peers nobody here wrote."""

from __future__ import annotations

import hashlib
import io
import os
import time
import zipfile

import pytest


def _connect(adb, handset) -> None:
    adb("connect", handset.address)
    deadline = time.time() + 10
    while time.time() < deadline:
        if f"{handset.address}\tdevice" in adb("devices").stdout:
            return
        time.sleep(0.1)
    raise AssertionError(adb("devices").stdout)


def test_adb_client_connect_shell_push_pull(adb, virtual_handset, tmp_path):
    _connect(adb, virtual_handset)
    devices = adb("devices", "-l").stdout
    assert "model:Virtual_Handset" in devices and "product:virtual_handset" in devices
    s = ["-s", virtual_handset.address]
    out = adb(*s, "shell", "echo hello && getprop ro.build.version.sdk")
    assert out.returncode == 0 and out.stdout.split() == ["hello", "34"]
    failed = adb(*s, "shell", "ls /no/such/dir")
    assert failed.returncode == 1 and "No such file or directory" in failed.stderr  # shell v2: exit code and stderr
    assert adb(*s, "shell", "frobnicate").returncode == 127
    payload = os.urandom(700_000)
    local = tmp_path / "blob.bin"
    local.write_bytes(payload)
    adb(*s, "push", str(local), "/data/local/tmp/deep/dir/blob.bin", check=True)
    assert adb(*s, "shell", "sha256sum /data/local/tmp/deep/dir/blob.bin").stdout.split()[0] == hashlib.sha256(payload).hexdigest()
    back = tmp_path / "back.bin"
    adb(*s, "pull", "/data/local/tmp/deep/dir/blob.bin", str(back), check=True)
    assert back.read_bytes() == payload
    listing = adb(*s, "shell", "ls /data/local/tmp/deep/dir").stdout.split()
    assert listing == ["blob.bin"]  # no temporary leftovers of the transfer


def test_adb_client_install(adb, virtual_handset, tmp_path):
    _connect(adb, virtual_handset)
    apk = tmp_path / "hello.apk"
    with zipfile.ZipFile(apk, "w") as z:
        z.writestr("AndroidManifest.xml", '<manifest package="com.example.hello"><application android:debuggable="true"/></manifest>')
        z.writestr("classes.dex", b"dex\n035\0" + bytes(2048))
    result = adb("-s", virtual_handset.address, "install", str(apk))
    assert result.returncode == 0 and "Success" in result.stdout, result.stdout + result.stderr
    assert "com.example.hello" in virtual_handset.installed_packages
    path = adb("-s", virtual_handset.address, "shell", "pm path com.example.hello").stdout.strip()
    assert path.startswith("package:/data/app/") and path.endswith("/base.apk")
    assert adb("-s", virtual_handset.address, "shell", "run-as com.example.hello id").stdout.startswith("uid=")


def test_adb_client_sees_an_unauthorized_device(adb, virtual_handset):
    virtual_handset.faults.unauthorized = True
    adb("connect", virtual_handset.address)
    deadline = time.time() + 10
    while time.time() < deadline and "unauthorized" not in adb("devices").stdout:
        time.sleep(0.1)
    assert f"{virtual_handset.address}\tunauthorized" in adb("devices").stdout


def test_adb_shell_library_with_auth(virtual_handset, tmp_path):
    from adb_shell.adb_device import AdbDeviceTcp
    from adb_shell.auth.keygen import keygen
    from adb_shell.auth.sign_pythonrsa import PythonRSASigner

    keygen(str(tmp_path / "key"))
    signer = PythonRSASigner((tmp_path / "key.pub").read_text(), (tmp_path / "key").read_text())
    device = AdbDeviceTcp("127.0.0.1", virtual_handset.port, default_transport_timeout_s=10)
    assert device.connect(rsa_keys=[signer], auth_timeout_s=5)
    assert device.shell("echo '$((1+1))' ok; id").startswith("$((1+1)) ok\nuid=2000(shell)")  # quoting intact
    (tmp_path / "a.txt").write_bytes(b"x" * 100_000)
    device.push(str(tmp_path / "a.txt"), "/sdcard/a.txt")
    assert device.stat("/sdcard/a.txt")[1] == 100_000
    device.pull("/sdcard/a.txt", str(tmp_path / "b.txt"))
    assert (tmp_path / "b.txt").read_bytes() == b"x" * 100_000
    assert [e.filename for e in device.list("/sdcard") if e.filename not in (b".", b"..")] == [b"a.txt"]
    device.close()
    # the key is now known: a second connection is accepted on its signature alone
    again = AdbDeviceTcp("127.0.0.1", virtual_handset.port, default_transport_timeout_s=10)
    assert again.connect(rsa_keys=[signer], auth_timeout_s=5)
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
    device.connect(rsa_keys=[good], auth_timeout_s=5)
    device.close()
    # the accepted public key, paired with another private key: the signature cannot verify
    liar = PythonRSASigner((tmp_path / "key.pub").read_text(), (tmp_path / "other").read_text())
    virtual_handset.faults.unauthorized = True  # and the "user" will not accept a new key either
    intruder = AdbDeviceTcp("127.0.0.1", virtual_handset.port, default_transport_timeout_s=3)
    with pytest.raises(Exception):
        intruder.connect(rsa_keys=[liar], auth_timeout_s=2)


def test_sandbox_rules(kit_handset, virtual_handset):
    from packager.errors import PackagerError

    # '..' never leaves the sandbox
    kit_handset.shell("mkdir", "-p", "/data/local/tmp/a")
    assert kit_handset.shell("ls", "/data/local/tmp/a/../../../../..").split() == sorted(p.name for p in virtual_handset.root.iterdir())
    # the shell user cannot read an app's private folder; run-as can
    denied = kit_handset.run("ls /data/user/0/dev.packager.demo", check=False)
    assert denied.exit_code == 1 and "Permission denied" in denied.output
    assert "files" in kit_handset.run_as("dev.packager.demo", "ls").split()
    with pytest.raises(PackagerError, match="unknown package"):
        kit_handset.run_as("com.nope.app", "ls")
    virtual_handset.packages["dev.packager.demo"].debuggable = False
    with pytest.raises(PackagerError, match="not debuggable"):
        kit_handset.run_as("dev.packager.demo", "ls")


def test_shell_language(kit_handset):
    assert kit_handset.run("false; echo $?").output == "1"
    assert kit_handset.run("true && echo yes || echo no").output == "yes"
    assert kit_handset.run("false && echo yes || echo no").output == "no"
    assert kit_handset.run("echo 'a  b' \"c\\\"d\" | wc -c").output == "9"
    assert kit_handset.run("echo hi > /data/local/tmp/f && cat /data/local/tmp/f 2>/dev/null").output == "hi"
    assert kit_handset.run("ls /nope 2>&1", check=False).output.endswith("No such file or directory")


def test_stand_in_apk_is_a_real_zip(kit_handset, tmp_path):
    path = kit_handset.apk_paths("dev.packager.demo")[0]
    local = kit_handset.pull(path, tmp_path / "base.apk")
    with zipfile.ZipFile(io.BytesIO(local.read_bytes())) as z:
        names = z.namelist()
    assert "classes.dex" in names and any(n.startswith("lib/") and n.endswith("libLiteRt.so") for n in names)
