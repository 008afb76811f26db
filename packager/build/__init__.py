"""`packager build` as a library, one module per stage: spec -> convert -> prepare (facts, labels, data) -> variants -> selection -> golden files -> manifest.

`from packager.build import build` is the public entry point; it is loaded on first use so importing a stage module (spec, say) does not load the pipeline.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BuildResult", "build"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from packager.build import pipeline  # noqa: PLC0415 - loaded on first use: the stage modules stay light

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
