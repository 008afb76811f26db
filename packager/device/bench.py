"""Benchmark bundles on a handset: the library behind `packager device bench`, the pytest plugin
and the demo. Runs every bundle x accelerator, computes statistics and parity with the bundle's
golden host outputs, and records the app's APK size and make-up."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from packager import progress
from packager.bundle.reader import BundleRef
from packager.data import arrays
from packager.device.apk import installed_breakdown
from packager.device.handset import Handset
from packager.device.results import parity
from packager.device.runner import AppRunner, Runner, RunOutcome, RunSpec
from packager.device.transport import DeviceLost
from packager.manifest import ApkInfo, BenchResult, DeviceProps, DeviceResults, DeviceRun, Parity


def bundle_parity(bundle: BundleRef, outputs: list[np.ndarray]) -> Parity:
    """A device's outputs against the bundle's golden outputs, as the bundle's task compares them."""
    golden = [arrays.load_array(p, "golden output") for p in bundle.golden_output_paths]
    detection = bundle.manifest.detection
    return parity(outputs, golden, [t.quantization for t in bundle.manifest.outputs], detection.classes if detection else None,
                  segmentation=bundle.manifest.task == "segmentation")


def record(outcome: RunOutcome, handset: Handset) -> DeviceRun:
    result, spec = outcome.result, outcome.spec
    bundle = spec.bundle
    agreement = bundle_parity(bundle, outcome.outputs) if outcome.outputs is not None else None
    return run_record(result, bundle.name, bundle.model_sha256, bundle.manifest.recipe.name, agreement, serial=handset.serial)


def run_record(result: BenchResult, bundle: str, bundle_sha256: str, recipe: str, agreement: Parity | None,
               serial: str | None = None) -> DeviceRun:
    """A session's run from one contract-2 result. The adb serial names the device everywhere (for
    TCP devices it differs from ro.serialno); without one (a farm's results file) the result's own."""
    accelerator = result.accelerator
    device = DeviceProps(serial=serial or result.device.serial or "unknown", manufacturer=result.device.manufacturer, model=result.device.model,
                         soc=result.device.soc, abi=result.device.abi, sdk=result.device.sdk, android_version=result.device.android_version,
                         virtual=result.virtual)
    return DeviceRun(
        device=device, bundle=bundle, bundle_sha256=bundle_sha256, recipe=recipe,
        runner=result.runner, virtual=result.virtual, status=result.session_status,
        accelerator_requested=accelerator.requested, accelerator_applied=accelerator.applied,
        fallback_reason=accelerator.fallback_reason, threads=result.threads, init_ms=result.init_ms,
        first_inference_ms=result.first_inference_ms, latency=result.latency, peak_memory_kb=result.peak_memory_kb,
        parity=agreement, errors=list(result.errors), latencies_ms=list(result.latencies_ms),
        delegated_ops=accelerator.delegated_ops, total_ops=accelerator.total_ops,
        ops_source=accelerator.ops_source, peak_memory_measure=result.peak_memory_measure,
        runtime=result.runtime.label if result.runtime is not None else None,
    )


def apk_info(handset: Handset, package: str) -> ApkInfo:
    """The app as installed (`pm path` + `stat`: base APK and splits) and its make-up, read from
    the APKs' zip directories on the device."""
    paths = handset.apk_paths(package)
    if not paths:
        return ApkInfo(serial=handset.serial, package=package, installed_bytes=None, breakdown=None)
    sizes = handset.file_sizes(*paths)
    return ApkInfo(serial=handset.serial, package=package, installed_bytes=sum(sizes), breakdown=installed_breakdown(handset, paths, sizes))


def bench(handset: Handset, bundles: list[BundleRef], accelerators: list[str], runner: Runner | None = None,
          threads: int = 1, warmup: int = 3, runs: int = 20, retries: int = 0,
          advance: Callable[[int], None] | None = None) -> DeviceResults:
    """Every bundle x accelerator on one handset. `advance` (called per finished run) lets a caller
    that drives several handsets show one progress bar each; without it this shows its own."""
    runner = runner or AppRunner()
    specs = [RunSpec(b, a, threads, warmup, runs) for b in bundles for a in accelerators]
    pushed_before, skipped_before = handset.bytes_pushed, handset.bytes_skipped
    attempt = 0
    while True:
        try:
            runner.prepare(handset)
            if advance is not None:
                outcomes = runner.run(handset, specs, advance)
            else:
                with progress.task(f"Running {len(specs)} benchmark(s) on {handset.props().model}", len(specs)) as step:
                    outcomes = runner.run(handset, specs, step)
            break
        except DeviceLost:
            attempt += 1
            if attempt > retries:
                raise
            handset.transport.close()  # reconnect on the next command
    results = DeviceResults(runs=[record(o, handset) for o in outcomes])
    if isinstance(runner, AppRunner):
        results.apks.append(apk_info(handset, runner.package))
    results.bytes_pushed = handset.bytes_pushed - pushed_before
    results.bytes_skipped = handset.bytes_skipped - skipped_before
    return results
