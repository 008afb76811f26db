"""Progress bars for long loops (calibration, evaluation, device runs), on stderr.

Disabled when stderr is not a terminal or when a command prints --json, so scripts and logs get
clean output.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from packager import text

_enabled: bool | None = None
stderr_console = text.console(stderr=True)


def set_enabled(enabled: bool | None) -> None:
    """True/False forces; None means 'when stderr is a terminal'."""
    global _enabled
    _enabled = enabled


def ignore(n: int = 1) -> None:
    """The `advance` of a task whose bar is not shown."""


def enabled() -> bool:
    return sys.stderr.isatty() if _enabled is None else _enabled


@contextlib.contextmanager
def task(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """`with task("Calibrating", n) as advance: ... advance(1)`."""
    if not enabled():
        yield ignore
        return
    columns = [SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=stderr_console, transient=True) as bar:
        handle = bar.add_task(description, total=total)
        yield functools.partial(bar.advance, handle)  # advance(n=1) -> bar.advance(handle, n)


def status(message: str) -> None:
    """A one-line step announcement (suppressed with progress)."""
    if enabled():
        stderr_console.print(text.styled("[dim]•[/dim] {}", message))
