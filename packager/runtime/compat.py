"""Proof that a model runs in each target runtime: the app's pinned TFLite and LiteRT.

Each target's environment (packager/runtime/envs.py) gets one long-lived worker
(runtime_worker.py, run by that environment's Python: numpy and the runtime only) started with
packager.runtime.isolation.Worker, the same process and protocol as the host's first-load probe. Every
variant is loaded, allocated and invoked there on the golden inputs (the evaluation samples the
bundle's golden files are made of, one at a time, in the model's dtype) and its outputs are
compared with the host's on the same inputs. A native crash kills only the worker: the variant
fails with the signal and the next one gets a new worker.

A failure is read for what the app's developer needs: the operator, its builtin version or the
tensor type its kernel refused, the runtime, and the remedy (the runtimes measured to run it,
the variants that run everywhere).
"""

from __future__ import annotations

import base64
import json
import re
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from packager import progress, text
from packager.errors import PackagerError
from packager.manifest import RuntimeCheck, RuntimeCompat, RuntimeTargetRecord
from packager.runtime import envs
from packager.runtime.evaluate import ModelRunner, golden_picks
from packager.runtime.isolation import LiteRTCrash, Worker
from packager.runtime.targets import RuntimeTarget

WORKER_SCRIPT = Path(__file__).resolve().parent / "runtime_worker.py"
CHECK_TIMEOUT_S = 300.0
SKIP_NOTE = ("NOT CHECKED: --skip-runtime-check was given, so no variant was run in the app's runtimes ({targets}); "
             "a variant may fail on the phone where the host ran it")

