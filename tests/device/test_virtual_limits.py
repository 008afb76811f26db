"""The virtual handset's bounds (issue 26 case 9), probed as a hostile host would, over raw ADB on a
socket: payloads over the advertised maximum, WRTEs that ignore flow control, thousands of streams,
connections that stay silent or keep coming, a NUL byte in a sync path."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from packager.device.virtual import VirtualHandset
from packager.device.virtual import handset as handset_module
from packager.device.virtual import protocol


def _message(command: bytes, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    code = struct.unpack("<I", command)[0]
    return struct.pack("<6I", code, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, code ^ 0xFFFFFFFF) + data


def _read_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        part = sock.recv(size - len(data))
        if not part:
            return None
        data += part
    return data


def _receive(sock: socket.socket) -> tuple[bytes, int, int, bytes] | None:
    header = _read_exact(sock, 24)
    if header is None:
        return None
    code, arg0, arg1, length, _, _ = struct.unpack("<6I", header)
    data = _read_exact(sock, length) if length else b""
    return struct.pack("<I", code), arg0, arg1, data or b""


def _closed(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True when the handset closes the connection within `timeout` (messages before that are read and dropped)."""
    sock.settimeout(timeout)
    try:
        while _receive(sock) is not None:
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:  # closed with our unread bytes in its buffer: a reset, not a FIN
        return True
    return True


def _online(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(_message(b"CNXN", protocol.A_VERSION, protocol.MAX_PAYLOAD, b"host::\0"))
    while True:
        reply = _receive(sock)
        assert reply is not None
        if reply[0] == b"CNXN":
            return sock


def _open(sock: socket.socket, local: int, service: str) -> int | None:
    """OPEN a service; the handset's stream id, or None when it refused (CLSE)."""
    sock.sendall(_message(b"OPEN", local, 0, service.encode() + b"\0"))
    while True:
        command, arg0, arg1, _ = _receive(sock)
        if arg1 == local and command in (b"OKAY", b"CLSE"):
            return arg0 if command == b"OKAY" else None


@pytest.fixture()
def open_handset(tmp_path):
    with VirtualHandset(root=tmp_path / "device", require_auth=False) as handset:
        yield handset


def test_a_payload_over_the_advertised_maximum_ends_the_connection(open_handset):
    sock = _online(open_handset.port)
    remote = _open(sock, 1, "shell,v2:cat")
    sock.sendall(_message(b"WRTE", 1, remote, bytes(protocol.MAX_PAYLOAD + 1)))
    assert _closed(sock)


def test_writes_that_ignore_flow_control_end_the_connection(open_handset):
    """400 x 1 MiB once grew the handset from 123 to 531 MiB: now a stream holds what its service has
    not read yet, at most MAX_PENDING_WRITES payloads."""
    sock = _online(open_handset.port)
    remote = _open(sock, 1, "shell:sleep 30")  # never reads what the host writes
    sock.settimeout(10)
    for _ in range(protocol.MAX_PENDING_WRITES + 2):
        try:
            sock.sendall(_message(b"WRTE", 1, remote, bytes(protocol.MAX_PAYLOAD)))
        except OSError:
            break
    assert _closed(sock)


def _service_threads() -> int:
    return sum(1 for t in threading.enumerate() if "adbd-shell" in t.name)


def test_streams_are_bounded_and_their_threads_end_with_the_connection(open_handset):
    before = _service_threads()
    sock = _online(open_handset.port)
    accepted = [_open(sock, local, "shell:sleep 30") for local in range(1, protocol.MAX_STREAMS + 21)]
    assert sum(r is not None for r in accepted) == protocol.MAX_STREAMS and accepted[-1] is None
    assert _service_threads() - before == protocol.MAX_STREAMS
    sock.close()
    deadline = time.monotonic() + 5
    while _service_threads() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _service_threads() == before  # 3,004 threads once outlived their connection by 30 s


def test_silent_and_surplus_connections_are_closed(open_handset, monkeypatch):
    open_handset.idle_timeout_s = 0.5
    silent = socket.create_connection(("127.0.0.1", open_handset.port), timeout=10)  # not even a CNXN
    online = _online(open_handset.port)
    assert _closed(silent, timeout=5) and _closed(online, timeout=5)
    open_handset.idle_timeout_s = 30
    kept = [_online(open_handset.port) for _ in range(handset_module.MAX_CONNECTIONS)]
    surplus = socket.create_connection(("127.0.0.1", open_handset.port), timeout=10)
    assert _closed(surplus, timeout=5)
    assert not _closed(kept[0], timeout=0.2)  # the others stay served
    for sock in kept:
        sock.close()


def test_a_nul_in_a_sync_path_is_answered_with_fail(open_handset):
    sock = _online(open_handset.port)
    remote = _open(sock, 1, "sync:")
    path = b"/data/local/tmp/a\0b"
    sock.sendall(_message(b"WRTE", 1, remote, b"STAT" + struct.pack("<I", len(path)) + path))
    sock.settimeout(5)
    while True:
        command, _, _, data = _receive(sock)
        if command == b"WRTE":
            break
    assert data.startswith(b"FAIL") and b"NUL" in data
