"""ADB transports: one small interface over two ways of reaching a handset.

- `DirectTransport` talks ADB itself with adb-shell: TCP (`host:port`, phones in `adb tcpip`
  mode, device farms, the virtual handset) or USB through libusb (the library shipped by the
  libusb-package wheel, so nothing needs installing).
- `ServerTransport` goes through the adb server on localhost:5037 with adbutils, because on a
  developer's desk the adb server usually already holds the USB phones.

Both give: shell (with the exit code), push, pull. Failures become one-line PackagerErrors that
say what to do (unlock the phone and accept the prompt, check the cable, ...).
"""

from __future__ import annotations

import os
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from packager.errors import PackagerError

EXIT_MARK = "__packager_exit__"
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ShellResult:
    output: str
    exit_code: int


@dataclass(frozen=True)
class DeviceEntry:
    serial: str
    state: str  # device, unauthorized, offline, ...
    transport: str  # "server" or "direct"


class Transport(Protocol):
    serial: str
    kind: str

    def shell(self, command: str, timeout: float = DEFAULT_TIMEOUT_S) -> ShellResult: ...
    def push(self, local: Path, remote: str) -> None: ...
    def pull(self, remote: str, local: Path) -> None: ...
    def close(self) -> None: ...


class DeviceLost(PackagerError):
    """The connection dropped in the middle of something; a retry may succeed."""


class DeviceTimeout(DeviceLost):
    """The device did not answer in time; the link is reset, so a retry starts clean."""


def _timeout(serial: str, what: str, seconds: float) -> DeviceTimeout:
    return DeviceTimeout(f"{serial} did not finish {what} within {seconds:g} s",
                         "the device may be busy, asleep or on a slow link: retry, or allow more time")


# --- keys -----------------------------------------------------------------------------------------
def android_user_home() -> Path:
    for variable in ("ANDROID_USER_HOME",):
        if os.environ.get(variable):
            return Path(os.environ[variable])
    if os.environ.get("ANDROID_SDK_HOME"):
        return Path(os.environ["ANDROID_SDK_HOME"]) / ".android"
    return Path.home() / ".android"


def adb_key_path() -> Path:
    """~/.android/adbkey (what the adb tool uses), created with 0600 permissions when missing."""
    path = android_user_home() / "adbkey"
    if not path.exists():
        from adb_shell.auth.keygen import keygen  # noqa: PLC0415

        path.parent.mkdir(parents=True, exist_ok=True)
        old_umask = os.umask(0o077)
        try:
            keygen(str(path))
        finally:
            os.umask(old_umask)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return path


def load_signer(path: Path | None = None):
    from adb_shell.auth.sign_pythonrsa import PythonRSASigner  # noqa: PLC0415

    path = path or adb_key_path()
    public = Path(str(path) + ".pub")
    try:
        if not public.exists():
            from adb_shell.auth.keygen import write_public_keyfile  # noqa: PLC0415

            write_public_keyfile(str(path), str(public))
        return PythonRSASigner(public.read_text(), path.read_text())
    except (ValueError, TypeError, IndexError, UnicodeDecodeError) as exc:  # rsa/pyasn1 on an empty or cut PEM
        raise PackagerError(f"the ADB key {path} is empty or damaged ({type(exc).__name__}: {str(exc)[:80] or 'no key'})",
                            f"move it away (and {public.name}); a new key is made on the next connection, which the phone asks to accept again") from None


# --- direct ADB with adb-shell -------------------------------------------------------------------
def _parse_exit(raw: str) -> ShellResult:
    output, mark, tail = raw.rpartition(EXIT_MARK)
    if not mark:
        return ShellResult(raw, 255)
    try:
        code = int(tail.strip() or "255")
    except ValueError:
        code = 255
    return ShellResult(output[:-1] if output.endswith("\n") else output, code)


