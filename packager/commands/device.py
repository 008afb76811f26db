"""`packager device ...`: thin commands over packager.device."""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click

from packager import progress
from packager.bundle.reader import load_bundle
from packager.commands.common import InputPath, json_option, print_json, verbose_option
from packager.commands.device_farm import farm
from packager.device.bench import bench
from packager.device.cleanup import clean
from packager.device.contract import ACCELERATORS
from packager.device.handset import Handset
from packager.device.results import DeviceResults, table
from packager.device.runner import AppRunner, BenchmarkModelRunner
from packager.device.transport import list_devices, resolve_targets, server_running
from packager.errors import PackagerError
from packager.text import console as plain_console


@click.group("device")
def device() -> None:
    """Android handsets: list them, benchmark bundles on them, start a virtual one."""


@device.command("list")
@json_option
def list_cmd(json_output: bool) -> None:
    """Devices the adb server holds (or, without a server, USB phones reached directly), with their properties."""

    rows = []
    for entry in list_devices():
        row = {"serial": entry.serial, "state": entry.state, "transport": entry.transport}
        if entry.state == "device":
            try:
                props = Handset.open(entry.serial, prefer="direct" if entry.transport == "usb" else "server").props()
                row.update(props.to_dict())
            except PackagerError as exc:
                row["error"] = exc.one_line()
        rows.append(row)
    if json_output:
        print_json({"adb_server": server_running(), "devices": rows})
        return
    from rich.table import Table  # noqa: PLC0415


    console = plain_console()
    if not rows:
        console.print("No devices: " + ("the adb server holds none (check `adb devices`)." if server_running()
                                        else "no adb server is running. Use --device HOST:PORT for TCP devices, or `packager device virtual`."))
        return
    table = Table(title="Android devices")
    for col in ("serial", "state", "manufacturer", "model", "soc", "abi", "sdk", "android"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["serial"], r["state"], r.get("manufacturer", ""), r.get("model", ""), str(r.get("soc") or ""),
                      r.get("abi", ""), str(r.get("sdk", "")), r.get("android_version", r.get("error", "")))
    console.print(table)


@device.command("bench")
@click.argument("bundles", nargs=-1, required=True, type=InputPath())
@click.option("-d", "--device", "devices", multiple=True, help="SERIAL, HOST:PORT or 'all' (repeatable).")
@click.option("--virtual", is_flag=True, help="Also run on a virtual handset started for this command.")
@click.option("-a", "--accelerator", default="cpu,xnnpack", show_default=True, help="cpu, xnnpack, gpu, nnapi, npu (comma-separated).")
@click.option("--runs", default=20, show_default=True, type=click.IntRange(1, 100000), help="Measured runs per bundle x accelerator.")
@click.option("--warmup", default=3, show_default=True, type=click.IntRange(0, 10000), help="Warm-up runs before measuring.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 64), help="CPU threads for the model.")
@click.option("--benchmark-model", type=InputPath(), help="Run with this TFLite benchmark_model binary instead of the app.")
@click.option("--retries", default=1, show_default=True, type=click.IntRange(0, 10), help="Retries after a lost connection.")
@click.option("--result-timeout", default=180.0, show_default=True, type=click.FloatRange(0.5, 86400),
              help="Seconds to wait for the app's result of one request before giving up.")
@click.option("--allow-fallback", is_flag=True,
              help="Exit 0 when a requested accelerator fell back to another one (status 'fallback'); without it that exits 2.")
@click.option("-o", "--out", type=click.Path(path_type=Path), help="Write the results JSON here.")
@json_option
@verbose_option
def bench_cmd(bundles, devices, virtual, accelerator, runs, warmup, threads, benchmark_model, retries, result_timeout, allow_fallback,
              out, json_output) -> None:
    """Run BUNDLES on handsets: latency, memory, parity with the host, APK size."""

    refs = [load_bundle(b) for b in bundles]
    accelerators = [a.strip() for a in accelerator.split(",") if a.strip()]
    unknown = [a for a in accelerators if a not in ACCELERATORS]
    if unknown:
        raise PackagerError(f"unknown accelerator {', '.join(unknown)}", f"use {', '.join(ACCELERATORS)}")
    targets = resolve_targets(devices)
    with contextlib.ExitStack() as stack:
        if virtual:
            from packager.device import virtual as virtual_kit  # noqa: PLC0415

            targets.append(virtual_kit.start(stack.callback).address)  # stopped when the runs are done
        if not targets:
            raise PackagerError("no device to run on", "pass --device SERIAL|HOST:PORT|all, or --virtual")
        targets = list(dict.fromkeys(targets))
        total = len(refs) * len(accelerators)
        with _bars(targets, total) as bars:
            def one(target: str) -> DeviceResults:
                handset = Handset.open(target)
                try:
                    runner = BenchmarkModelRunner(benchmark_model) if benchmark_model else AppRunner(timeout_s=result_timeout)
                    return bench(handset, refs, accelerators, runner, threads=threads, warmup=warmup, runs=runs, retries=retries,
                                 advance=bars[target])
                finally:
                    handset.close()

            with ThreadPoolExecutor(max_workers=len(targets)) as pool:  # one thread per handset: a rack runs in parallel
                per_device = list(pool.map(one, targets))
    results = DeviceResults()
    for r in per_device:
        results.extend(r)
    if out:
        results.write(out)
    if json_output:
        print_json(results.to_dict())
    else:
        _print_results(results, out)
    if any(r.status == "error" for r in results.runs):
        raise PackagerError("some runs failed (see the status column, or `errors` in the JSON)", "check the errors and the device's logcat")
    fell_back = [r for r in results.runs if r.status == "fallback"]
    if fell_back and not allow_fallback:
        more = f" (and {len(fell_back) - 1} more run(s) fell back)" if len(fell_back) > 1 else ""
        raise PackagerError(f"{fell_back[0].fallback_line()}{more}; falling back is not success",
                            "pass --allow-fallback to accept runs on the fallback accelerator, or run on a device that has it")


def _print_results(results, out: Path | None) -> None:

    # a log or a pipe gets the whole table (Rich would cut it to 80 columns); a terminal gets its width
    console = plain_console(width=None if sys.stdout.isatty() else 160)
    console.print(table(results))
    for apk in results.apks:
        if apk.breakdown:
            b = apk.breakdown
            console.print(f"{apk.package} on {apk.serial}: installed {apk.installed_bytes / 1e6:.1f} MB; "
                          + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in b.categories.items() if v) + f"; models {b.model_share:.1%}")
    console.print(f"transferred {results.bytes_pushed} bytes, skipped {results.bytes_skipped} unchanged bytes"
                  + (f"; results in {out}" if out else ""))


