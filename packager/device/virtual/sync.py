"""The sync service (what `adb push`, `pull` and `ls` use), device side, as adbd does it.

Requests: STAT, LIST, SEND, RECV, QUIT and the v2 forms the handset advertises (stat_v2: STA2 and
LST2; ls_v2: LIS2 answered with DNT2). v1 packets use adb-shell's formats and ids; the v2 structs
(adbd's sync_stat_v2 / sync_dent_v2) are spelled out here because adb-shell has none.

SEND follows adbd: an existing regular file at the target is removed first, parent folders are
created (fixed_push_mkdir), data goes to the target, and when anything goes wrong (a FAIL, a
dropped connection) the target is removed, so an interrupted push never leaves a partial file.
After a FAIL the service ends, as adbd's does.
"""

from __future__ import annotations

import errno
import os
import stat as stat_module
import struct
from typing import TYPE_CHECKING

from adb_shell import constants as C

from packager.device.virtual.fs import AccessDenied, file_mode, set_mode

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from packager.device.virtual.parts import Connection, Stream

SYNC_DATA_MAX = 64 * 1024
ID = C.FILESYNC_ID_TO_WIRE
V2 = {name: struct.unpack("<I", name)[0] for name in (b"STA2", b"LST2", b"LIS2", b"DNT2")}
STAT_V2 = "<IIQQIIIIQqqq"  # id, error, dev, ino, mode, nlink, uid, gid, size, atime, mtime, ctime
DENT_V2 = STAT_V2 + "I"  # ... namelen
HEADER = C.FILESYNC_PULL_FORMAT  # id, length


class SyncFailed(Exception):
    """Answered with FAIL; the service ends."""


def sync_service(conn: Connection, stream: Stream) -> None:
    while True:
        request, length = struct.unpack(HEADER, stream.read_exact(8))
        if request == ID[b"QUIT"]:
            return
        path = stream.read_exact(length).decode("utf-8", "surrogateescape")
        try:
            if "\0" in path:  # no file name holds one; os calls would raise ValueError and end the service unanswered
                raise SyncFailed(f"invalid path {path!r}: it contains a NUL byte")
            if request == ID[b"STAT"]:
                stream.write(_stat_v1(conn, path))
            elif request in (V2[b"STA2"], V2[b"LST2"]):
                stream.write(_stat_v2(conn, path, request))
            elif request in (ID[b"LIST"], V2[b"LIS2"]):
                stream.write(_list(conn, path, v2=request == V2[b"LIS2"]))
            elif request == ID[b"RECV"]:
                _recv(conn, stream, path)
            elif request == ID[b"SEND"]:
                _send(conn, stream, path)
            else:
                raise SyncFailed(f"unknown sync request {struct.pack('<I', request)!r}")
        except SyncFailed as failure:
            _fail(stream, str(failure))
            return


def _fail(stream: Stream, message: str) -> None:
    data = message.encode()
    stream.write(struct.pack(HEADER, ID[b"FAIL"], len(data)) + data)


def _lookup(conn: Connection, path: str, write: bool = False) -> Path:
    return conn.handset.sandbox.host(path, user="shell", write=write)


def _stat_v1(conn: Connection, path: str) -> bytes:
    try:
        host = _lookup(conn, path)
        st = host.stat()
    except OSError:
        return struct.pack(C.FILESYNC_STAT_FORMAT, ID[b"STAT"], 0, 0, 0)  # adbd: all zero when stat fails
    return struct.pack(C.FILESYNC_STAT_FORMAT, ID[b"STAT"], file_mode(host), st.st_size & 0xFFFFFFFF, int(st.st_mtime))


def _stat_fields(host: Path) -> tuple:
    st = host.stat()
    return (0, st.st_dev, st.st_ino, file_mode(host), st.st_nlink, 2000, 2000, st.st_size,
            int(st.st_atime), int(st.st_mtime), int(st.st_ctime))


