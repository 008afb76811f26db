"""`packager runtimes`: the app's runtime target and its cached environments (packager/runtime)."""

from __future__ import annotations

from typing import Any

import click

from packager.commands.common import json_option, print_json

_RUNTIME = click.option("--runtime", "runtimes", multiple=True, metavar="'KIND VERSION'",
                        help="A runtime of your app (repeatable), e.g. 'tflite 2.16.1'; default: the demo app's catalog.")


@click.group("runtimes", invoke_without_command=True)
@_RUNTIME
@json_option
@click.pass_context
def runtimes(ctx: click.Context, runtimes: tuple[str, ...], json_output: bool) -> None:
    """The runtimes every variant is proved in, and whether their environments are cached."""
    if ctx.invoked_subcommand is not None:
        return
    from packager.runtime import envs, targets  # noqa: PLC0415

    rows: list[dict[str, Any]] = []
    for t in targets.resolve(runtimes):
        ready = envs.ready(t) is not None
        rows.append({"runtime": t.name, "wheel": t.wheel, "accelerators": list(t.accelerators), "kernels": t.resolver,
                     "source": t.source, "environment": str(envs.env_dir(t)), "cached": ready,
                     "numpy": (envs.installed(t).get("packages") or {}).get("numpy") if ready else None})
    if json_output:
        print_json({"runtimes": rows})
        return
    for r in rows:
        state = f"cached (numpy {r['numpy']})" if r["cached"] else "not cached: `packager runtimes setup`"
        click.echo(f"{r['runtime']:<16} {r['wheel']:<26} {', '.join(r['accelerators']):<20} {state}  [{r['environment']}]")


@runtimes.command("setup")
@_RUNTIME
def setup(runtimes: tuple[str, ...]) -> None:
    """Make (or find cached) the runtimes' environments: uv venv + uv pip install, once."""
    from packager.runtime import envs, targets  # noqa: PLC0415

    for t in targets.resolve(runtimes):
        cached = envs.ready(t) is not None
        python = envs.ensure(t)
        click.echo(f"{t.name}: {'cached' if cached else 'made'} {python.parent.parent}")