@contextlib.contextmanager
def _bars(targets: list[str], total: int) -> Iterator[dict[str, Callable[[int], None]]]:
    """One progress bar per handset, all in one live display (on stderr, only on a terminal)."""

    if not progress.enabled():
        yield dict.fromkeys(targets, progress.ignore)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    columns = [SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=progress.stderr_console, transient=True) as bar:
        handles = {t: bar.add_task(f"Benchmarks on {t}", total=total) for t in targets}
        yield {t: functools.partial(bar.advance, handles[t]) for t in targets}


@device.command("clean")
@click.option("-d", "--device", "devices", multiple=True, required=True, help="SERIAL, HOST:PORT or 'all' (repeatable).")
@json_option
def clean_cmd(devices, json_output: bool) -> None:
    """Remove the models and inputs the kit keeps on handsets (kept so unchanged bundles are not pushed again)."""

    targets = resolve_targets(devices)
    if not targets:
        raise PackagerError("no device to clean", "pass --device SERIAL|HOST:PORT, or connect one for --device all")
    done = []
    for target in dict.fromkeys(targets):
        handset = Handset.open(target)
        try:
            done.append(clean(handset))
        finally:
            handset.close()
    if json_output:
        print_json({"cleaned": [c.to_dict() for c in done]})
        return
    for c in done:
        click.echo(f"{c.serial}: removed {c.staged_files} staged file(s), {c.staged_bytes / 1e6:.2f} MB, "
                   f"and {c.app_files} file(s), {c.app_bytes / 1e6:.2f} MB, from the app's folder")


@device.command("virtual")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: any free port).")
@click.option("--root", type=click.Path(path_type=Path), help="Sandbox folder for the device's files (default: temporary).")
def virtual_cmd(port: int, root: Path | None) -> None:
    """Start a virtual handset (ADB over TCP on 127.0.0.1) and print its HOST:PORT; Ctrl-C stops it."""
    from packager.device import virtual as virtual_kit  # noqa: PLC0415

    with contextlib.ExitStack() as stack:
        try:
            handset = virtual_kit.start(stack.callback, root=root, port=port)
        except OSError as exc:
            raise PackagerError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror})", "choose another --port") from None
        # Ctrl-C and `kill` (SIGTERM, what CI scripts send to a background job) both ask the serving
        # loop to stop: no KeyboardInterrupt can land in the middle of a print or of the shutdown
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, lambda *_: handset.stopping.set())
        click.echo(handset.address, nl=True)
        click.echo(f"virtual handset {handset.serial} ready: `adb connect {handset.address}` or "
                   f"`packager device bench DIST --device {handset.address}`; Ctrl-C stops it", err=True)
        handset.serve_forever()


device.add_command(farm)
