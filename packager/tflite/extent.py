"""A .tflite file's real length, read from its flatbuffer without loading the file.

A model followed by junk (a bad copy, 1.9 GiB of zeros) used to be read whole, and its packed
files were then looked for at the junk's end. `model_end` walks every object reachable from the
root table (tables, their vtables, vectors, strings, unions, and the weights that large models
keep after the flatbuffer by offset and size) over any buffer, such as a memoryview of an mmap,
so only the pages of the flatbuffer's own objects are touched. `trailing_bytes` then accepts
what may follow the model: alignment padding and the zip of associated files that tflite-support's
MetadataPopulator appends (labels, vocabularies).

The walk is generic over the schema's generated classes (every accessor is called once, through a
Table that records how far each read reaches), so a field added to the schema is covered too.
"""

from __future__ import annotations

import inspect
import struct
from functools import cache
from typing import Any

from flatbuffers.table import Table

_PAD = 64  # converters align the end of a flatbuffer and its appended weights to at most 64 bytes
# a union's accessor -> the enum naming its member's class
_UNIONS = {"BuiltinOptions": "BuiltinOptions", "BuiltinOptions2": "BuiltinOptions2", "Details": "QuantizationDetails",
           "ArraySegments": "SparseIndexVector", "ArrayIndices": "SparseIndexVector"}
# tables whose scalar fields address bytes of this file outside the flatbuffer (models over 2 GiB)
_OUTSIDE = {"Buffer": ("Offset", "Size"), "Operator": ("LargeCustomOptionsOffset", "LargeCustomOptionsSize")}


class _Reach:
    __slots__ = ("end",)

    def __init__(self) -> None:
        self.end = 0

    def saw(self, end: int) -> None:
        self.end = max(self.end, end)


class _Tracked(Table):
    """A flatbuffers Table that records the end of every vector and string read through it."""

    __slots__ = ("reach",)

    def __init__(self, buf: Any, pos: int, reach: _Reach) -> None:
        super().__init__(buf, pos)
        self.reach = reach

    def _u32(self, off: int) -> int:
        return struct.unpack_from("<I", self.Bytes, off)[0]

    def Vector(self, off: int) -> int:  # noqa: N802 - flatbuffers' name
        start = super().Vector(off)
        self.reach.saw(start)  # the length prefix; the elements are recorded by whoever reads them
        return start

    def String(self, off: int) -> bytes:  # noqa: N802
        start = off + self._u32(off) + 4
        self.reach.saw(start + self._u32(start - 4) + 1)  # with the NUL terminator
        return b""  # never copied: only its extent matters

    def GetVectorAsNumpy(self, flags: Any, off: int) -> int:  # noqa: N802
        self.reach.saw(self.Vector(off) + self.VectorLen(off) * flags.bytewidth)
        return 0  # no array over the mmap (it would pin it open)

    def Get(self, flags: Any, off: int) -> Any:  # noqa: N802
        self.reach.saw(off + flags.bytewidth)
        return super().Get(flags, off)


@cache
def _accessors(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(methods taking no argument, vector methods taking an index) of a generated table class."""
    plain, indexed = [], []
    for name, fn in vars(cls).items():
        if not callable(fn) or name.startswith(("_", "GetRootAs", "Init")) or name.endswith(("HasIdentifier", "IsNone", "Length")):
            continue
        params = len(inspect.signature(fn).parameters)
        if params == 1:
            plain.append(name)
        elif params == 2 and hasattr(cls, name + "Length") and not hasattr(cls, name + "AsNumpy"):
            indexed.append(name)  # vectors of tables or strings; scalar vectors are read whole by ...AsNumpy
    return tuple(plain), tuple(indexed)


def model_end(buf: Any, fb: Any) -> int:
    """The end offset of the model in `buf`: the furthest byte any object reachable from the root
    table occupies, including weights stored after the flatbuffer by offset. Raises what a damaged
    flatbuffer raises (struct.error, IndexError, ...) when an offset points outside `buf`."""
    reach = _Reach()
    reach.saw(8)  # root offset and file identifier
    seen: set[tuple[type, int]] = set()
    root = struct.unpack_from("<I", buf, 0)[0]
    todo: list[tuple[type, int]] = [(fb.Model, root)]
    while todo:
        cls, pos = todo.pop()
        if (cls, pos) in seen:  # a hostile file can share a table many times: each is walked once
            continue
        seen.add((cls, pos))
        obj = cls()
        obj._tab = tab = _Tracked(buf, pos, reach)
        vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        vt_size, table_size = struct.unpack_from("<HH", buf, vtable)
        reach.saw(max(vtable + vt_size, pos + table_size))
        plain, indexed = _accessors(cls)
        for name in plain:
            value = getattr(obj, name)()
            if type(value) is Table:  # a union member: its class from the type field
                enum = getattr(fb, _UNIONS.get(name, name), None)
                names = {v: k for k, v in vars(enum).items() if not k.startswith("_")} if enum else {}
                member = getattr(fb, names.get(getattr(obj, name + "Type")(), ""), None)
                if member is not None:
                    todo.append((member, value.Pos))
                else:  # an unknown member: its own table at least
                    todo.append((_Opaque, value.Pos))
            elif hasattr(value, "_tab"):
                todo.append((type(value), value._tab.Pos))  # noqa: SLF001 - generated classes expose their table only so
        for name in indexed:
            for j in range(getattr(obj, name + "Length")()):
                value = getattr(obj, name)(j)
                if hasattr(value, "_tab"):
                    todo.append((type(value), value._tab.Pos))  # noqa: SLF001
        for offset, size in [_OUTSIDE[cls.__name__]] if cls.__name__ in _OUTSIDE else []:
            start, length = getattr(obj, offset)(), getattr(obj, size)()
            if start > 1 and length:  # offset 1 is the converter's placeholder for "not yet placed"
                reach.saw(start + length)
        del tab
    return reach.end


class _Opaque:
    """A union member of a type this schema does not know: only its table and vtable are counted."""

    _tab: Table

    def Init(self, buf: Any, pos: int) -> None:  # noqa: N802
        self._tab = Table(buf, pos)


def trailing_bytes(buf: Any, end: int) -> int:
    """How many bytes after a model ending at `end` are neither alignment padding nor one appended
    zip of associated files (its end-of-central-directory record at the file's end)."""
    size = len(buf)
    if size <= end:
        return 0
    if _appended_zip(buf, end) is not None:
        return 0
    padding = bytes(buf[end:min(size, end + _PAD)])
    if size - end <= _PAD and not padding.strip(b"\0"):
        return 0
    return size - end


def _appended_zip(buf: Any, end: int) -> int | None:
    """Where the zip appended after `end` starts, if the rest of the file is exactly one zip
    (after at most _PAD zero bytes of padding)."""
    size = len(buf)
    tail_from = max(end, size - (22 + 0xFFFF))
    tail = bytes(buf[tail_from:size])
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    cd_size, cd_offset, comment = struct.unpack_from("<IIH", tail, at + 12)
    eocd = tail_from + at
    cd_start = eocd - cd_size
    if eocd + 22 + comment != size or cd_start < end:
        return None
    padding = bytes(buf[end:min(cd_start, end + _PAD)])
    zip_start = end + len(padding) - len(padding.lstrip(b"\0"))  # the first byte after the padding
    # central-directory offsets count from the zip's start (Python's zipfile appending) or the file's
    if cd_offset not in (cd_start - zip_start, cd_start) or zip_start - end >= _PAD:
        return None
    return zip_start if bytes(buf[zip_start:zip_start + 4]) in (b"PK\x03\x04", b"PK\x01\x02") else None
