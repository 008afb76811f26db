"""JSON Schema validation of the project's contracts.

The schemas are package data beside this file (packager/schemas/*.schema.json), read through
importlib.resources so they are found the same way from a checkout, an installed wheel or a zip.
This directory is their only copy in the repository (metadata/README.md points here)."""

from __future__ import annotations

import copy
import json
import math
import re
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from packager.errors import PackagerError
from packager.fileio import DocumentError, read_toml

KNOWN = ("manifest", "bench-request", "bench-result", "build-spec", "budgets", "device-results")


@cache
def load_schema(kind: str) -> dict[str, Any]:
    if kind not in KNOWN:
        raise ValueError(f"unknown schema {kind!r}; known: {', '.join(KNOWN)}")
    text = resources.files(__name__).joinpath(f"{kind}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _ecma_pattern(pattern: str) -> re.Pattern:
    """A schema pattern as JSON Schema means it (ECMA-262): `$` is the end of the string. Python's
    `$` also matches before a final newline, so a name "g\\n" passed "^[A-Za-z0-9]...$"; an
    unescaped `$` outside a character class becomes `\\Z`."""
    out, escaped, in_class = [], False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "$" and not in_class:
            ch = r"\Z"
        out.append(ch)
    return re.compile("".join(out))


_PATTERNS: dict[str, re.Pattern] = {}


def _pattern(validator, pattern: str, instance: Any, schema: dict) -> Any:
    if validator.is_type(instance, "string"):
        compiled = _PATTERNS.get(pattern) or _PATTERNS.setdefault(pattern, _ecma_pattern(pattern))
        if not compiled.search(instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _date_time(value: object) -> bool:
    """RFC 3339 date-time (jsonschema checks it only with an optional package, which is not installed)."""
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value, re.IGNORECASE):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    schema = load_schema(kind)
    base = jsonschema.validators.validator_for(schema)
    base.check_schema(schema)
    cls = jsonschema.validators.extend(base, {"pattern": _pattern})
    checker = copy.deepcopy(base.FORMAT_CHECKER)
    checker.checks("date-time")(_date_time)
    return cls(schema, format_checker=checker)


def _non_finite(data: Any) -> list[str]:
    """NaN and ±Infinity pass every JSON Schema number keyword (each comparison is false), so
    they are refused here: no document of the project may hold one."""
    out: list[str] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), data)]  # (path of keys and indices, value)
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
