"""APK facts the virtual package manager needs, and the demo app's stand-in APK.

`manifest_facts` reads AndroidManifest.xml from an APK: the compiled binary XML (AXML) that
aapt/aapt2 put in real APKs, or plain text XML (handy for test APKs). Only what `pm` uses is
read: package name, version, debuggable, testOnly and the declared activities.
"""

from __future__ import annotations

import functools
import io
import platform
import re
import secrets
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from packager.device.contract import APP_PACKAGE

RES_XML_TYPE, RES_STRING_POOL_TYPE, RES_XML_START_ELEMENT_TYPE = 0x0003, 0x0001, 0x0102
UTF8_FLAG = 0x100
TYPE_STRING, TYPE_INT_DEC, TYPE_INT_HEX, TYPE_INT_BOOLEAN = 0x03, 0x10, 0x11, 0x12
NO_INDEX = 0xFFFFFFFF


class ApkError(ValueError):
    """Not an APK pm can install; the message is the `Failure [...]` text."""


@dataclass
class ManifestFacts:
    package: str
    version_code: int = 1
    version_name: str = "1.0"
    debuggable: bool = False
    test_only: bool = False
    activities: list[str] = field(default_factory=list)


def manifest_facts(apk: bytes) -> ManifestFacts:
    try:
        with zipfile.ZipFile(io.BytesIO(apk)) as archive:
            manifest = archive.read("AndroidManifest.xml")
    except (zipfile.BadZipFile, KeyError, OSError):
        raise ApkError("INSTALL_PARSE_FAILED_NOT_APK: Failed to parse APK: not a zip with an AndroidManifest.xml") from None
    try:
        elements = _binary_elements(manifest) if manifest[:2] == struct.pack("<H", RES_XML_TYPE) else _text_elements(manifest)
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        raise ApkError(f"INSTALL_PARSE_FAILED_MANIFEST_MALFORMED: AndroidManifest.xml cannot be read ({exc})") from None
    root = next((attrs for tag, attrs in elements if tag == "manifest"), None)
    if root is None or not root.get("package"):
        raise ApkError("INSTALL_PARSE_FAILED_MANIFEST_MALFORMED: <manifest> has no package name")
    application = next((attrs for tag, attrs in elements if tag == "application"), {})
    package = str(root["package"])
    activities = []
    for tag, attrs in elements:
        if tag in ("activity", "activity-alias") and attrs.get("name"):
            name = str(attrs["name"])
            activities.append(name[len(package):] if name.startswith(package + ".") else name)
    return ManifestFacts(
        package=package, version_code=int(root.get("versionCode", 1) or 1), version_name=str(root.get("versionName", "1.0")),
        debuggable=_true(application.get("debuggable")), test_only=_true(application.get("testOnly")), activities=activities,
    )


def _true(value) -> bool:
    return value is True or str(value).lower() == "true"


def _text_elements(manifest: bytes) -> list[tuple[str, dict]]:
    text = manifest.decode("utf-8")
    elements = []
    for tag, body in re.findall(r"<([A-Za-z][\w.-]*)\b([^>]*)>", text):
        attrs = {name.split(":")[-1]: value for name, value in re.findall(r'([\w:.-]+)\s*=\s*"([^"]*)"', body)}
        elements.append((tag, attrs))
    return elements


def _string_pool(data: bytes, offset: int) -> list[str]:
    _type, _header, _size, count, _styles, flags, strings_start, _ = struct.unpack_from("<HHIIIIII", data, offset)
    offsets = struct.unpack_from(f"<{count}I", data, offset + 28)
    base = offset + strings_start
    strings = []
    for start in offsets:
        p = base + start
        if flags & UTF8_FLAG:
            p += 2 if data[p] & 0x80 else 1  # length in UTF-16 units
            length = data[p] if not data[p] & 0x80 else ((data[p] & 0x7F) << 8) | data[p + 1]
            p += 2 if data[p] & 0x80 else 1
            strings.append(data[p : p + length].decode("utf-8"))
        else:
            length = struct.unpack_from("<H", data, p)[0]
            p += 2
            if length & 0x8000:
                length = ((length & 0x7FFF) << 16) | struct.unpack_from("<H", data, p)[0]
                p += 2
            strings.append(data[p : p + 2 * length].decode("utf-16-le"))
    return strings


