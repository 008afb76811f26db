"""JSON Schema validation of the project's contracts (metadata/*.schema.json)."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from packager.errors import PackagerError

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "metadata"
if not SCHEMA_DIR.is_dir():  # installed as a wheel: schemas are packaged beside the code
    SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

KNOWN = ("manifest", "bench-request", "bench-result", "build-spec", "budgets")


@lru_cache(maxsize=None)
def load_schema(kind: str) -> dict[str, Any]:
    path = SCHEMA_DIR / f"{kind}.schema.json"
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


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
            f"{what or kind} is not valid against metadata/{kind}.schema.json: {problems[0]}{more}",
            "fix the field named above",
        )
