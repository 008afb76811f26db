"""The `packager` command line: a thin group over one module per command (packager/commands/).

Command modules are imported lazily so `packager --help` answers without loading TensorFlow.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading

import click

from packager import INSTALLED
from packager.errors import PackagerError
from packager.text import one_line

# command name -> (module under packager.commands, attribute, short help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "build": ("build", "build", "Convert, quantize, evaluate, add metadata and write an app-ready bundle."),
    "inspect": ("inspect", "inspect", "Show a .tflite model's tensors, metadata, operators and size."),
    "demo": ("demo", "demo", "Train a small digits model and build it end to end (the embedded example)."),
    "bundle": ("bundle", "bundle", "Install a bundle into an Android app's assets."),
    "device": ("device", "device", "List handsets, benchmark bundles on them, start a virtual handset."),
    "report": ("report", "report", "Regenerate a bundle's report, merging device results."),
    "runtimes": ("runtimes", "runtimes", "The app's runtime versions every variant is proved in; set up their environments."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        try:
            mod = importlib.import_module(f"packager.commands.{module}")
        except ModuleNotFoundError as exc:
            if exc.name == f"packager.commands.{module}":
                return None  # not built yet
            raise
        return getattr(mod, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Click's own errors (an unknown option, a value out of range) are one line too, not
        usage + hint + error over four lines: `error: <what>; see `packager build --help``, exit 2."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except click.ClickException as err:
            ctx = getattr(err, "ctx", None)
            where = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
            click.secho(f"error: {one_line(' '.join(err.format_message().split()).rstrip('.'))}{where}.", fg="red", err=True)
            sys.exit(err.exit_code)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PackagerError as err:  # its text may quote a model's or a handset's strings: shown, not interpreted
            click.secho(f"error: {one_line(err.one_line())}", fg="red", err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name=INSTALLED, prog_name="packager")
def main() -> None:
    """Package trained models for Android and test them on handsets."""


def entry() -> None:
    """The `packager` console script: `main`, then, once TensorFlow was loaded, an exit that skips
    tearing it down (finalizing its thousands of modules and objects takes 2-5 s after the work is
    done). What a normal exit does that matters still happens: non-daemon threads are joined,
    atexit handlers run (temporary folders, logging, the LiteRT worker), stdout and stderr are
    flushed, and the exit code is the same."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:  # a message: Python would print it and exit 1
            print(exc.code, file=sys.stderr)
            code = 1
    if "tensorflow" not in sys.modules:
        sys.exit(code)
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # noqa: SLF001 - what interpreter shutdown would run first
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
