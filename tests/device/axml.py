"""A compiled (binary XML, "AXML") AndroidManifest.xml as aapt writes it into APKs, for tests.

No Android SDK here to run aapt, so this writes the documented chunk layout of
frameworks/base/libs/androidfw ResourceTypes.h: an XML chunk with a string pool (UTF-16 or
UTF-8), a resource map, namespace and element chunks, attributes as raw strings or typed values.
"""

from __future__ import annotations

import struct

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
