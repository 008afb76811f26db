"""The virtual handset's shell, file rules and Android services, called directly (no socket):
the language a harness speaks to /system/bin/sh and the answers it gets back."""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile

import pytest

from packager.device.virtual import shell
from packager.device.virtual import VirtualHandset


@pytest.fixture()
def device(tmp_path):
    """A handset that is not listening: only its shell and file system are used."""
    handset = VirtualHandset(root=tmp_path / "device", props={"ro.product.model": "Pixel Test"})
    yield handset
    handset.stop()


def sh(handset, line: str, user: str = "shell", stdin: bytes = b"") -> tuple[int, str, str]:
    ctx = shell.Context(handset, user=user, stdin=stdin)
    status = shell.run(ctx, line)
    return status, ctx.stdout.getvalue().decode(), ctx.stderr.getvalue().decode()


def test_quoting_operators_and_status(device):
    assert sh(device, "echo 'a  b' \"c\\\"d\" e\\ f") == (0, 'a  b c"d e f\n', "")
    assert sh(device, "false; echo $?")[1] == "1\n"
    assert sh(device, "true && echo yes || echo no")[1] == "yes\n"
    assert sh(device, "false && echo yes || echo no")[1] == "no\n"
    assert sh(device, "echo a; echo b")[1] == "a\nb\n"
    assert sh(device, "echo ';' '&&' '2>/dev/null'")[1] == "; && 2>/dev/null\n"  # quoted operators are words
    assert sh(device, "cd /data/local/tmp; echo a2>b; cat b")[1] == "a2\n"  # '2>' only counts at the start of a word
    assert sh(device, "echo one # a comment\necho two")[1] == "one\ntwo\n"
    assert sh(device, "echo $HOME $USER ${EXTERNAL_STORAGE} $NOPE.")[1] == "/ shell /sdcard .\n"
    assert sh(device, "echo '$HOME'")[1] == "$HOME\n"
    status, _, err = sh(device, "echo $(id)")
    assert status == 2 and "not supported" in err  # refused, not run as text
    assert sh(device, "echo 'unterminated")[0] == 2
    assert sh(device, "sh -c 'exit 3'; echo $?")[1] == "3\n"
    assert sh(device, "exit 4; echo never") == (4, "", "")


def test_unknown_commands_exit_127_like_mksh(device):
    assert sh(device, "frobnicate --now") == (127, "", "/system/bin/sh: frobnicate: inaccessible or not found\n")
    assert sh(device, "/system/bin/getprop ro.product.model")[1] == "Pixel Test\n"  # full paths of commands work


def test_redirects_and_pipes(device):
    assert sh(device, "echo hi > /data/local/tmp/f && echo more >> /data/local/tmp/f && cat /data/local/tmp/f")[1] == "hi\nmore\n"
    assert sh(device, "ls /nope 2>/dev/null") == (1, "", "")
    status, out, err = sh(device, "ls /nope 2>&1")
    assert (status, err) == (1, "") and out == "ls: /nope: No such file or directory\n"
    sh(device, "cat /nope 2> /data/local/tmp/err")
    assert (device.root / "data/local/tmp/err").read_text() == "cat: /nope: No such file or directory\n"
    assert sh(device, "getprop | grep -c ro.product.model")[1] == "1\n"
    assert sh(device, "logcat -d | wc -l")[1].strip().isdigit()
    assert sh(device, "cat < /data/local/tmp/f | head -n 1")[1] == "hi\n"
    assert sh(device, "cat", stdin=b"from stdin")[1] == "from stdin"


def test_files(device):
    root = device.root
    assert sh(device, "mkdir /data/local/tmp/a/b")[0] == 1  # no -p: parent missing
    assert sh(device, "mkdir -p /data/local/tmp/a/b && cd /data/local/tmp/a && pwd && touch b/x && ls b")[1] == "/data/local/tmp/a\nx\n"
    (root / "data/local/tmp/m.bin").write_bytes(b"\0" * 1234)
    assert sh(device, "stat -c %s /data/local/tmp/m.bin")[1] == "1234\n"
    assert sh(device, "sha256sum /data/local/tmp/m.bin")[1].split()[0] == __import__("hashlib").sha256(b"\0" * 1234).hexdigest()
    assert sh(device, "cp /data/local/tmp/m.bin /sdcard/ && mv /sdcard/m.bin /sdcard/n.bin && ls /sdcard")[1] == "n.bin\n"
    assert sh(device, "[ -f /sdcard/n.bin ] && [ -d /sdcard ] && [ ! -e /sdcard/m.bin ] && test -s /sdcard/n.bin")[0] == 0
    assert sh(device, "chmod 755 /sdcard/n.bin && stat -c %a /sdcard/n.bin")[1] == "755\n"
    assert sh(device, "chmod u-x,go-rx /sdcard/n.bin && ls -l /sdcard/n.bin")[1].startswith("-rw-------")
    assert sh(device, "rm /data/local/tmp/a")[0] == 1  # a folder needs -r
    assert sh(device, "rm -rf /data/local/tmp/a /data/local/tmp/none && ls /data/local/tmp")[1] == "m.bin\n"
    assert sh(device, "df /data")[1].startswith("Filesystem")


