"""The ADB wire protocol, device side: what adbd does for one host connection.

Messages are packed with adb-shell's AdbMessage and its header format (the 24-byte header every
ADB peer uses). Implemented:

- CNXN and AUTH: a random 20-byte TOKEN; a SIGNATURE is verified (PKCS#1 v1.5 over the token as
  a SHA-1 digest, with `cryptography`) against the keys the "user" accepted; an RSAPUBLICKEY is
  accepted as if the user tapped "allow" unless the `unauthorized` fault is on, in which case
  the connection waits (the adb client shows "unauthorized") until the fault is cleared.
- OPEN/OKAY/WRTE/CLSE with many streams per connection, each with its own flow control (one
  WRTE in flight until the host's OKAY), and many connections per handset.
- Services: `shell:` (v1: one raw stream, no exit code), `shell,v2[,raw]:` (the packet protocol:
  stdin, stdout, stderr, exit code), `exec:` (raw and binary-safe) and `sync:` (see sync.py).
"""

from __future__ import annotations

import base64
import os
import queue
import socket
import struct
import threading
import time
from typing import TYPE_CHECKING

from adb_shell import constants as C
from adb_shell.adb_message import AdbMessage
from adb_shell.auth.keygen import ANDROID_PUBKEY_MODULUS_SIZE_WORDS, ANDROID_RSAPUBLICKEY_STRUCT
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from packager.device.virtual import shell  # commands: its import fills shell's command table
from packager.device.virtual.sync import sync_service

if TYPE_CHECKING:  # pragma: no cover
    from packager.device.virtual.parts import Device

A_VERSION = 0x01000001  # ADB's current protocol version (from it on, payload checksums are optional)
MAX_PAYLOAD = 256 * 1024  # advertised in our CNXN: a message with a larger payload ends the connection
# Bounds a host cannot push past (adbd's are similar in effect): WRTEs a host may send on a stream
# before the service took the earlier ones (the protocol allows one: it must wait for our OKAY),
# streams open at once on one connection, and how long a connection may stay silent with no open stream.
MAX_PENDING_WRITES = 4
MAX_STREAMS = 64
IDLE_TIMEOUT_S = 60.0
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN, SHELL_WINDOW_SIZE = 0, 1, 2, 3, 4, 5
WIRE_TO_COMMAND = {value: name for name, value in C.ID_TO_WIRE.items()}


class Disconnected(Exception):
    pass


# --- keys -----------------------------------------------------------------------------------------
def decode_public_key(text: bytes) -> rsa.RSAPublicKey:
    """The key an adb host sends: Android's RSAPublicKey struct, base64, then ' user@host'."""
    blob = base64.b64decode(text.rstrip(b"\0").split(b" ")[0])
    words, _n0inv, modulus, _rr, exponent = struct.unpack(ANDROID_RSAPUBLICKEY_STRUCT, blob)
    if words != ANDROID_PUBKEY_MODULUS_SIZE_WORDS:
        raise ValueError("not a 2048-bit ADB key")
    return rsa.RSAPublicNumbers(exponent, int.from_bytes(modulus, "little")).public_key()


def verify_signature(key: rsa.RSAPublicKey, token: bytes, signature: bytes) -> bool:
    """ADB hosts sign the 20-byte token as if it were a SHA-1 digest (RSA PKCS#1 v1.5)."""
    try:
        key.verify(signature, token, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))
        return True
    except (InvalidSignature, ValueError):
        return False


# --- streams --------------------------------------------------------------------------------------
class Stream:
    """One OPENed service: the host's WRTE payloads in, flow-controlled WRTEs out."""

    def __init__(self, conn: Connection, local_id: int, remote_id: int):
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.inbox: queue.Queue[bytes | None] = queue.Queue()
        self.buffer = bytearray()
        self.acked = threading.Semaphore(1)
        self.closed = False

    def _fill(self) -> bool:
        item = self.inbox.get()
        if item is None:
            self.inbox.put(None)  # stay closed for later readers
            return False
        self.buffer.extend(item)
        # acknowledged once the service took it, as adbd does: the host's next WRTE waits for this,
        # so what a stream buffers is bounded by what its service reads
        if not self.closed:
            try:
                self.conn.send(b"OKAY", self.local_id, self.remote_id)
            except Disconnected:
                pass
        return True

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise Disconnected("stream closed")
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read_some(self) -> bytes | None:
        """What the host sent next, or None once it closed the stream."""
        if not self.buffer and not self._fill():
            return None
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def write(self, data: bytes) -> None:
        for start in range(0, len(data), self.conn.max_payload):
            if not self.acked.acquire(timeout=120):
                raise Disconnected("the host stopped acknowledging")
            if self.closed:
                raise Disconnected("stream closed")
            self.conn.send(b"WRTE", self.local_id, self.remote_id, data[start : start + self.conn.max_payload])

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.conn.forget(self.local_id)
            self.conn.send(b"CLSE", self.local_id, self.remote_id)


