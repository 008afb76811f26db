"""A model's input shapes with their dynamic dimensions filled from `--size` (`HxW`, or `NAME=AxB...`
per input); a dimension left dynamic is one error naming the input and the flag. Used by the Keras
converter, the .tflite source and the first load of every model."""

from __future__ import annotations

import re
from dataclasses import dataclass

from packager.errors import PackagerError


@dataclass(frozen=True)
class InputSizes:
    """--size: `HxW` for the image input(s) (or all dimensions but the batch of a single input),
    `NAME=AxB...` for one named input. Fills the dynamic dimensions of a model's inputs."""

    default: tuple[int, ...] | None = None
    by_name: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def given_for(self, name: str) -> tuple[tuple[int, ...], str] | None:
        """(size, how it was written) for input `name`: by name first, then the default."""
        for key, size in self.by_name:
            if key == name or _bare(key) == _bare(name):
                return size, f"--size {key}={'x'.join(map(str, size))}"
        if self.default is not None:
            return self.default, f"--size {'x'.join(map(str, self.default))}"
        return None


def _bare(name: str) -> str:
    """'serving_default_input_1:0' -> 'input_1': the converter's decorations of an input name."""
    return re.sub(r":\d+$", "", name).removeprefix("serving_default_")


def _dimension_names(rank: int) -> list[str]:
    return ["batch", "height", "width", "channels"] if rank == 4 else ["batch", *(f"dimension {i}" for i in range(1, rank))]


def fixed_shape(name: str, shape, sizes: InputSizes | None, what: str = "the model") -> list[int | None]:
    """`shape` (None or -1 where dynamic) with every dynamic dimension but the batch filled from
    --size; a dimension still dynamic is one clear error naming it and the flag."""
    dims = [None if d is None or int(d) < 0 else int(d) for d in shape]
    given = sizes.given_for(name) if sizes is not None else None
    if given is not None and len(dims) > 1:
        size, flag = given
        positions = [1, 2] if len(dims) == 4 and len(size) == 2 else list(range(1, len(dims))) if len(size) == len(dims) - 1 else None
        if positions is None:
            raise PackagerError(f"{flag} gives {len(size)} dimensions but input {_bare(name)!r} of {what} has shape {_shown(dims)}",
                                f"give HxW for an image input or all {len(dims) - 1} dimensions after the batch, e.g. --size {_bare(name)}="
                                + "x".join(str(d) if d is not None else "96" for d in dims[1:]))
        for position, value in zip(positions, size):
            if dims[position] is None:
                dims[position] = int(value)
            elif dims[position] != int(value):
                raise PackagerError(f"{flag} differs from input {_bare(name)!r} of {what}, whose {_dimension_names(len(dims))[position]} "
                                    f"is fixed at {dims[position]} (shape {_shown(dims)})", "drop --size for it")
    dynamic = [i for i in range(1, len(dims)) if dims[i] is None]
    if dynamic:
        names = _dimension_names(len(dims))
        example = "x".join(str(d) if d is not None else "96" for d in dims[1:])
        flag = f"--size {_bare(name)}={example}" if len(dims) != 4 or dynamic != [1, 2] else f"--size 96x96 (or --size {_bare(name)}=96x96)"
        raise PackagerError(
            f"input {_bare(name)!r} of {what} has no fixed {', '.join(names[i] for i in dynamic)} (shape {_shown(dims)}): "
            "LiteRT on the phone and quantization need one",
            f"fix it with {flag}, the size the app will feed")
    return dims


def _shown(dims) -> str:
    return "[" + ", ".join("None" if d is None else str(d) for d in dims) + "]"