def test_the_sandbox_cannot_be_left(device, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("host secret")
    assert sh(device, "ls /data/local/tmp/../../../../../..")[1].split() == sorted(p.name for p in device.root.iterdir())
    os.symlink(outside, device.root / "data/local/tmp/link")
    status, out, err = sh(device, "cat /data/local/tmp/link")
    assert status == 1 and "host secret" not in out and "Permission denied" in err
    os.symlink("/data/user/0", device.root / "data/local/tmp/apps")  # a link cannot get around a rule either
    assert sh(device, "ls /data/local/tmp/apps/dev.packager.demo")[0] == 1


def test_android_access_rules(device):
    # the shell user writes only in /data/local/tmp and /sdcard
    for target in ("/system/bin/evil", "/data/evil", "/data/user/0/dev.packager.demo/files/x"):
        status, _, err = sh(device, f"echo x > {target}")
        assert status == 1 and "Permission denied" in err, target
    # an app's private folder: only the app (run-as) and root; /data/data is the same folder
    assert "Permission denied" in sh(device, "ls /data/user/0/dev.packager.demo")[2]
    assert sh(device, "run-as dev.packager.demo sh -c 'echo mine > files/a.txt && pwd'")[1] == "/data/user/0/dev.packager.demo\n"
    assert sh(device, "run-as dev.packager.demo cat /data/data/dev.packager.demo/files/a.txt")[1] == "mine\n"
    # run-as reads the staging folder (how the kit copies files in) but cannot write there
    sh(device, "echo staged > /data/local/tmp/s")
    assert sh(device, "run-as dev.packager.demo cp /data/local/tmp/s files/s && run-as dev.packager.demo cat files/s")[1] == "staged\n"
    assert sh(device, "run-as dev.packager.demo touch /data/local/tmp/t")[0] == 1
    # /sdcard and its aliases are one folder
    sh(device, "echo card > /storage/emulated/0/c.txt")
    assert sh(device, "cat /sdcard/c.txt")[1] == "card\n"


def test_run_as_refuses_like_android(device):
    assert sh(device, "run-as com.nope.app id") == (1, "", "run-as: unknown package: com.nope.app\n")
    device.packages["dev.packager.demo"].debuggable = False
    assert sh(device, "run-as dev.packager.demo id") == (1, "", "run-as: package not debuggable: dev.packager.demo\n")


def test_getprop_and_identity(device):
    assert sh(device, "getprop ro.product.model")[1] == "Pixel Test\n"  # configurable
    assert sh(device, "getprop ro.build.version.sdk")[1] == "34\n"
    assert sh(device, "getprop ro.nope fallback")[1] == "fallback\n"
    listing = sh(device, "getprop")[1]
    assert f"[ro.serialno]: [{device.serial}]" in listing and "[ro.soc.model]:" in listing and "[ro.product.cpu.abi]:" in listing
    assert sh(device, "id")[1].startswith("uid=2000(shell)")
    assert sh(device, "run-as dev.packager.demo id")[1].startswith("uid=10123(u0_a123)")


def _apk(package: str, debuggable: bool = True, test_only: bool = False) -> bytes:
    test_attr = ' android:testOnly="true"' if test_only else ""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as apk:
        apk.writestr("AndroidManifest.xml", f'<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="{package}">'
                                            f'<application android:debuggable="{str(debuggable).lower()}"{test_attr}>'
                                            '<activity android:name=".Main"/></application></manifest>')
        apk.writestr("classes.dex", b"dex\n035\0" + bytes(100))
    return buffer.getvalue()


def test_package_manager(device):
    assert sh(device, "pm list packages -3")[1] == "package:dev.packager.demo\n"
    assert "package:android\n" in sh(device, "pm list packages")[1]
    path = sh(device, "pm path dev.packager.demo")[1]
    assert path.startswith("package:/data/app/~~") and path.endswith("/base.apk\n")
    assert (device.root / path.strip()[len("package:/"):]).is_file()
    assert sh(device, "pm path com.nope") == (1, "", "")
    apk = _apk("com.example.a", debuggable=False)
    (device.root / "data/local/tmp/a.apk").write_bytes(apk)
    assert sh(device, "pm install /data/local/tmp/a.apk")[1] == "Success\n"
    assert sh(device, "pm install /data/local/tmp/a.apk")[1] == "Success\n"  # replacing is the default since Android 7
    assert sh(device, "pm install -R /data/local/tmp/a.apk")[1].startswith("Failure [INSTALL_FAILED_ALREADY_EXISTS")
    assert sh(device, "run-as com.example.a id")[2] == "run-as: package not debuggable: com.example.a\n"
    streamed = _apk("com.example.b")
    assert sh(device, f"cmd package install -S {len(streamed)}", stdin=streamed)[1] == "Success\n"  # as `adb install` streams
    assert "com.example.b" in device.installed_packages
    test_only = _apk("com.example.t", test_only=True)
    assert sh(device, f"pm install -S {len(test_only)}", stdin=test_only)[1].startswith("Failure [INSTALL_FAILED_TEST_ONLY")
    assert sh(device, f"pm install -t -S {len(test_only)}", stdin=test_only)[1] == "Success\n"
    (device.root / "data/local/tmp/not.apk").write_bytes(b"plain text")
    status, out, _ = sh(device, "pm install /data/local/tmp/not.apk")
    assert status == 1 and out.startswith("Failure [INSTALL_PARSE_FAILED_NOT_APK")
    assert sh(device, "pm uninstall com.example.a")[1] == "Success\n" and "com.example.a" not in device.installed_packages
    assert sh(device, "pm uninstall com.example.a")[1] == "Failure [DELETE_FAILED_INTERNAL_ERROR]\n"


@pytest.mark.parametrize("utf8", [False, True], ids=["utf16-pool", "utf8-pool"])
def test_binary_manifest_of_a_real_apk_layout(device, utf8):
    """pm reads the compiled (AXML) AndroidManifest.xml that aapt writes into real APKs."""
    manifest = compiled_manifest("com.example.compiled", debuggable=True, activities=[".Main", "com.example.compiled.Second"], utf8=utf8)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as apk:
        apk.writestr("AndroidManifest.xml", manifest)
    assert device.install_apk_bytes(buffer.getvalue()) == "Success"
    package = device.packages["com.example.compiled"]
    assert package.debuggable and package.version_code == 7 and package.activities == [".Main", ".Second"]
    assert sh(device, "am start -n com.example.compiled/.Second")[0] == 0
    assert sh(device, "am start -n com.example.compiled/.Nope")[2].endswith("does not exist.\n")


def test_activity_manager_and_logcat(device):
    status, out, err = sh(device, "am start -n com.nope/.Main")
    assert status == 1 and "Error type 3" in err
    status, out, _ = sh(device, "am start -W -n dev.packager.demo/.MainActivity")
    assert status == 0 and "Status: ok" in out and "Complete" in out
    device.log("I", "PackagerBench", "hello from the app")
    device.log("E", "Other", "noise")
    assert sh(device, "logcat -d -s PackagerBench")[1].rstrip().endswith("I PackagerBench: hello from the app")
    assert "noise" not in sh(device, "logcat -d PackagerBench:I *:S")[1]
    assert len(sh(device, "logcat -d -t 2")[1].splitlines()) == 2
    assert sh(device, "logcat -c && logcat -d")[1] == ""
    assert sh(device, "pidof dev.packager.demo") == (1, "", "")  # nothing started the app's process
    assert sh(device, "dumpsys meminfo dev.packager.demo")[1] == "No process found for: dev.packager.demo\n"


def test_file_modes_survive(device):
    (device.root / "data/local/tmp/tool").write_bytes(b"#!/system/bin/sh\necho from a script\n")
    assert sh(device, "/data/local/tmp/tool")[0] == 126  # not executable yet
    sh(device, "chmod +x /data/local/tmp/tool")
    assert stat.S_IMODE((device.root / "data/local/tmp/tool").stat().st_mode) & 0o111
    assert sh(device, "/data/local/tmp/tool")[1] == "from a script\n"
    (device.root / "data/local/tmp/native").write_bytes(b"\x7fELF" + bytes(60))
    sh(device, "chmod 755 /data/local/tmp/native")
    assert sh(device, "/data/local/tmp/native") == (126, "", "/system/bin/sh: /data/local/tmp/native: can't execute: Exec format error\n")


def test_globs(device):
    sh(device, "mkdir -p /data/local/tmp/g/sub && touch /data/local/tmp/g/a.txt /data/local/tmp/g/b.txt /data/local/tmp/g/.hidden /data/local/tmp/g/sub/c.txt")
    assert sh(device, "echo /data/local/tmp/g/*")[1] == "/data/local/tmp/g/a.txt /data/local/tmp/g/b.txt /data/local/tmp/g/sub\n"
    assert sh(device, "cd /data/local/tmp/g && echo *.txt [b].txt ?.txt sub/* .h*")[1] == "a.txt b.txt b.txt a.txt b.txt sub/c.txt .hidden\n"
    assert sh(device, "echo '/data/local/tmp/g/*' /data/local/tmp/g/none*")[1] == "/data/local/tmp/g/* /data/local/tmp/g/none*\n"
    assert sh(device, "run-as dev.packager.demo sh -c 'cp /data/local/tmp/g/*.txt files/ && ls files'")[1] == "a.txt\nb.txt\n"
    assert sh(device, "rm -rf /data/local/tmp/g/* && ls -a /data/local/tmp/g")[1] == ".\n..\n.hidden\n"


# --- a compiled (binary XML) AndroidManifest.xml, as aapt writes it into APKs -----------------------
# No Android SDK here to run aapt, so this writes the documented chunk layout of androidfw's
# ResourceTypes.h: an XML chunk with a string pool (UTF-16 or UTF-8), a resource map, namespace
# and element chunks, attributes as raw strings or typed values.
ANDROID_NS = "http://schemas.android.com/apk/res/android"
ATTR_IDS = {"name": 0x01010003, "debuggable": 0x0101000F, "testOnly": 0x01010272, "versionCode": 0x0101021B}
NO_INDEX = 0xFFFFFFFF


def _pool(strings: list[str], utf8: bool) -> bytes:
    data, offsets = bytearray(), []
    for text in strings:
        offsets.append(len(data))
        if utf8:
            raw = text.encode("utf-8")
            data += bytes([len(text), len(raw)]) + raw + b"\0"
        else:
            data += struct.pack("<H", len(text)) + text.encode("utf-16-le") + b"\0\0"
    data += bytes(-len(data) % 4)
    header_size = 28
    strings_start = header_size + 4 * len(strings)
    size = strings_start + len(data)
    return (struct.pack("<HHIIIIII", 0x0001, header_size, size, len(strings), 0, 0x100 if utf8 else 0, strings_start, 0)
            + struct.pack(f"<{len(strings)}I", *offsets) + bytes(data))


def compiled_manifest(package: str, debuggable: bool, activities: list[str], utf8: bool = False) -> bytes:
    # attribute names first, in resource-map order, as aapt lays them out
    strings = ["name", "debuggable", "versionCode", "android", ANDROID_NS, "", "manifest", "package", "application",
               "activity", package, *activities]
    index = {s: i for i, s in enumerate(strings)}
    ns = index[ANDROID_NS]

    def start(tag: str, attrs: list[tuple[int, str, int, int, int]]) -> bytes:
        body = struct.pack("<IIHHHHHH", NO_INDEX, index[tag], 20, 20, len(attrs), 0, 0, 0)
        for a_ns, a_name, raw, vtype, vdata in attrs:
            body += struct.pack("<IIIHBBI", a_ns, index[a_name], raw, 8, 0, vtype, vdata)
        return struct.pack("<HHIII", 0x0102, 16, 16 + len(body), 1, NO_INDEX) + body

    def end(tag: str) -> bytes:
        return struct.pack("<HHIIIII", 0x0103, 16, 24, 1, NO_INDEX, NO_INDEX, index[tag])

    chunks = _pool(strings, utf8)
    ids = [ATTR_IDS["name"], ATTR_IDS["debuggable"], ATTR_IDS["versionCode"]]
    chunks += struct.pack("<HHI", 0x0180, 8, 8 + 4 * len(ids)) + struct.pack(f"<{len(ids)}I", *ids)
    chunks += struct.pack("<HHIIIII", 0x0100, 16, 24, 1, NO_INDEX, index["android"], ns)
    chunks += start("manifest", [(NO_INDEX, "package", index[package], 0x03, index[package]),
                                 (ns, "versionCode", NO_INDEX, 0x10, 7)])
    chunks += start("application", [(ns, "debuggable", NO_INDEX, 0x12, NO_INDEX if debuggable else 0)])
    for activity in activities:
        chunks += start("activity", [(ns, "name", index[activity], 0x03, index[activity])]) + end("activity")
    chunks += end("application") + end("manifest")
    chunks += struct.pack("<HHIIIII", 0x0101, 16, 24, 1, NO_INDEX, index["android"], ns)
    return struct.pack("<HHI", 0x0003, 8, 8 + len(chunks)) + chunks