def _stat_v2(conn: Connection, path: str, request: int) -> bytes:
    try:
        fields = _stat_fields(_lookup(conn, path))
    except OSError as exc:
        fields = (exc.errno or errno.EIO, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return struct.pack(STAT_V2, request, *fields)


def _list(conn: Connection, path: str, v2: bool) -> bytes:
    out = bytearray()
    try:
        host = _lookup(conn, path)
        entries = [(".", host), ("..", host.parent if host != conn.handset.sandbox.root else host)]
        entries += [(p.name, p) for p in sorted(host.iterdir())] if host.is_dir() else []
    except OSError:
        entries = []  # adbd: an unreadable folder lists as empty
    for name, entry in entries:
        encoded = name.encode("utf-8", "surrogateescape")
        try:
            if v2:
                out += struct.pack(DENT_V2, V2[b"DNT2"], *_stat_fields(entry), len(encoded)) + encoded
            else:
                st = entry.stat()
                out += struct.pack(C.FILESYNC_LIST_FORMAT, ID[b"DENT"], file_mode(entry), st.st_size & 0xFFFFFFFF,
                                   int(st.st_mtime), len(encoded)) + encoded
        except OSError:
            continue
    if v2:
        out += struct.pack(DENT_V2, ID[b"DONE"], *([0] * 12))
    else:
        out += struct.pack(C.FILESYNC_LIST_FORMAT, ID[b"DONE"], 0, 0, 0, 0)
    return bytes(out)


def _recv(conn: Connection, stream: Stream, path: str) -> None:
    try:
        host = _lookup(conn, path)
        if host.is_dir():
            raise SyncFailed("read failed: Is a directory")
        fh = open(host, "rb")  # noqa: SIM115 - closed below; errors become adbd's messages
    except OSError as exc:
        raise SyncFailed(f"open failed: {exc.strerror or 'No such file or directory'}") from None
    sent = 0
    with fh:
        pending = bytearray()  # several DATA packets per WRTE, as adbd's socket writes coalesce
        while chunk := fh.read(SYNC_DATA_MAX - 8):
            pending += struct.pack(HEADER, ID[b"DATA"], len(chunk)) + chunk
            sent += len(chunk)
            if len(pending) + SYNC_DATA_MAX > conn.max_payload:
                stream.write(bytes(pending))
                pending.clear()
        stream.write(bytes(pending) + struct.pack(HEADER, ID[b"DONE"], 0))
    conn.handset.count_transfer(sent=sent)


def _parse_mode(text: str) -> int:
    """strtoul(text, 0): adb sends the mode in decimal; 0x.. and 0.. also parse."""
    text = text.strip()
    if text.lower().startswith("0x"):
        return int(text, 16)
    if text.startswith("0") and len(text) > 1:
        return int(text, 8)
    return int(text or "0")


def _drain(stream: Stream) -> None:
    """After a failure adbd keeps reading (and dropping) DATA until DONE, so the host hears the FAIL."""
    while True:
        kind, size = struct.unpack(HEADER, stream.read_exact(8))
        if kind != ID[b"DATA"] or size > SYNC_DATA_MAX:
            return
        stream.read_exact(size)


def _send(conn: Connection, stream: Stream, spec: str) -> None:
    handset = conn.handset
    path, comma, mode_text = spec.rpartition(",")
    if not comma:
        raise SyncFailed("missing , in ID_SEND_V1")
    try:
        mode = _parse_mode(mode_text)
    except ValueError:
        raise SyncFailed("bad mode") from None
    if stat_module.S_ISLNK(mode):
        _drain(stream)
        raise SyncFailed("symlink failed: the virtual handset does not create symlinks")
    try:
        host = _lookup(conn, path, write=True)
        if host.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory")
        if host.is_file() or host.is_symlink():
            host.unlink()  # adbd removes the old file first
        try:
            host.parent.mkdir(parents=True, exist_ok=True)  # fixed_push_mkdir
        except OSError as exc:
            _drain(stream)
            raise SyncFailed(f"secure_mkdirs failed: {exc.strerror}") from None
        fh = open(host, "wb")  # noqa: SIM115 - closed below
    except AccessDenied:
        _drain(stream)
        raise SyncFailed("couldn't create file: Permission denied") from None
    except OSError as exc:
        _drain(stream)
        raise SyncFailed(f"couldn't create file: {exc.strerror}") from None
    received, complete, lost = 0, False, False
    try:
        with fh:
            while True:
                kind, value = struct.unpack(HEADER, stream.read_exact(8))
                if kind == ID[b"DONE"]:
                    complete = True
                    break
                if kind != ID[b"DATA"]:
                    raise SyncFailed("invalid data message")
                if value > SYNC_DATA_MAX:
                    raise SyncFailed("oversize data message")
                chunk = stream.read_exact(value)
                fh.write(chunk)
                received += len(chunk)
                handset.count_transfer(received=len(chunk))
                if handset.faults.should_disconnect(received):
                    handset.log("W", "adbd", f"connection lost during push of {path} ({received} bytes in)")
                    lost = True
                    break
        if complete:
            set_mode(host, (mode & 0o777) | ((mode >> 3) & 0o070) | ((mode >> 6) & 0o007))  # user bits to group and other
            os.utime(host, (value, value))
            stream.write(struct.pack(HEADER, ID[b"OKAY"], 0))
    finally:
        if not complete:
            host.unlink(missing_ok=True)  # never a partial file at the target
        if lost:
            conn.drop()  # only now: whoever sees the connection go finds the partial file gone