def _binary_elements(data: bytes) -> list[tuple[str, dict]]:
    """Start elements of a compiled XML file: (tag, {attribute name: value})."""
    _type, header_size, total = struct.unpack_from("<HHI", data, 0)
    strings: list[str] = []
    elements = []
    offset = header_size
    while offset + 8 <= min(total, len(data)):
        chunk_type, chunk_header, chunk_size = struct.unpack_from("<HHI", data, offset)
        if chunk_size < 8:
            raise ValueError("corrupt chunk")
        if chunk_type == RES_STRING_POOL_TYPE:
            strings = _string_pool(data, offset)
        elif chunk_type == RES_XML_START_ELEMENT_TYPE:
            ext = offset + chunk_header
            _ns, name, attr_start, attr_size, attr_count = struct.unpack_from("<IIHHH", data, ext)
            attrs = {}
            for k in range(attr_count):
                a_ns, a_name, raw, _vsize, _res0, vtype, vdata = struct.unpack_from("<IIIHBBI", data, ext + attr_start + k * attr_size)
                if raw != NO_INDEX:
                    value = strings[raw]
                elif vtype == TYPE_INT_BOOLEAN:
                    value = vdata != 0
                elif vtype == TYPE_STRING:
                    value = strings[vdata]
                elif vtype in (TYPE_INT_DEC, TYPE_INT_HEX):
                    value = vdata
                else:
                    value = None
                attrs[strings[a_name]] = value
            elements.append((strings[name], attrs))
        offset += chunk_size
    return elements


@functools.lru_cache(maxsize=1)
def stand_in_demo_apk() -> bytes:
    """The demo app as the virtual handset has it installed: a real zip with the real host
    LiteRT library as its native code, dex and resources stand-ins and an empty model index,
    so installed size and APK breakdowns measure something real."""
    return demo_apk()


def demo_apk(assets: dict[str, bytes] | None = None) -> bytes:
    """The stand-in demo APK with more assets (assets/<name>): bundles as `packager bundle` installs
    them, the game-loop scenarios."""
    buffer = io.BytesIO()
    manifest = (f'<?xml version="1.0" encoding="utf-8"?>\n<manifest xmlns:android="http://schemas.android.com/apk/res/android"'
                f' package="{APP_PACKAGE}" android:versionCode="1" android:versionName="1.0">\n'
                '  <application android:debuggable="true" android:extractNativeLibs="false">\n'
                '    <activity android:name=".MainActivity" android:exported="true"/>\n'
                '    <activity android:name=".BenchmarkActivity" android:exported="true"/>\n'
                '    <activity android:name=".GameLoopActivity" android:exported="true"/>\n'
                '  </application>\n</manifest>\n')
    abi = "x86_64" if platform.machine() == "x86_64" else "arm64-v8a"
    with zipfile.ZipFile(buffer, "w") as apk:
        apk.writestr("AndroidManifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        apk.writestr("classes.dex", b"dex\n035\0" + secrets.token_bytes(96 * 1024), compress_type=zipfile.ZIP_DEFLATED)
        apk.writestr("resources.arsc", b"\x02\x00\x0c\x00" + bytes(24 * 1024), compress_type=zipfile.ZIP_STORED)
        apk.writestr("res/drawable/icon.png", secrets.token_bytes(4 * 1024), compress_type=zipfile.ZIP_STORED)
        apk.writestr("assets/models/index.json", '{"bundles": []}\n', compress_type=zipfile.ZIP_DEFLATED)
        for name, data in (assets or {}).items():  # what `packager bundle` and the game-loop scenarios add
            apk.writestr(f"assets/{name}", data, compress_type=zipfile.ZIP_STORED if name.endswith(".tflite") else zipfile.ZIP_DEFLATED)
        try:
            import ai_edge_litert  # noqa: PLC0415 - only for its shared library's bytes

            native = Path(ai_edge_litert.__file__).with_name("libLiteRt.so").read_bytes()
        except (ImportError, OSError):
            native = secrets.token_bytes(256 * 1024)
        apk.writestr(f"lib/{abi}/libLiteRt.so", native, compress_type=zipfile.ZIP_STORED)
        apk.writestr("META-INF/CERT.RSA", secrets.token_bytes(1024), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
