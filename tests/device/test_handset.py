"""The Handset API on the virtual handset: properties, files in and out of a debuggable app, APKs."""

from __future__ import annotations

import os
import posixpath
import zipfile

import pytest

from packager.device.apk import breakdown
from packager.device.contract import APP_PACKAGE, APP_WORK_DIR
from packager.errors import PackagerError


def test_properties(kit_handset, virtual_handset):
    props = kit_handset.props()
    assert props.serial == virtual_handset.address and props.virtual
    assert (props.manufacturer, props.model, props.sdk, props.android_version) == ("Packager", "Virtual Handset", 34, "14")
    assert props.abi and props.soc


def test_files_into_and_out_of_a_debuggable_app(kit_handset, virtual_handset, tmp_path):
    payload = os.urandom(200_000) + b"\n\r\n\0 trailing newline\n"  # binary-safe both ways
    local = tmp_path / "input.npy"
    local.write_bytes(payload)
    kit_handset.push_to_app(APP_PACKAGE, local, f"{APP_WORK_DIR}/in/input.npy")
    # it landed in the app's private folder, owned there, and nothing stayed in the staging folder
    assert (virtual_handset.root / f"{APP_WORK_DIR.lstrip('/')}/in/input.npy").read_bytes() == payload
    assert kit_handset.shell("ls", "/data/local/tmp/packager").split() == []
    back = kit_handset.pull_from_app(APP_PACKAGE, f"{APP_WORK_DIR}/in/input.npy", tmp_path / "back.npy")
    assert back.read_bytes() == payload
    assert kit_handset.shell("ls", "/data/local/tmp/packager").split() == []
    with pytest.raises(PackagerError, match="cannot read .*nope.npy"):
        kit_handset.pull_from_app(APP_PACKAGE, f"{APP_WORK_DIR}/nope.npy", tmp_path / "nope.npy")
    assert not (tmp_path / "nope.npy").exists()


def _apk(path, package: str, debuggable: bool = True):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("AndroidManifest.xml", f'<manifest package="{package}"><application android:debuggable="{str(debuggable).lower()}"/></manifest>')
        z.writestr("classes.dex", b"dex\n035\0" + os.urandom(4000))
        z.writestr("lib/arm64-v8a/libdemo.so", os.urandom(9000))
        z.writestr("lib/x86_64/libdemo.so", os.urandom(7000))
        z.writestr("assets/models/digits/digits.tflite", os.urandom(20000), compress_type=zipfile.ZIP_STORED)
        z.writestr("assets/models/digits/labels.txt", "0\n1\n")
        z.writestr("res/layout/main.xml", "<x/>" * 100)
        z.writestr("resources.arsc", os.urandom(1000))
    return path


def test_install_quotes_the_file_name_and_apk_make_up(kit_handset, virtual_handset, tmp_path):
    """(Install, uninstall and their errors: test_kit.py.) An APK whose name is shell syntax installs
    as a file name; its make-up is measured by category, per ABI, with the model's share."""
    apk = _apk(tmp_path / "hello world; touch pwned.apk", "com.example.hello")
    kit_handset.install(apk)
    assert kit_handset.installed_apk_bytes("com.example.hello") == apk.stat().st_size
    assert not list(virtual_handset.root.rglob("pwned"))
    parts = breakdown(apk)
    assert parts.native_by_abi.keys() == {"arm64-v8a", "x86_64"} and parts.native_by_abi["arm64-v8a"] > 9000
    assert parts.categories["native"] == sum(parts.native_by_abi.values())
    assert parts.categories["models"] > 20000 and parts.categories["assets"] > 0 and parts.categories["resources"] > 1000
    assert parts.categories["dex"] > 4000 and parts.categories["other"] > 0  # AndroidManifest.xml
    assert 0 < sum(parts.categories.values()) <= parts.total_bytes
    assert parts.model_share == pytest.approx(parts.model_bytes / apk.stat().st_size) and 0.2 < parts.model_share < 0.6
    bogus = tmp_path / "bogus.apk"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(PackagerError, match="not an APK"):
        breakdown(bogus)


@pytest.mark.parametrize("entries", [0, 4000], ids=["small-directory", "directory-over-256kB"])
def test_installed_apk_make_up_is_read_from_its_zip_directory(kit_handset, virtual_handset, tmp_path, entries):
    """The make-up of an installed APK comes from the end of the file on the device (its central
    directory), without pulling the APK: the same figures as reading the whole file here."""
    from packager.device.apk import FIRST_READ, installed_breakdown

    apk = _apk(tmp_path / "big.apk", "com.example.big")
    with zipfile.ZipFile(apk, "a") as z:  # padding and a long directory
        z.writestr("assets/padding.bin", os.urandom(2_000_000), compress_type=zipfile.ZIP_STORED)
        for i in range(entries):
            z.writestr(f"res/drawable-xxhdpi-v4/generated_icon_with_a_long_resource_name_{i:05d}.png", b"")
    kit_handset.install(apk)
    paths = kit_handset.apk_paths("com.example.big")
    sizes = kit_handset.file_sizes(*paths)
    assert sizes == [apk.stat().st_size]
    pulled_before = virtual_handset.bytes_sent
    on_device = installed_breakdown(kit_handset, paths, sizes)
    pulled = virtual_handset.bytes_sent - pulled_before
    here = breakdown(apk)
    assert on_device.to_dict() == {**here.to_dict(), "file": on_device.file} and on_device.file == posixpath.basename(paths[0])
    assert on_device.categories["resources"] > (entries * 100 if entries else 0)
    assert pulled < sizes[0] / 2  # the directory, not the APK
    assert (pulled > FIRST_READ) == bool(entries)  # a directory larger than the first read took a second one


def test_sha256_of_many_files_in_one_call(kit_handset, tmp_path):
    import hashlib

    one, two = tmp_path / "one.bin", tmp_path / "two.bin"
    one.write_bytes(b"first")
    two.write_bytes(b"second")
    kit_handset.push(one, "/data/local/tmp/packager/one.bin")
    kit_handset.push(two, "/data/local/tmp/packager/with  two spaces.bin")
    wanted = ["/data/local/tmp/packager/one.bin", "/data/local/tmp/packager/with  two spaces.bin", "/data/local/tmp/packager/missing"]
    assert kit_handset.sha256_many(wanted) == {wanted[0]: hashlib.sha256(b"first").hexdigest(),
                                               wanted[1]: hashlib.sha256(b"second").hexdigest()}
    # the same bytes named twice in one call cross the link once
    pushed = kit_handset.bytes_pushed
    assert kit_handset.push_many_if_changed([(one, "/data/local/tmp/packager/a"), (one, "/data/local/tmp/packager/a")]) == 5
    assert kit_handset.bytes_pushed - pushed == 5