_OP_VERSION = re.compile(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'")
_NODE = re.compile(r"Node number \d+ \((\w+)\) failed to (invoke|prepare)")
_TYPE = re.compile(r"\b(?:got|Type|type)\s+'?(INT16|INT8|UINT8|INT32|INT64|FLOAT16|FLOAT32|BOOL|INT4|FLOAT64|COMPLEX64|STRING|UINT16|UINT32)\b")
_CUSTOM = re.compile(r"unresolved custom op: (\w+)", re.IGNORECASE)


Stage = Literal["load", "allocate", "invoke", "crash"]  # where a model failed in a runtime


@dataclass(frozen=True)
class Failure:
    """Why a model does not run in a runtime, as the developer needs it."""

    stage: Stage
    message: str  # the runtime's own words
    operator: str | None = None
    operator_version: int | None = None
    tensor_type: str | None = None

    def what(self) -> str:
        if self.stage == "crash":
            return self.message
        if self.operator and self.operator_version is not None:  # the runtime's first sentence names both
            return f"operator {self.operator} version {self.operator_version} is not in it (\"{self.message.split('. ')[0][:160]}\")"
        op = f"operator {self.operator}" if self.operator else "a model operator"
        on = f" on {self.tensor_type} tensors" if self.tensor_type else ""
        return f"{op}{on} fails at {self.stage} (\"{self.message[:160]}\")"


def read_failure(stage: Stage, message: str) -> Failure:
    if m := _OP_VERSION.search(message):
        return Failure(stage, message, m.group(1), int(m.group(2)))
    if m := _CUSTOM.search(message):
        return Failure(stage, message, m.group(1), tensor_type=None)
    node = _NODE.search(message)
    kind = _TYPE.search(message)
    return Failure(stage, message, node.group(1) if node else None, tensor_type=kind.group(1) if kind else None)


@dataclass
class Outcome:
    """One model in one runtime."""

    target: RuntimeTarget
    failure: Failure | None = None
    samples: int = 0
    max_abs_diff: float | None = None
    mean_abs_diff: float | None = None
    top1_agreement: float | None = None
    exact: bool | None = None
    seconds: float = 0.0

    @property
    def runs(self) -> bool:
        return self.failure is None

    def why(self) -> str:
        """What failed, for an outcome that does not run."""
        assert self.failure is not None, "asked why an outcome that runs fails"
        return self.failure.what()

    def record(self, variant: str) -> RuntimeCheck:
        f = self.failure
        return RuntimeCheck(variant=variant, runtime=self.target.name, status="runs" if f is None else "fails",
                            reason=None if f is None else f.what(), stage=None if f is None else f.stage,
                            operator=f.operator if f else None, operator_version=f.operator_version if f else None,
                            tensor_type=f.tensor_type if f else None, samples=self.samples if f is None else None,
                            max_abs_diff=self.max_abs_diff, mean_abs_diff=self.mean_abs_diff, top1_agreement=self.top1_agreement,
                            identical=self.exact, seconds=round(self.seconds, 4))


@dataclass
class GoldenRun:
    """A model's golden inputs in its own dtype (per sample, one array per input) and the host's raw outputs."""

    samples: list[list[np.ndarray]]
    host: list[list[np.ndarray]]
    scales: list[tuple[float, int]]  # per output: (scale, zero point); scale 0 = not quantized


def host_run(model: bytes, eval_inputs, count: int) -> GoldenRun:
    """The model on the host's LiteRT, on the golden picks of the evaluation inputs, one sample at a time."""
    runner = ModelRunner(model, threads=1)
    picks = golden_picks(len(eval_inputs), count)
    tensor = runner.quantize_input(eval_inputs[picks])
    tensors = [tensor] if isinstance(tensor, np.ndarray) else list(tensor)
    samples = [[np.ascontiguousarray(t[i : i + 1]) for t in tensors] for i in range(len(picks))]
    host = [runner.run_raw(s) for s in samples]
    return GoldenRun(samples, host, [(float(o.scale or 0.0), int(o.zero_point or 0)) for o in runner.outputs])


def decode_array(item: dict) -> np.ndarray:
    """An array as runtime_worker.py sends it (dtype, shape, base64 bytes)."""
    return np.frombuffer(base64.b64decode(item["data"]), np.dtype(item["dtype"])).reshape(item["shape"])


def job(model: bytes, samples: list[list[np.ndarray]], **options) -> bytes:
    """One job for runtime_worker.py: header, then the model and every input's bytes."""
    blobs = [np.ascontiguousarray(a).tobytes() for sample in samples for a in sample]
    header = {"model_size": len(model), "payload": len(model) + sum(map(len, blobs)),
              "samples": [[{"dtype": a.dtype.str, "shape": list(a.shape)} for a in sample] for sample in samples], **options}
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + model + b"".join(blobs)


def compare_outputs(golden: GoldenRun, outputs: list[list[dict]]) -> tuple[float | None, float | None, float, bool]:
    """(max and mean absolute difference, dequantized, over the values both give as finite numbers
    (None when the runtime disagrees with the host on which are finite, or the shapes differ);
    top-1 agreement of output 0; bit-identical)."""
    diffs, agree, exact, same_finite = [], [], True, True
    for host, theirs in zip(golden.host, outputs):
        for k, (h, item) in enumerate(zip(host, theirs)):
            t = decode_array(item)
            exact = exact and t.shape == h.shape and np.array_equal(t, h, equal_nan=h.dtype.kind == "f")
            if t.shape != h.shape:
                return None, None, 0.0, False
            scale, zero = golden.scales[k]
            hf = (h.astype(np.float64) - zero) * scale if scale else h.astype(np.float64)
            tf = (t.astype(np.float64) - zero) * scale if scale else t.astype(np.float64)
            finite = np.isfinite(hf) & np.isfinite(tf)
            same_finite = same_finite and bool(np.array_equal(np.isfinite(hf), np.isfinite(tf)))
            diffs.append(np.abs(hf[finite] - tf[finite]).ravel())
            if k == 0 and hf.size:
                agree.append(float(np.argmax(np.nan_to_num(hf).reshape(-1)) == np.argmax(np.nan_to_num(tf).reshape(-1))))
    every = np.concatenate(diffs) if diffs else np.zeros(0)
    top1 = float(np.mean(agree)) if agree else 1.0
    if not same_finite:
        return None, None, top1, bool(exact)
    return (float(every.max()) if every.size else 0.0, float(every.mean()) if every.size else 0.0, top1, bool(exact))


class RuntimeWorker:
    """One target runtime's long-lived worker."""

    def __init__(self, target: RuntimeTarget, python: Path):
        self.target = target
        self.worker = Worker([str(python), "-s", str(WORKER_SCRIPT), target.kind], runtime=target.name,
                             env={"PYTHONNOUSERSITE": "1", "PYTHONPATH": ""})

    def start(self) -> None:
        self.worker.start()

    def run(self, model: bytes, samples: list[list[np.ndarray]], what: str, **options) -> dict:
        """The worker's answer, or {"crash": ...} when the runtime died."""
        try:
            done = self.worker.exchange(job(model, samples, **options), what, CHECK_TIMEOUT_S)
        except LiteRTCrash as crash:
            return {"crash": crash.message.split("; nothing was written")[0]}
        self._check_version()
        return done

    def _check_version(self) -> None:
        hello = self.worker.hello or {}
        if hello.get("version") not in (None, self.target.version) and not hello["version"].startswith(self.target.version + "."):
            raise PackagerError(f"the {self.target.name} environment {envs.env_dir(self.target)} holds version {hello['version']}",
                                "delete that folder; it is made again")

    def check(self, model: bytes, golden: GoldenRun, what: str) -> Outcome:
        t0 = time.perf_counter()
        done = self.run(model, golden.samples, what, resolver=self.target.resolver)
        outcome = Outcome(self.target, samples=len(golden.samples))
        if "crash" in done:
            outcome.failure = Failure("crash", done["crash"])
        elif done["load_error"]:
            outcome.failure = read_failure("load", done["load_error"])
        elif done["allocate_error"]:
            outcome.failure = read_failure("allocate", done["allocate_error"])
        elif done["run_error"]:
            outcome.failure = read_failure("invoke", done["run_error"])
        else:
            outcome.max_abs_diff, outcome.mean_abs_diff, outcome.top1_agreement, outcome.exact = compare_outputs(golden, done["outputs"])
        outcome.seconds = time.perf_counter() - t0
        return outcome

    def close(self) -> None:
        self.worker.close()


@dataclass
class Checker:
    """A build's check of its variants in every target runtime (one worker per target)."""

    targets: tuple[RuntimeTarget, ...]
    eval_inputs: object = None
    golden_samples: int = 8
    skipped: str | None = None
    workers: dict[str, RuntimeWorker] = field(default_factory=dict)
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)  # variant -> one per target
    checked: dict[str, bytes] = field(default_factory=dict)  # variant -> the model its outcomes are of
    seen: dict[bytes, list[Outcome]] = field(default_factory=dict)  # every model run, by its bytes

    @classmethod
    def for_build(cls, targets: tuple[RuntimeTarget, ...], skip: bool, golden_samples: int) -> Checker:
        """Environments made (or found cached) now, before any work; workers started in the background."""
        if skip:
            note = SKIP_NOTE.format(targets=", ".join(t.name for t in targets))
            progress.stderr_console.print(text.styled("[bold yellow]warning:[/] {}", note), highlight=False, soft_wrap=True)
            return cls(targets, golden_samples=golden_samples, skipped=note)
        checker = cls(targets, golden_samples=golden_samples)
        checker.workers = {t.env_name: shared_worker(t) for t in targets}
        for worker in checker.workers.values():
            worker.start()  # importing the runtime overlaps the build's conversion
        return checker

    @property
    def active(self) -> bool:
        return self.skipped is None and bool(self.workers)

    def check(self, name: str, model: bytes, eval_inputs) -> list[Outcome]:
        """`model` in every target runtime on the golden inputs (cached by name and bytes)."""
        if not self.active:
            return []
        if self.checked.get(name) != model:
            self.outcomes[name] = self.probe(model, eval_inputs, name)
            self.checked[name] = model
        return self.outcomes[name]

    def probe(self, model: bytes, eval_inputs, name: str = "candidate") -> list[Outcome]:
        """`model` in every target runtime, not recorded (an engine's candidate); the same bytes run once."""
        if not self.active:
            return []
        self.eval_inputs = eval_inputs
        if model not in self.seen:
            golden = host_run(model, eval_inputs, self.golden_samples)
            # the runtimes' workers are separate processes: both run at once, the parent only waits
            def one(target: RuntimeTarget) -> Outcome:
                outcome = self.workers[target.env_name].check(model, golden, f"the {name} variant")
                outcome.target = target  # this build's declaration (a shared worker may have served another's)
                return outcome

            with ThreadPoolExecutor(max_workers=len(self.targets)) as pool:
                self.seen[model] = list(pool.map(one, self.targets))
        return self.seen[model]

    def failures(self, name: str) -> list[Outcome]:
        return [o for o in self.outcomes.get(name, []) if not o.runs]

    def reject_reason(self, name: str) -> str | None:
        """Why `auto` may not choose `name` (None: it runs in every target)."""
        failed = self.failures(name)
        if not failed:
            return None
        return "does not run in the app's " + "; ".join(f"{o.target.name} ({', '.join(o.target.accelerators)}): {o.why()}" for o in failed)

    def require(self, name: str, others: list[str], model: bytes | None = None) -> None:
        """Fail the build when the variant to be bundled does not run in a target: one line with the
        operator, its version or type, the runtime and the remedy."""
        failed = self.failures(name)
        if not failed:
            return
        first = failed[0]
        runs_on = [t.name for t in self.targets if t.name not in {o.target.name for o in failed}]
        elsewhere = self._runs_elsewhere(first.target, model) if model is not None else []
        good = [v for v in others if v != name and v in self.outcomes and not self.failures(v)]
        where = f"{first.target.name} (the app's {', '.join(first.target.accelerators)})"
        message = f"{name} does not run in {where}: {first.why()}"
        if len(failed) > 1:
            message += "; also fails in " + ", ".join(o.target.name for o in failed[1:])
        remedies = []
        if good:
            remedies.append(f"bundle a variant that runs in every target runtime: --select {good[0]}" + (f" (or {', '.join(good[1:])})" if good[1:] else ""))
        else:
            remedies.append("bundle a variant that runs there: --quant auto skips those that do not (or try --quant fp16, int8)")
        if runs_on:
            remedies.append("it runs in " + ", ".join(f"{t.name} (the app's {', '.join(t.accelerators)})" for t in self.targets if t.name in runs_on))
        if elsewhere:
            remedies.append(f"the oldest {first.target.kind} measured to run it is {elsewhere[0]} (a cached environment)")
        raise PackagerError(message, "; ".join(remedies))

    def _runs_elsewhere(self, target: RuntimeTarget, model: bytes) -> list[str]:
        """Other cached versions of the same runtime that run the model, oldest first (the remedy)."""
        found = []
        root = envs.cache_dir() / "runtimes"
        for env in sorted(root.glob(f"{target.kind}-*"), key=lambda p: _version_key(p.name.split("-", 1)[1])):
            version = env.name.split("-", 1)[1]
            if version == target.version or not (env / envs.MARKER).is_file():
                continue
            other = RuntimeTarget(target.kind, version, target.accelerators, "cache")
            worker = RuntimeWorker(other, envs.python_of(env))
            try:
                golden = host_run(model, self.eval_inputs, 1) if self.eval_inputs is not None else None
                if golden is not None and worker.check(model, golden, "the variant").runs:
                    found.append(other.name)
                    break  # the oldest that runs it
            finally:
                worker.close()
        return found

    def record(self) -> RuntimeCompat:
        targets = [RuntimeTargetRecord(kind=t.kind, version=t.version, wheel=t.wheel, accelerators=list(t.accelerators), kernels=t.resolver,
                                       source=t.source, numpy=(envs.installed(t).get("packages") or {}).get("numpy"))
                   for t in self.targets]
        checks = [o.record(name) for name, outcomes in self.outcomes.items() for o in outcomes]
        return RuntimeCompat(targets=targets, checks=checks, skipped=self.skipped)



# One worker per runtime environment for the whole process, as packager.runtime.isolation's: every
# build of a process (a test session, a library user's loop) reuses it; it exits with the process.
_SHARED: dict[str, RuntimeWorker] = {}


def shared_worker(target: RuntimeTarget) -> RuntimeWorker:
    """The process's worker for `target`, its environment found (or made) first."""
    python = envs.ensure(target)
    key = str(python)
    if key not in _SHARED:
        _SHARED[key] = RuntimeWorker(target, python)
    return _SHARED[key]


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.]", text))