# --- one host connection --------------------------------------------------------------------------
class Connection:
    def __init__(self, handset: Device, sock: socket.socket):
        self.handset = handset
        self.sock = sock
        self.send_lock = threading.Lock()
        self.streams: dict[int, Stream] = {}
        self.streams_lock = threading.Lock()
        self.next_id = 1
        self.max_payload = C.MAX_LEGACY_ADB_DATA
        self.version = A_VERSION
        self.alive = True
        self.online = threading.Event()  # CNXN sent: the host may open streams
        self.ended = threading.Event()  # the connection is gone: its services' commands stop waiting
        self._token = b""

    # --- framing ------------------------------------------------------------------------------
    def _recv_exact(self, size: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < size:
            try:
                part = self.sock.recv(size - len(chunks))
            except TimeoutError:
                with self.streams_lock:
                    busy = bool(self.streams) and self.online.is_set()
                if busy:
                    continue  # a long command (sleep 30) keeps its connection
                raise Disconnected("the host stayed silent with no open stream") from None
            if not part:
                raise Disconnected("the host closed the connection")
            chunks.extend(part)
        return bytes(chunks)

    def receive(self) -> tuple[bytes, int, int, bytes]:
        header = self._recv_exact(C.MESSAGE_SIZE)
        command, arg0, arg1, length, _checksum, magic = struct.unpack(C.MESSAGE_FORMAT, header)
        if command ^ 0xFFFFFFFF != magic or command not in WIRE_TO_COMMAND:
            raise Disconnected(f"corrupt ADB header {header.hex()}")
        if length > MAX_PAYLOAD:
            raise Disconnected(f"oversized ADB payload ({length} bytes, more than the {MAX_PAYLOAD} advertised)")
        data = self._recv_exact(length) if length else b""
        self.handset.faults.delay(len(data))
        return WIRE_TO_COMMAND[command], arg0, arg1, data

    def send(self, command: bytes, arg0: int, arg1: int, data: bytes = b"") -> None:
        self.handset.faults.delay(len(data))
        message = AdbMessage(command, arg0, arg1, data)
        with self.send_lock:
            try:
                self.sock.sendall(message.pack() + data)
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
        with self.streams_lock:
            self.streams.pop(local_id, None)

    # --- the session --------------------------------------------------------------------------
    def serve(self) -> None:
        try:
            self._handshake()
            while self.alive:
                command, arg0, arg1, data = self.receive()
                self._dispatch(command, arg0, arg1, data)
        except (Disconnected, OSError):
            pass
        finally:
            self.alive = False
            self.ended.set()
            with self.streams_lock:
                streams, self.streams = list(self.streams.values()), {}
            for stream in streams:
                stream.closed = True
                stream.inbox.put(None)
                stream.acked.release()
            try:
                self.sock.close()
            except OSError:
                pass

    def _handshake(self) -> None:
        while True:
            command, version, max_data, _banner = self.receive()
            if command == b"CNXN":
                break
        self.version = min(version, A_VERSION)
        self.max_payload = max(C.MAX_LEGACY_ADB_DATA, min(max_data, MAX_PAYLOAD))
        if not self.handset.require_auth:
            self._go_online()
            return
        self._new_token()
        waiting = False
        while not self.online.is_set():
            command, kind, _, data = self.receive()
            if self.online.is_set():  # approved while we waited: this is already a normal message
                self._dispatch(command, kind, _, data)
                return
            if command == b"CNXN":
                self._new_token()  # the host started over
            elif command != b"AUTH":
                continue
            elif kind == C.AUTH_SIGNATURE:
                if any(verify_signature(key, self._token, data) for key in self.handset.accepted_keys()):
                    self._go_online()
                    return
                self._new_token()  # not a key we know: ask again, the host will offer its public key
            elif kind == C.AUTH_RSAPUBLICKEY and not waiting:
                try:
                    key = decode_public_key(data)
                except (ValueError, struct.error, TypeError):
                    self.handset.log("W", "adbd", "host sent a malformed RSA public key")
                    continue
                if not self.handset.faults.unauthorized:
                    self.handset.accept_key(key)
                    self._go_online()
                    return
                waiting = True  # the "Allow USB debugging?" prompt is up; nobody taps it (yet)
                self.handset.log("I", "adbd", "waiting for the user to allow USB debugging for a new RSA key")
                self.handset.spawn(self._await_approval, key, name="adbd-auth-prompt")

    def _new_token(self) -> None:
        self._token = os.urandom(20)
        self.send(b"AUTH", C.AUTH_TOKEN, 0, self._token)

    def _await_approval(self, key) -> None:
        """The prompt stays up until the `unauthorized` fault is cleared (the user taps "allow")."""
        while self.alive and not self.handset.stopping.is_set():
            if not self.handset.faults.unauthorized:
                self.handset.accept_key(key)
                self._go_online()
                return
            time.sleep(0.05)

    def _go_online(self) -> None:
        if not self.online.is_set():
            self.online.set()
            self.send(b"CNXN", self.version, MAX_PAYLOAD, self.handset.banner().encode())

    def _dispatch(self, command: bytes, arg0: int, arg1: int, data: bytes) -> None:
        stream: Stream | None
        if command == b"OPEN":
            service = data.rstrip(b"\0").decode("utf-8", "replace")
            handler = SERVICES.get(service.split(":", 1)[0].split(",", 1)[0] + ":")
            if handler is None:
                self.send(b"CLSE", 0, arg0)  # what adbd answers for a service it does not have
                return
            with self.streams_lock:
                full = len(self.streams) >= MAX_STREAMS
                if not full:
                    local_id, self.next_id = self.next_id, self.next_id + 1
                    stream = self.streams[local_id] = Stream(self, local_id, arg0)
            if full:
                self.handset.log("W", "adbd", f"refused a stream: {MAX_STREAMS} are open on this connection")
                self.send(b"CLSE", 0, arg0)
                return
            self.send(b"OKAY", local_id, arg0)
            self.handset.spawn(self._run_service, handler, stream, service, name=f"adbd-{service.split(':', 1)[0]}")
        elif command == b"WRTE":
            stream = self.streams.get(arg1)
            if stream is None:
                self.send(b"CLSE", 0, arg0)
                return
            if stream.inbox.qsize() >= MAX_PENDING_WRITES:
                raise Disconnected(f"the host sent {MAX_PENDING_WRITES} WRTEs without waiting for OKAY")
            stream.inbox.put(data)  # OKAY when the service takes it (Stream._fill)
        elif command == b"OKAY":
            stream = self.streams.get(arg1)
            if stream is not None:
                stream.acked.release()
        elif command == b"CLSE":
            with self.streams_lock:
                stream = self.streams.pop(arg1, None)
            if stream is not None:
                stream.inbox.put(None)
                if not stream.closed:
                    stream.closed = True
                    self.send(b"CLSE", arg1, arg0)
                stream.acked.release()
        elif command == b"CNXN":  # the host reconnects on the same socket
            self.online.clear()
            self._go_online()

    def _run_service(self, handler, stream: Stream, service: str) -> None:
        try:
            handler(self, stream, service)
        except Disconnected:
            pass
        except Exception as exc:  # noqa: BLE001 - a service bug must not take the connection down
            self.handset.log("E", "adbd", f"service {service!r} failed: {exc!r}")
        finally:
            try:
                stream.close()
            except Disconnected:
                pass


# --- services -------------------------------------------------------------------------------------
def shell_service(conn: Connection, stream: Stream, service: str) -> None:
    """`shell:CMD` (v1: stdout and stderr merged, no stdin, no exit code) and `shell,v2[,...]:CMD`."""
    head, _, command = service.partition(":")
    v2 = "v2" in head.split(",")
    if not command.strip():
        _shell_reply(stream, v2, b"", b"the virtual handset has no interactive shell; give a command\n", 1)
        return
    ctx = shell.Context(conn.handset, ended=conn.ended)
    if v2:
        ctx.stdin = shell.LazyInput(lambda: _next_stdin_packet(stream))
    else:
        ctx.stderr = ctx.stdout  # v1 has one stream: keep stdout and stderr in the order they came
    status = shell.run(ctx, command)
    _shell_reply(stream, v2, ctx.stdout.getvalue(), ctx.stderr.getvalue() if v2 else b"", status)


def _next_stdin_packet(stream: Stream) -> bytes | None:
    """The next stdin bytes of a shell v2 stream; None at close-stdin or when the stream closes."""
    while True:
        try:
            kind, length = struct.unpack("<BI", stream.read_exact(5))
            data = stream.read_exact(length)
        except Disconnected:
            return None
        if kind == SHELL_STDIN:
            return data
        if kind == SHELL_CLOSE_STDIN:
            return None
        # SHELL_WINDOW_SIZE and anything else: nothing to do without a terminal


def _shell_reply(stream: Stream, v2: bool, out: bytes, err: bytes, status: int) -> None:
    if not v2:
        stream.write(out + err)
        return
    packets = bytearray()
    if out:
        packets += struct.pack("<BI", SHELL_STDOUT, len(out)) + out
    if err:
        packets += struct.pack("<BI", SHELL_STDERR, len(err)) + err
    packets += struct.pack("<BIB", SHELL_EXIT, 1, status & 0xFF)
    stream.write(bytes(packets))


def exec_service(conn: Connection, stream: Stream, service: str) -> None:
    """`exec:CMD`: raw and binary-safe; stdin is what the host writes (read only if the command
    wants it, e.g. `cmd package install -S SIZE` as `adb install` streams it), stdout and stderr
    are one stream as adbd gives them without the shell protocol."""
    ctx = shell.Context(conn.handset, stdin=shell.LazyInput(stream.read_some), ended=conn.ended)
    ctx.stderr = ctx.stdout
    shell.run(ctx, service.partition(":")[2])
    stream.write(ctx.stdout.getvalue())


def _sync(conn: Connection, stream: Stream, service: str) -> None:

    sync_service(conn, stream)


SERVICES = {"shell:": shell_service, "exec:": exec_service, "sync:": _sync}


def serve_connection(handset: Device, sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(getattr(handset, "idle_timeout_s", IDLE_TIMEOUT_S))
    conn = Connection(handset, sock)
    handset.connections.add(conn)
    try:
        conn.serve()
    finally:
        handset.connections.discard(conn)
