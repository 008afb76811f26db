"""Small file helpers shared by every module that writes or fingerprints files."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


class NotRegularFile(OSError):
    """A path that names a FIFO, device, socket or folder where a file is read. An OSError, so every
    caller's `except OSError` turns it into its one line; strerror says what the path is and what to do."""

    def __init__(self, path: Path | str, mode: int):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        super().__init__(errno.EINVAL, f"is {kind}, not a regular file", str(path))

    def __str__(self) -> str:
        return f"{self.filename} {self.strerror}"


def refuse_special(path: Path | str, *, allow_dir: bool = True) -> None:
    """Raise NotRegularFile when `path` exists and is a FIFO, device or socket (or a folder, unless
    `allow_dir`): reading one blocks for ever or never ends. For libraries that open paths themselves
    (numpy, PIL, LiteRT); this module's readers use open_regular, which cannot race."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing or unreadable: the caller's own open says so
    if not (stat.S_ISREG(mode) or (allow_dir and stat.S_ISDIR(mode))):
        raise NotRegularFile(path, mode)


def open_regular(path: Path | str) -> BinaryIO:
    """Open a file for reading, refusing (NotRegularFile) anything but a regular file before reading:
    opened non-blocking, so a FIFO without a writer cannot hang the open, and checked on the open
    descriptor, so the path cannot be swapped between the check and the read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def current_umask() -> int:
    """The process's umask (reading it means setting it: set back at once). Files made with
    mkdtemp/NamedTemporaryFile are 0700/0600; what packager leaves for users gets the usual mode."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path | str, data: bytes | str) -> None:
    """Write via a temporary name in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:  # exclusive: never through a link planted at the temporary name
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# Bounds on every JSON/TOML document read from a file (manifest.json, device results, index.json,
# build.toml, budgets.toml). The largest real one, device results of a few hundred runs with their
# latencies, is a few MB; the deepest nests 6 levels. Parsers and jsonschema recurse once per level,
# so a hostile file nested 100,000 deep would end in RecursionError instead of a message.
MAX_DOCUMENT_BYTES = 64 << 20
MAX_DOCUMENT_DEPTH = 64


class DocumentError(ValueError):
    """A document that is too large, too deep or not JSON; str() says which, in a few words."""


def _check_depth(data: object) -> None:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DOCUMENT_DEPTH:
            raise DocumentError(f"nested deeper than {MAX_DOCUMENT_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def read_text_bounded(path: Path | str, limit: int = MAX_DOCUMENT_BYTES) -> str:
    """The text of a document file, refused (DocumentError) above `limit` bytes; OSError as usual."""
    with open_regular(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise DocumentError(f"larger than {limit:,} bytes")
    try:
        return data.decode("utf-8-sig")  # a byte-order mark (Windows editors write one) is not text
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


_Parsed = TypeVar("_Parsed")


def _parse_bounded(text: str, parse: Callable[[str], _Parsed], decode_error: type[Exception], what: str) -> _Parsed:
    """`parse(text)` with its recursion and decode errors turned into DocumentError, then depth-checked."""
    try:
        data = parse(text)
    except RecursionError:
        raise DocumentError(f"nested deeper than {MAX_DOCUMENT_DEPTH} levels") from None
    except decode_error as exc:
        raise DocumentError(f"{what}: {exc}") from None
    except ValueError as exc:  # an integer over Python's digit limit, a duplicate key (_unique_keys)
        text = str(exc)
        if "integer string conversion" in text:
            text = f"an integer of more than {sys.get_int_max_str_digits()} digits"
        raise DocumentError(f"{what}: {' '.join(text.split())[:200]}") from None
    _check_depth(data)
    return data


def loads_json(text: str) -> object:
    """json.loads with bounded depth: DocumentError (a ValueError) for anything that is not a sane document."""
    import json  # noqa: PLC0415

    return _parse_bounded(text, lambda t: json.loads(t, object_pairs_hook=_unique_keys), json.JSONDecodeError, "not JSON")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys are unique: with a duplicate, readers disagree on which value counts."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"key {key!r} appears twice in one object")
            seen.add(key)
    return data


def read_json(path: Path | str, limit: int | None = None) -> object:
    """A JSON file, bounded in size (MAX_DOCUMENT_BYTES, or `limit`) and depth; DocumentError or OSError
    (FileNotFoundError) when it is not one."""
    return loads_json(read_text_bounded(path, MAX_DOCUMENT_BYTES if limit is None else limit))


def read_toml(path: Path | str) -> dict:
    """A TOML file, bounded in size and depth; DocumentError (with TOMLDecodeError's text) or OSError."""
    import tomllib  # noqa: PLC0415

    return _parse_bounded(read_text_bounded(path), tomllib.loads, tomllib.TOMLDecodeError, "not valid TOML")


# Each retry follows a rename by another writer, so this bounds how many concurrent writers we outlast.
_SWAP_ATTEMPTS = 100


def remove_entry(path: Path) -> None:
    """Remove a swapped-out entry: a folder of ours with its contents; a symbolic link (or a file) as
    the entry itself, never what it points to. Errors are ignored (best effort, like rmtree's)."""
    try:
        if os.path.islink(path) or not os.path.isdir(path):
            os.unlink(path)
        else:
            shutil.rmtree(path, ignore_errors=True)
    except OSError:
        pass


def replace_folder(staging: Path, final: Path) -> None:
    """Move staging to final; whatever is at final (a folder, or a symbolic link, which is moved as a
    link and its target left alone) is swapped out, then removed.

    Another process may be replacing the same folder at the same moment: its rename can take
    `final` away between our lexists() and rename (FileNotFoundError) or put a new one there
    before ours lands (ENOTEMPTY/EEXIST). Both are retried; the last writer wins and every
    swapped-out copy is removed."""
    olds = []
    try:
        for _ in range(_SWAP_ATTEMPTS):
            if os.path.lexists(final):
                old = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.old")
                try:
                    os.replace(final, old)
                    olds.append(old)
                except FileNotFoundError:
                    continue  # another writer moved it first
            try:
                os.replace(staging, final)
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    if olds and not os.path.lexists(final):
                        os.replace(olds.pop(), final)  # put the previous one back
                    raise
        raise OSError(errno.EBUSY, "other processes keep replacing the same folder", str(final))
    finally:
        for old in olds:
            remove_entry(old)


def own_folder(path: Path) -> Path:
    """`path` as a folder packager may write into: created when missing; a symbolic link, or anything
    but a folder, raises OSError (the caller's one line) instead of being written through."""
    try:
        os.mkdir(path)
    except FileExistsError:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            raise OSError(errno.ELOOP, "is a symbolic link: packager writes only into folders of its own there, "
                          "never through a link; remove the link", str(path)) from None
        if not stat.S_ISDIR(mode):
            raise OSError(errno.ENOTDIR, "is not a folder; move it away", str(path)) from None
    return Path(path)


def linked_component(root: Path, relative: str | Path) -> Path | None:
    """The first component of root/relative that is a symbolic link (None when there is none):
    files a bundle or an app lists are read and written only as what they are there, never through
    a link to elsewhere (/etc/passwd as a golden file, assets/models as a link out of the app)."""
    current = Path(root)
    for part in Path(relative).parts:
        current = current / part
        if os.path.islink(current):
            return current
    return None