class DirectTransport:
    """adb-shell's AdbDeviceTcp (host:port) or AdbDeviceUsb (serial), authenticated with our key."""

    kind = "direct"

    def __init__(self, target: str, auth_timeout_s: float = 10.0, transport_timeout_s: float = 30.0):
        self.serial = target
        self.auth_timeout_s = auth_timeout_s
        self.transport_timeout_s = transport_timeout_s
        self._device = None
        self.connect()

    def connect(self) -> None:
        from adb_shell import exceptions as adb_errors  # noqa: PLC0415

        host, _, port = self.serial.rpartition(":")
        if host.startswith("[") and host.endswith("]"):  # [::1]:5555, an IPv6 address
            host = host[1:-1]
        prompted: list[object] = []  # adb-shell calls back just before it offers our public key: the phone shows its prompt
        try:
            if host and port.isdigit():
                _load_libusb()  # importing adb_device loads libusb: make it the wheel's library
                from adb_shell.adb_device import AdbDevice  # noqa: PLC0415

                device = AdbDevice(_EofAwareTcpTransport(host, int(port)), default_transport_timeout_s=self.transport_timeout_s)
            else:
                device = _usb_device(self.serial, self.transport_timeout_s)
            device.connect(rsa_keys=[load_signer()], auth_timeout_s=self.auth_timeout_s, auth_callback=prompted.append)
        except _Unreachable as exc:
            raise PackagerError(f"cannot reach {self.serial} ({exc})",
                                "check the address and that the device (or `adb tcpip`) is listening") from None
        except adb_errors.DeviceAuthError:
            raise _unauthorized(self.serial) from None
        except (adb_errors.TcpTimeoutException, adb_errors.UsbReadFailedError, TimeoutError):
            if prompted:  # the key was offered and never accepted
                raise _unauthorized(self.serial) from None
            raise PackagerError(f"{self.serial} does not answer ADB (timed out waiting for its reply)",
                                "check that it is an ADB endpoint (`adb tcpip 5555` on the phone) and that it is awake") from None
        except (adb_errors.InvalidCommandError, adb_errors.InvalidChecksumError, struct.error):
            raise PackagerError(f"{self.serial} is not an ADB device: it answered something that is not ADB",
                                "check the port (the phone's `adb tcpip` port, usually 5555)") from None
        except (OSError, adb_errors.AdbConnectionError, adb_errors.InvalidResponseError) as exc:
            raise PackagerError(f"cannot connect to {self.serial}: {exc}", "check the cable or network, then retry") from None
        self._device = device

    def _ensure(self):
        if self._device is None or not self._device.available:
            self.connect()
        return self._device

    def _lost(self, what: str, exc: Exception, seconds: float | None = None) -> DeviceLost:
        from adb_shell import exceptions as adb_errors  # noqa: PLC0415

        self.close()
        if isinstance(exc, (adb_errors.AdbTimeoutError, adb_errors.TcpTimeoutException, socket.timeout, TimeoutError)):
            return _timeout(self.serial, what, seconds or self.transport_timeout_s)
        return DeviceLost(f"lost the connection to {self.serial} while {what} ({type(exc).__name__})",
                          "check the cable or network; the operation can be retried")

    def shell(self, command: str, timeout: float = DEFAULT_TIMEOUT_S) -> ShellResult:
        device = self._ensure()
        try:
            raw = device.shell(f"{command}; echo {EXIT_MARK}$?", read_timeout_s=timeout, timeout_s=timeout)
        except Exception as exc:  # noqa: BLE001 - adb-shell raises many kinds on a dropped link
            raise self._lost(f"running `{command[:60]}`", exc, timeout) from None
        return _parse_exit(raw)

    def push(self, local: Path, remote: str) -> None:
        device = self._ensure()
        try:
            device.push(str(local), remote, read_timeout_s=self.transport_timeout_s)
        except Exception as exc:  # noqa: BLE001
            raise self._lost(f"pushing {Path(local).name}", exc) from None

    def pull(self, remote: str, local: Path) -> None:
        device = self._ensure()
        try:
            device.pull(remote, str(local), read_timeout_s=self.transport_timeout_s)
        except Exception as exc:  # noqa: BLE001
            raise self._lost(f"pulling {remote}", exc) from None

    def close(self) -> None:
        if self._device is not None:
            try:
                self._device.close()
            except Exception:  # noqa: BLE001 - closing a dead link
                pass
        self._device = None


class _Unreachable(OSError):
    """No TCP connection could be made (refused, unknown host, timed out)."""


def _unauthorized(serial: str) -> PackagerError:
    return PackagerError(f"device {serial} is unauthorized: it did not accept this computer's ADB key",
                         "unlock the phone and accept the 'Allow USB debugging?' prompt, then retry")


def _eof_aware_transport_class():
    from adb_shell.transport.tcp_transport import TcpTransport  # noqa: PLC0415

    class EofAwareTcpTransport(TcpTransport):
        """adb-shell's TCP transport, with TCP_NODELAY, and a closed connection is an error at
        once (adb-shell would keep reading an empty socket until its read timeout)."""

        def connect(self, transport_timeout_s):
            try:
                super().connect(transport_timeout_s)
            except (ConnectionRefusedError, socket.gaierror, TimeoutError) as exc:
                raise _Unreachable(exc.strerror or str(exc) or "timed out") from None
            # ADB sends a 24-byte header, then the payload: with Nagle's algorithm and delayed
            # ACKs every command would stall ~40 ms
            self._connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def bulk_read(self, numbytes, transport_timeout_s):
            data = super().bulk_read(numbytes, transport_timeout_s)
            if numbytes and not data:
                raise ConnectionResetError("the device closed the connection")
            return data

    return EofAwareTcpTransport


