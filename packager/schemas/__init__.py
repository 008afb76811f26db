"""JSON Schema validation of the project's contracts.

The schemas are package data beside this file (packager/schemas/*.schema.json), read through
importlib.resources so they are found the same way from a checkout, an installed wheel or a zip.
This directory is their only copy in the repository (metadata/README.md points here)."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from packager.errors import PackagerError
from packager.fileio import DocumentError, read_toml

KNOWN = ("manifest", "bench-request", "bench-result", "build-spec", "budgets", "device-results")


@lru_cache(maxsize=None)
def load_schema(kind: str) -> dict[str, Any]:
    if kind not in KNOWN:
        raise ValueError(f"unknown schema {kind!r}; known: {', '.join(KNOWN)}")
    text = resources.files(__name__).joinpath(f"{kind}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=None)
def _validator(kind: str) -> jsonschema.protocols.Validator:
    schema = load_schema(kind)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _non_finite(data: Any) -> list[str]:
    """NaN and ±Infinity pass every JSON Schema number keyword (each comparison is false), so
    they are refused here: no document of the project may hold one."""
    out, stack = [], [((), data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            out.append(f"{'/'.join(map(str, where)) or '(top level)'}: {value} is not a finite number")
        elif isinstance(value, dict):
            stack.extend(((*where, k), v) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend(((*where, i), v) for i, v in enumerate(value))
    return sorted(out)


def errors(kind: str, data: Any) -> list[str]:
    """All violations of schema `kind`, as 'path: message' strings (empty when valid)."""
    out = _non_finite(data)
    if out:
        return out
    for err in sorted(_validator(kind).iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        out.append(f"{where}: {err.message}")
    return out


def validate(kind: str, data: Any, what: str | None = None) -> None:
    """Raise PackagerError naming the first violation when `data` does not match schema `kind`."""
    problems = errors(kind, data)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PackagerError(
            f"{what or kind} is not valid against packager/schemas/{kind}.schema.json: {problems[0]}{more}",
            "fix the field named above",
        )


def load_toml(kind: str, path: str | Path, what: str, missing_hint: str) -> dict[str, Any]:
    """A TOML file (bounded in size and depth) validated against schema `kind`; one PackagerError
    naming `what` (e.g. "config file") when it is missing, unreadable, not TOML or not valid."""
    path = Path(path)
    try:
        data = read_toml(path)
    except FileNotFoundError:
        raise PackagerError(f"{what} {path} does not exist", missing_hint) from None
    except OSError as exc:
        raise PackagerError(f"cannot read {what} {path}: {exc}", "check the file") from None
    except DocumentError as exc:
        raise PackagerError(f"{what} {path} is {exc}", "fix the file") from None
    validate(kind, data, what=f"{what} {path}")
    return data
