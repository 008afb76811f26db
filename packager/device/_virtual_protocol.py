"""The ADB wire protocol, device side: what adbd does for one host connection.

Messages are packed and unpacked with adb-shell's AdbMessage/unpack (the same 24-byte header
every ADB peer uses). Implemented: CNXN and AUTH (RSA token signing verified against the keys a
"user" accepted), OPEN/OKAY/WRTE/CLSE with many streams per connection and per-stream flow
control (one WRTE in flight until the peer's OKAY), and the services `shell:` (v1), `shell,v2`
(the packet protocol with exit codes), `exec:` and `sync:` (STAT/LIST/SEND/RECV/DATA/DONE/QUIT).
"""

from __future__ import annotations

import base64
import os
import queue
import socket
import struct
import tempfile
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adb_shell import constants as C
from adb_shell.adb_message import AdbMessage, unpack
from adb_shell.auth.keygen import ANDROID_PUBKEY_MODULUS_SIZE_WORDS, ANDROID_RSAPUBLICKEY_STRUCT

from packager.device import _virtual_shell as shell

if TYPE_CHECKING:  # pragma: no cover
    from packager.device.virtual import VirtualHandset

A_VERSION = 0x01000001  # the version that also skips payload checksums
MAX_PAYLOAD = 256 * 1024
SYNC_DATA_MAX = 64 * 1024
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN = 0, 1, 2, 3, 4
SHA1_DIGEST_INFO = bytes.fromhex("3021300906052b0e03021a05000414")


class Disconnected(Exception):
    pass


@dataclass(frozen=True)
class PublicKey:
    n: int
    e: int


def decode_public_key(text: str) -> PublicKey:
    """Android's RSAPublicKey struct (base64): modulus words, n0inv, modulus, rr, exponent."""
    words, _n0inv, modulus, _rr, exponent = struct.unpack(ANDROID_RSAPUBLICKEY_STRUCT, base64.b64decode(text))
    if words != ANDROID_PUBKEY_MODULUS_SIZE_WORDS:
        raise ValueError("unexpected RSA key size")
    return PublicKey(int.from_bytes(modulus, "little"), exponent)