def _EofAwareTcpTransport(host: str, port: int):  # noqa: N802 - a factory that reads as a class
    return _eof_aware_transport_class()(host, port)


def _load_libusb() -> str | None:
    """Make python-libusb1 (adb-shell's USB layer) use the libusb shipped by the libusb-package
    wheel, so USB works without a system libusb. Must run before adb_shell's USB transport is
    imported (it opens a libusb context at import). Returns the library's path."""
    try:
        import ctypes  # noqa: PLC0415

        import libusb_package  # noqa: PLC0415
        import usb1  # noqa: PLC0415
    except ImportError:
        return None
    path = libusb_package.get_library_path()
    if path is None:
        return None
    usb1.loadLibrary(ctypes.CDLL(str(path), use_errno=True, use_last_error=True))  # no-op once a library is loaded
    return str(path)


def _usb_device(serial: str, timeout: float):
    """adb-shell over USB (python-libusb1), on the first ADB interface with this serial."""
    _load_libusb()
    try:
        import usb1  # noqa: PLC0415
        from adb_shell import exceptions as adb_errors  # noqa: PLC0415
        from adb_shell.adb_device import AdbDevice  # noqa: PLC0415
        from adb_shell.transport.usb_transport import UsbTransport  # noqa: PLC0415
    except (ImportError, OSError) as exc:
        raise PackagerError(f"USB support is not available ({exc})", "reinstall packager with its dependencies, or use the adb server") from None
    try:
        transport = UsbTransport.find_adb(serial=serial or None, default_transport_timeout_s=timeout)
    except adb_errors.UsbDeviceNotFoundError:
        raise PackagerError(f"no USB device {serial or ''} with USB debugging found".replace("  ", " "),
                            "plug the phone in and enable USB debugging, or check the serial (`adb devices`)") from None
    except usb1.USBError as exc:
        raise PackagerError(f"cannot scan USB devices ({exc})", "use the adb server transport (`adb start-server`)") from None
    device = AdbDevice(transport, default_transport_timeout_s=timeout)
    original_connect = transport.connect

    def connect(transport_timeout_s=None):  # opening the interface is where USB access problems show
        try:
            original_connect(transport_timeout_s)
        except usb1.USBErrorBusy:
            raise PackagerError(f"USB device {serial} is held by another program (usually the adb server)",
                                "use the adb server transport, or stop it with `adb kill-server`") from None
        except usb1.USBErrorAccess:
            raise PackagerError(f"no permission to open USB device {serial}",
                                "add a udev rule for Android devices (plugdev group), or use the adb server") from None

    transport.connect = connect
    return device


# --- the adb server, with adbutils ---------------------------------------------------------------
def adb_server_address() -> tuple[str, int]:
    socket_spec = os.environ.get("ADB_SERVER_SOCKET", "")
    if socket_spec.startswith("tcp:"):
        host, _, port = socket_spec[4:].rpartition(":")
        return host or "127.0.0.1", int(port)
    return "127.0.0.1", int(os.environ.get("ANDROID_ADB_SERVER_PORT", "5037"))


def server_client():
    import adbutils  # noqa: PLC0415

    host, port = adb_server_address()
    return adbutils.AdbClient(host=host, port=port, socket_timeout=DEFAULT_TIMEOUT_S)


