"""Small file helpers shared by every module that writes or fingerprints files."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomic(path: Path | str, data: bytes | str) -> None:
    """Write via a temporary name in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
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
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise DocumentError(f"larger than {limit:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _parse_bounded(text: str, parse, decode_error: type[Exception], what: str) -> object:
    """`parse(text)` with its recursion and decode errors turned into DocumentError, then depth-checked."""
    try:
        data = parse(text)
    except RecursionError:
        raise DocumentError(f"nested deeper than {MAX_DOCUMENT_DEPTH} levels") from None
    except decode_error as exc:
        raise DocumentError(f"{what}: {exc}") from None
    _check_depth(data)
    return data


def loads_json(text: str) -> object:
    """json.loads with bounded depth: DocumentError (a ValueError) for anything that is not a sane document."""
    import json  # noqa: PLC0415

    return _parse_bounded(text, json.loads, json.JSONDecodeError, "not JSON")


def read_json(path: Path | str) -> object:
    """A JSON file, bounded in size and depth; DocumentError or OSError (FileNotFoundError) when it is not one."""
    return loads_json(read_text_bounded(path))


def read_toml(path: Path | str) -> dict:
    """A TOML file, bounded in size and depth; DocumentError (with TOMLDecodeError's text) or OSError."""
    import tomllib  # noqa: PLC0415

    return _parse_bounded(read_text_bounded(path), tomllib.loads, tomllib.TOMLDecodeError, "not valid TOML")