def verify_signature(public_key, token: bytes, signature: bytes) -> bool:
    """ADB signs the 20-byte token as if it were a SHA-1 digest (PKCS#1 v1.5)."""
    n, e = public_key.n, public_key.e
    size = (n.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    decoded = pow(int.from_bytes(signature, "big"), e, n).to_bytes(size, "big")
    expected_tail = SHA1_DIGEST_INFO + token
    padding = size - len(expected_tail) - 3
    return decoded == b"\x00\x01" + b"\xff" * padding + b"\x00" + expected_tail


class Stream:
    """One OPENed service: incoming WRTE payloads in, flow-controlled WRTEs out."""

    def __init__(self, conn: "Connection", local_id: int, remote_id: int):
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.inbox: queue.Queue[bytes | None] = queue.Queue()
        self.buffer = bytearray()
        self.acked = threading.Semaphore(1)
        self.closed = False

    # reading what the host sends
    def _fill(self, timeout: float | None = None) -> bool:
        item = self.inbox.get(timeout=timeout)
        if item is None:
            self.inbox.put(None)  # stay closed for later readers
            return False
        self.buffer.extend(item)
        return True

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise Disconnected("stream closed")
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read_some(self, timeout: float | None = None) -> bytes | None:
        if not self.buffer:
            try:
                if not self._fill(timeout):
                    return None
            except queue.Empty:
                return b""
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    # writing to the host
    def write(self, data: bytes) -> None:
        for start in range(0, len(data), self.conn.max_payload):
            if not self.acked.acquire(timeout=60):
                raise Disconnected("host stopped acknowledging")
            if self.closed:
                raise Disconnected("stream closed")
            self.conn.send(b"WRTE", self.local_id, self.remote_id, data[start : start + self.conn.max_payload])

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.conn.send(b"CLSE", self.local_id, self.remote_id)
            self.conn.forget(self.local_id)


class Connection:
    """One host connected to the virtual handset."""

    def __init__(self, handset: "VirtualHandset", sock: socket.socket):
        self.handset = handset
        self.sock = sock
        self.send_lock = threading.Lock()
        self.streams: dict[int, Stream] = {}
        self.next_id = 1
        self.max_payload = MAX_PAYLOAD
        self.version = A_VERSION
        self.alive = True
        self._token = b""

    # --- framing ------------------------------------------------------------------------------
    def _recv_exact(self, size: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < size:
            part = self.sock.recv(size - len(chunks))
            if not part:
                raise Disconnected("host closed the connection")
            chunks.extend(part)
        return bytes(chunks)

    def receive(self) -> tuple[bytes, int, int, bytes]:
        header = self._recv_exact(C.MESSAGE_SIZE)
        command, arg0, arg1, length, _ = unpack(header)
        data = self._recv_exact(length) if length else b""
        self.handset.faults.delay(len(data))
        return command.to_bytes(4, "little"), arg0, arg1, data

    def send(self, command: bytes, arg0: int, arg1: int, data: bytes = b"") -> None:
        self.handset.faults.delay(len(data))
        packet = AdbMessage(command, arg0, arg1, data).pack() + data
        with self.send_lock:
            try:
                self.sock.sendall(packet)
            except OSError as exc:
                raise Disconnected(str(exc)) from None

    def drop(self) -> None:
        """Cut the connection the way a pulled cable does."""
        self.alive = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def forget(self, local_id: int) -> None:
        self.streams.pop(local_id, None)

    # --- the session --------------------------------------------------------------------------
    def serve(self) -> None:
        try:
            self._handshake()
            while self.alive:
                command, arg0, arg1, data = self.receive()
                self._dispatch(command, arg0, arg1, data)
        except (Disconnected, OSError, ValueError):
            pass
        finally:
            self.alive = False
            for stream in list(self.streams.values()):
                stream.closed = True
                stream.inbox.put(None)
                stream.acked.release()
            try:
                self.sock.close()
            except OSError:
                pass

    def _handshake(self) -> None:
        command, version, max_data, banner = self.receive()
        if command != b"CNXN":
            raise Disconnected(f"expected CNXN, got {command!r}")
        self.version = min(version, A_VERSION)
        self.max_payload = max(C.MAX_LEGACY_ADB_DATA, min(max_data, MAX_PAYLOAD))
        if not self.handset.require_auth:
            self._send_banner()
            return
        self._token = os.urandom(20)
        self.send(b"AUTH", C.AUTH_TOKEN, 0, self._token)
        while True:
            command, kind, _, data = self.receive()
            if command != b"AUTH":
                continue  # the host may retry its CNXN; keep asking for a signature
            if kind == C.AUTH_SIGNATURE:
                if any(verify_signature(key, self._token, data) for key in self.handset.accepted_keys()):
                    self._send_banner()
                    return
                self._token = os.urandom(20)
                self.send(b"AUTH", C.AUTH_TOKEN, 0, self._token)
            elif kind == C.AUTH_RSAPUBLICKEY:
                if self.handset.faults.unauthorized:
                    self.handset.log("I", "adbd", "USB debugging not authorized: the prompt was not accepted")
                    continue  # like a phone whose user never taps "allow": wait, say nothing
                try:
                    key = decode_public_key(data.rstrip(b"\0").split(b" ")[0].decode())
                except Exception:  # noqa: BLE001 - a malformed key is just not accepted
                    continue
                self.handset.accept_key(key)
                self._send_banner()
                return

    def _send_banner(self) -> None:
        self.send(b"CNXN", self.version, MAX_PAYLOAD, self.handset.banner().encode())

    def _dispatch(self, command: bytes, arg0: int, arg1: int, data: bytes) -> None:
        if command == b"OPEN":
            service = data.rstrip(b"\0").decode("utf-8", "replace")
            local_id = self.next_id
            self.next_id += 1
            stream = Stream(self, local_id, arg0)
            handler = self.handset.service_handler(service)
            if handler is None:
                self.send(b"CLSE", 0, arg0)
                return
            self.streams[local_id] = stream
            self.send(b"OKAY", local_id, arg0)
            threading.Thread(target=self._run_service, args=(handler, stream, service), daemon=True).start()
        elif command == b"WRTE":
            stream = self.streams.get(arg1)
            if stream is None:
                self.send(b"CLSE", 0, arg0)
                return
            stream.inbox.put(data)
            self.send(b"OKAY", arg1, arg0)
        elif command == b"OKAY":
            stream = self.streams.get(arg1)
            if stream is not None:
                stream.acked.release()
        elif command == b"CLSE":
            stream = self.streams.pop(arg1, None)
            if stream is not None:
                stream.inbox.put(None)
                if not stream.closed:
                    stream.closed = True
                    self.send(b"CLSE", arg1, arg0)
                stream.acked.release()
        elif command == b"CNXN":
            self._send_banner()

    def _run_service(self, handler, stream: Stream, service: str) -> None:
        try:
            handler(self, stream, service)
        except Disconnected:
            pass
        except Exception as exc:  # noqa: BLE001 - a service bug must not kill the connection
            self.handset.log("E", "adbd", f"service {service!r} failed: {exc!r}")
        finally:
            try:
                stream.close()
            except Disconnected:
                pass


# --- services -------------------------------------------------------------------------------------
def shell_service(conn: Connection, stream: Stream, service: str) -> None:
    """`shell:CMD` (v1: stdout+stderr merged, no exit code) and `shell,v2[,opts]:CMD`."""
    head, _, command = service.partition(":")
    v2 = "v2" in head.split(",")
    if not command.strip():
        message = b"the virtual handset has no interactive shell; pass a command\n"
        _shell_reply(stream, v2, message, b"", 1)
        return
    if v2:  # drain stdin packets (we run commands without interactive input)
        threading.Thread(target=_drain, args=(stream,), daemon=True).start()
    ctx = shell.Context(conn.handset)
    if not v2:
        ctx.stderr = ctx.stdout  # v1 has one stream: keep stdout and stderr in the order they came
    status = shell.run(ctx, command)
    _shell_reply(stream, v2, ctx.stdout.getvalue(), b"" if not v2 else ctx.stderr.getvalue(), status)


def _drain(stream: Stream) -> None:
    while stream.read_some() is not None:
        pass


def _shell_reply(stream: Stream, v2: bool, out: bytes, err: bytes, status: int) -> None:
    if not v2:
        stream.write(out + err)
        return
    packets = b""
    if out:
        packets += struct.pack("<BI", SHELL_STDOUT, len(out)) + out
    if err:
        packets += struct.pack("<BI", SHELL_STDERR, len(err)) + err
    packets += struct.pack("<BI", SHELL_EXIT, 1) + bytes([status & 0xFF])
    stream.write(packets)


def exec_service(conn: Connection, stream: Stream, service: str) -> None:
    """`exec:CMD`: raw stdout, binary-safe; `cmd package install -S N` reads the APK from the stream."""
    command = service.partition(":")[2]
    words = shell.tokenize(command)
    argv = [w for w, is_op in words if not is_op]
    if argv[:3] == ["cmd", "package", "install"] and "-S" in argv:
        size = int(argv[argv.index("-S") + 1])
        data = stream.read_exact(size)
        stream.write(conn.handset.install_apk_bytes(data, replace="-r" in argv).encode())
        return
    ctx = shell.Context(conn.handset)
    shell.run(ctx, command)
    stream.write(ctx.stdout.getvalue())


def sync_service(conn: Connection, stream: Stream, service: str) -> None:
    fs = conn.handset.sandbox
    while True:
        header = stream.read_exact(8)
        request, length = header[:4], struct.unpack("<I", header[4:])[0]
        if request == b"QUIT":
            return
        path_bytes = stream.read_exact(length)
        path = path_bytes.decode("utf-8", "replace")
        if request == b"STAT":
            stream.write(b"STAT" + _stat(fs, path))
        elif request == b"LIST":
            stream.write(_list(fs, path))
        elif request == b"RECV":
            _recv(conn, stream, path)
        elif request == b"SEND":
            _send(conn, stream, path)
        else:
            _fail(stream, f"unknown sync request {request!r}")
            return


def _stat(fs: shell.Sandbox, path: str) -> bytes:
    try:
        host = fs.host(path)
        st = host.stat()
    except (shell.ShellError, OSError):
        return struct.pack("<3I", 0, 0, 0)
    return struct.pack("<3I", shell.file_mode(host) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF, int(st.st_mtime))


def _list(fs: shell.Sandbox, path: str) -> bytes:
    out = b""
    try:
        host = fs.host(path)
        entries = sorted(host.iterdir()) if host.is_dir() else []
    except (shell.ShellError, OSError):
        entries = []
    for entry in entries:
        st = entry.stat()
        name = entry.name.encode()
        out += b"DENT" + struct.pack("<4I", shell.file_mode(entry), st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(name)) + name
    return out + b"DONE" + struct.pack("<4I", 0, 0, 0, 0)


def _fail(stream: Stream, message: str) -> None:
    data = message.encode()
    stream.write(b"FAIL" + struct.pack("<I", len(data)) + data)


def _recv(conn: Connection, stream: Stream, path: str) -> None:
    try:
        host = conn.handset.sandbox.host(path)
        with open(host, "rb") as fh:
            pending = bytearray()  # several DATA packets per WRTE: fewer round trips
            while chunk := fh.read(SYNC_DATA_MAX):
                pending += b"DATA" + struct.pack("<I", len(chunk)) + chunk
                if len(pending) + SYNC_DATA_MAX + 8 > conn.max_payload:
                    stream.write(bytes(pending))
                    pending.clear()
            if pending:
                stream.write(bytes(pending))
    except (shell.ShellError, OSError) as exc:
        reason = "Permission denied" if isinstance(exc, shell.ShellError) else (exc.strerror or "No such file or directory")
        _fail(stream, f"remote object '{path}' does not exist" if isinstance(exc, FileNotFoundError) else reason)
        return
    stream.write(b"DONE" + struct.pack("<I", 0))


def _send(conn: Connection, stream: Stream, spec: str) -> None:
    """Receive a file into a temporary name; rename on DONE; an interrupted SEND leaves nothing."""
    path, _, _mode = spec.rpartition(",")
    handset = conn.handset
    try:
        host = handset.sandbox.host(path or spec)
        host.parent.mkdir(parents=True, exist_ok=True)  # fixed_push_mkdir
    except shell.ShellError as exc:
        _discard_send(stream)
        _fail(stream, str(exc))
        return
    fd, tmp_name = tempfile.mkstemp(prefix=f".{host.name}.", suffix=".adbd-tmp", dir=host.parent)
    received = 0
    done = False
    try:
        with os.fdopen(fd, "wb") as fh:
            while True:
                header = stream.read_exact(8)
                kind, value = header[:4], struct.unpack("<I", header[4:])[0]
                if kind == b"DATA":
                    chunk = stream.read_exact(value)
                    fh.write(chunk)
                    received += len(chunk)
                    handset.bytes_received += len(chunk)
                    if handset.faults.should_disconnect(received):
                        handset.log("W", "adbd", f"connection lost during push of {path}")
                        conn.drop()
                        raise Disconnected("fault: disconnect mid-transfer")
                elif kind == b"DONE":
                    done = True
                    break
                else:
                    raise Disconnected(f"unexpected sync packet {kind!r} during SEND")
        os.replace(tmp_name, host)
        if value:
            os.utime(host, (value, value))
        stream.write(b"OKAY" + struct.pack("<I", 0))
    finally:
        if not done and os.path.exists(tmp_name):
            os.unlink(tmp_name)


def _discard_send(stream: Stream) -> None:
    while True:
        kind, value = stream.read_exact(4), struct.unpack("<I", stream.read_exact(4))[0]
        if kind == b"DATA":
            stream.read_exact(value)
        else:
            return


def serve_connection(handset: "VirtualHandset", sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = Connection(handset, sock)
    handset.connections.add(conn)
    try:
        conn.serve()
    finally:
        handset.connections.discard(conn)