class ServerTransport:
    """A device held by the adb server (localhost:5037 unless ADB_SERVER_SOCKET says otherwise)."""

    kind = "server"

    def __init__(self, serial: str):
        import adbutils  # noqa: PLC0415

        self.serial = serial
        self._errors = (adbutils.AdbError, adbutils.AdbTimeout, OSError)
        self._timeouts = (adbutils.AdbTimeout, socket.timeout, TimeoutError)
        if not server_running():
            raise PackagerError(f"no adb server is running to reach {serial}", "start it with `adb start-server`, or pass --device HOST:PORT")
        client = server_client()
        try:
            states = {d.serial: d.state for d in client.list()}
        except self._errors as exc:
            raise PackagerError(f"the adb server at {':'.join(map(str, adb_server_address()))} does not answer ({exc})",
                                "start it with `adb start-server`") from None
        state = states.get(serial)
        if state is None:
            raise PackagerError(f"device {serial} is not attached to the adb server", "check `adb devices`; for a TCP device run `adb connect HOST:PORT`")
        if state == "unauthorized":
            raise PackagerError(f"device {serial} is unauthorized", "unlock the phone and accept the 'Allow USB debugging?' prompt, then retry")
        if state != "device":
            raise PackagerError(f"device {serial} is {state}", "reconnect it (cable, `adb reconnect`) and retry")
        self._device = client.device(serial)

    def shell(self, command: str, timeout: float = DEFAULT_TIMEOUT_S) -> ShellResult:
        try:
            result = self._device.shell2(command, timeout=timeout, rstrip=False, v2=True)
        except self._timeouts:
            raise _timeout(self.serial, f"running `{command[:60]}`", timeout) from None
        except self._errors as exc:
            raise DeviceLost(f"lost the connection to {self.serial} while running `{command[:60]}` ({exc})",
                             "check the cable or network; the operation can be retried") from None
        output = result.output if isinstance(result.output, str) else result.output.decode("utf-8", "replace")
        return ShellResult(output[:-1] if output.endswith("\n") else output, result.returncode)

    def push(self, local: Path, remote: str) -> None:
        try:
            self._device.sync.push(str(local), remote)
        except self._errors as exc:
            raise DeviceLost(f"lost the connection to {self.serial} while pushing {Path(local).name} ({exc})",
                             "check the cable or network; the operation can be retried") from None

    def pull(self, remote: str, local: Path) -> None:
        try:
            self._device.sync.pull(remote, str(local))
        except self._errors as exc:
            raise DeviceLost(f"lost the connection to {self.serial} while pulling {remote} ({exc})",
                             "check the cable or network; the operation can be retried") from None

    def close(self) -> None:
        pass


def server_running() -> bool:
    """Is an adb server listening? (adbutils would otherwise start one as a side effect.)"""
    try:
        with socket.create_connection(adb_server_address(), timeout=0.5):
            return True
    except OSError:
        return False


# --- choosing -------------------------------------------------------------------------------------
def list_devices(include_server: bool = True, include_usb: bool = True) -> list[DeviceEntry]:
    """Devices the adb server holds (with their state); when no adb server runs (it would hold the
    USB phones itself), the USB devices with an ADB interface that adb-shell can reach directly."""
    entries: list[DeviceEntry] = []
    if include_server and server_running():
        import adbutils  # noqa: PLC0415

        try:
            entries += [DeviceEntry(d.serial, d.state, "server") for d in server_client().list()]
        except (adbutils.AdbError, adbutils.AdbTimeout, OSError):
            pass
    elif include_usb:
        entries += [DeviceEntry(serial, "device", "usb") for serial in usb_serials()]
    return entries


def usb_serials() -> list[str]:
    """Serial numbers of the USB devices that offer ADB; empty when USB cannot be scanned here."""
    _load_libusb()
    try:
        from adb_shell.transport.usb_transport import UsbTransport  # noqa: PLC0415

        return [t.serial_number for t in UsbTransport.find_all_adb_devices()]
    except Exception:  # noqa: BLE001 - no libusb, no permission, no bus: nothing to list
        return []


def open_transport(target: str, prefer: str = "auto", auth_timeout_s: float = 10.0) -> Transport:
    """Through the adb server when it holds `target`; otherwise direct with adb-shell: `host:port`
    over TCP, a serial over USB (only when no adb server runs: it holds the USB phones itself).
    prefer='direct' or 'server' forces one way."""
    if prefer == "direct":
        return DirectTransport(target, auth_timeout_s=auth_timeout_s)
    if prefer == "server":
        return ServerTransport(target)
    running = server_running()
    held = {e.serial: e for e in list_devices(include_usb=False)} if running else {}
    if target in held:
        return ServerTransport(target)
    if ":" in target or not running:
        return DirectTransport(target, auth_timeout_s=auth_timeout_s)
    raise PackagerError(f"device {target} is not attached to the adb server",
                        f"attached: {', '.join(held) or 'none'}; check `adb devices` (for a TCP device: `adb connect HOST:PORT`)")


def resolve_targets(values: list[str] | tuple[str, ...], split_commas: bool = False) -> list[str]:
    """Handsets named by --device values, in order, each once: 'all' is every device the adb server
    (or USB) holds in the 'device' state; SERIAL and HOST:PORT stand for themselves (with
    split_commas, 'a,b' names two)."""
    targets: list[str] = []
    for value in values:
        if value == "all":
            targets += [e.serial for e in list_devices() if e.state == "device"]
        else:
            targets += [v for v in value.split(",") if v] if split_commas else [value]
    return list(dict.fromkeys(targets))
