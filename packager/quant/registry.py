"""Quantization engines behind one protocol, found by name in one registry.

An engine (`QuantEngine`) says which quantization kinds it makes, the ways it can make a recipe
(`ways`: the candidates the engine choice measures, e.g. one per activation-range method) and makes
one (`derive`). Engines register a factory under their name (`@register`, as ai-edge-quantizer
registers its algorithms; the built-in ones when packager.quant.engines is imported);
`engines.Engines` sets every registered engine up for one float model, and the build, the engine
choice and `--quant auto` ask it instead of comparing engine names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from packager.data.dataset import Samples
from packager.errors import PackagerError

# packager.quant.engines' Recipe and Variant: engines imports this module (to register its engines and
# check recipes against them), so this one names them without importing them.
Recipe = Any
Variant = Any


@dataclass(frozen=True)
class Way:
    """One way an engine can make a recipe: the engine, how it calibrates (the manifest's label) and the
    exact recipe it is made from."""

    engine: EngineName
    calibration: str | None
    recipe: Recipe


EngineName = Literal["tf-converter", "ai-edge-quantizer"]  # as the manifest's EngineCandidate.engine and its schema


class QuantEngine(Protocol):
    name: ClassVar[EngineName]
    kinds: ClassVar[tuple[str, ...]]  # quantization kinds this engine makes
    needs_source: ClassVar[bool]  # needs the Keras/SavedModel source (not only the float .tflite)
    releases_gil: ClassVar[bool]  # mostly C++ that releases the GIL: worth running on another thread
    packager_calibration: ClassVar[bool]  # calibrates with packager.quant.calibration METHODS, honours equalize and bias_correction

    def ways(self, recipe: Recipe, calibration: Samples | None) -> list[Way]: ...

    def derive(self, recipe: Recipe, calibration: Samples | None) -> Variant: ...


# name -> (engine class, factory from (float_model, converter), None when it cannot work on this source)
_REGISTRY: dict[str, tuple[type[QuantEngine], Callable[[bytes, Any], QuantEngine | None]]] = {}
_Engine = TypeVar("_Engine", bound=type[QuantEngine])


def register(factory: Callable[[bytes, Any], QuantEngine | None] | None = None) -> Callable[[_Engine], _Engine]:
    """Class decorator: register an engine class under its `name`; `factory` builds it for a float model
    and converter (default: the class called with both)."""

    def add(cls: _Engine) -> _Engine:
        _REGISTRY[cls.name] = (cls, factory or cls)
        return cls

    return add


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def factory(name: str) -> Callable[[bytes, Any], QuantEngine | None]:
    engine_class(name)
    return _REGISTRY[name][1]


def engine_class(name: str) -> type[QuantEngine]:
    if name not in _REGISTRY:
        raise PackagerError(f"unknown quantization engine {name!r}", f"use one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name][0]


def makes(name: str, kind: str) -> bool:
    """Whether engine `name` makes `kind` variants."""
    return kind in engine_class(name).kinds


def needs_source(name: str) -> bool:
    return bool(engine_class(name).needs_source)


def packager_calibration(name: str) -> bool:
    return bool(engine_class(name).packager_calibration)
