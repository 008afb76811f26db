"""Run the float model and its variants with LiteRT on the host, and measure them.

Every variant is compared with the float model on the same preprocessed evaluation inputs:
top-1 accuracy and per-class accuracy (when labels exist), top-1 agreement with float, max and
mean absolute output error (after dequantization), file size and host latency.

Inputs are preprocessed once and shared by all variants; inference runs in batches when the
model's batch dimension is dynamic, with all cores.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from packager import progress, quiet
from packager.errors import PackagerError
from packager.preprocess import dequantize, to_input_dtype

BATCH = 32


@dataclass(frozen=True)
class TensorInfo:
    name: str
    index: int
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    dtype: str
    scale: float | None
    zero_point: int | None

    @classmethod
    def from_detail(cls, d: dict[str, Any]) -> "TensorInfo":
        scale, zero_point = d.get("quantization", (0.0, 0))
        signature = d.get("shape_signature", d["shape"])
        return cls(
            name=d["name"], index=int(d["index"]), shape=tuple(int(s) for s in d["shape"]),
            shape_signature=tuple(int(s) for s in signature), dtype=np.dtype(d["dtype"]).name,
            scale=float(scale) if scale else None, zero_point=int(zero_point) if scale else None,
        )

    def to_manifest(self, semantics: str) -> dict[str, Any]:
        return {
            "name": self.name, "index": self.index, "shape": list(self.shape), "dtype": self.dtype,
            "quantization": None if self.scale is None else {"scale": self.scale, "zero_point": self.zero_point},
            "semantics": semantics,
        }


@dataclass(frozen=True)
class Latency:
    mean_ms: float
    p50_ms: float
    p90_ms: float
    runs: int
    threads: int

    @classmethod
    def of(cls, seconds: list[float], threads: int) -> "Latency":
        ms = np.asarray(seconds) * 1000.0
        return cls(float(ms.mean()), float(np.percentile(ms, 50)), float(np.percentile(ms, 90)), len(ms), threads)


@dataclass
class VariantMetrics:
    name: str
    quant: str
    engine: str
    size_bytes: int
    accuracy: float | None
    per_class_accuracy: list[float | None] | None
    top1_agreement: float | None
    max_abs_error: float
    mean_abs_error: float
    latency: Latency | None
    samples: int

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["latency"] = None if self.latency is None else asdict(self.latency)
        return out

    def accuracy_drop(self, reference: "VariantMetrics") -> float | None:
        """Percentage points lost against `reference` (positive = worse)."""
        if self.accuracy is None or reference.accuracy is None:
            return None
        return (reference.accuracy - self.accuracy) * 100.0


class ModelRunner:
    """One LiteRT interpreter for a model: quantizes inputs, dequantizes outputs."""

    def __init__(self, model: bytes, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

        self.threads = threads or os.cpu_count() or 1
        with quiet.captured_output():
            self.interpreter = Interpreter(model_content=model, num_threads=self.threads)
            self.interpreter.allocate_tensors()
        self.inputs = [TensorInfo.from_detail(d) for d in self.interpreter.get_input_details()]
        self.outputs = [TensorInfo.from_detail(d) for d in self.interpreter.get_output_details()]
        if len(self.inputs) != 1:
            names = ", ".join(t.name for t in self.inputs)
            raise PackagerError(
                f"packager builds single-input models; this one has {len(self.inputs)} inputs ({names})",
                "no flag works around it yet: export a wrapper with one input (concatenate the inputs, split them inside the model)",
            )
        self.input = self.inputs[0]
        self.batchable = self.input.shape_signature[:1] == (-1,)
        self._batch = self.input.shape[0]

    def quantize_input(self, normalized: np.ndarray) -> np.ndarray:
        return to_input_dtype(normalized, self.input.dtype, self.input.scale, self.input.zero_point)

    def _set_batch(self, batch: int) -> None:
        if batch != self._batch:
            self.interpreter.resize_tensor_input(self.input.index, [batch, *self.input.shape[1:]], strict=True)
            self.interpreter.allocate_tensors()
            self._batch = batch

    def run_raw(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Invoke on an input tensor already in the model's dtype (batch must fit)."""
        self._set_batch(tensor.shape[0])
        self.interpreter.set_tensor(self.input.index, tensor)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(o.index).copy() for o in self.outputs]

    def predict(self, normalized: np.ndarray, advance=None, raw: bool = False) -> list[np.ndarray]:
        """Outputs (dequantized float32 unless raw) for normalized float64 inputs (N, ...)."""
        step = BATCH if self.batchable else 1
        chunks: list[list[np.ndarray]] = []
        for start in range(0, len(normalized), step):
            part = self.quantize_input(normalized[start : start + step])  # a batch at a time stays in cache
            if self.batchable and len(part) < step:  # pad the last batch: no re-allocation
                padded = np.concatenate([part, np.repeat(part[-1:], step - len(part), axis=0)])
                chunks.append([o[: len(part)] for o in self.run_raw(padded)])
            else:
                chunks.append(self.run_raw(part))
            if advance:
                advance(len(part))
        outs = [np.concatenate([c[k] for c in chunks]) for k in range(len(self.outputs))]
        if raw:
            return outs
        return [dequantize(o, t.scale, t.zero_point) for o, t in zip(outs, self.outputs)]

    def latency(self, normalized_sample: np.ndarray, runs: int = 30, warmup: int = 3, budget_s: float = 2.0) -> Latency:
        """Host latency at batch 1 (as on the phone): warm-up, then timed invokes."""
        tensor = self.quantize_input(normalized_sample[:1])
        self._set_batch(1)
        self.interpreter.set_tensor(self.input.index, tensor)
        for _ in range(warmup):
            self.interpreter.invoke()
        seconds: list[float] = []
        deadline = time.perf_counter() + budget_s
        while len(seconds) < runs and (len(seconds) < 3 or time.perf_counter() < deadline):
            started = time.perf_counter()
            self.interpreter.invoke()
            seconds.append(time.perf_counter() - started)
        return Latency.of(seconds, self.threads)


def compare(
    name: str, quant: str, engine: str, size_bytes: int, outputs: list[np.ndarray], reference: list[np.ndarray],
    labels: np.ndarray | None, num_classes: int | None, latency: Latency | None,
) -> VariantMetrics:
    """Metrics of `outputs` against the float model's `reference` outputs (and labels)."""
    diffs = [np.abs(o.astype(np.float64) - r.astype(np.float64)).ravel() for o, r in zip(outputs, reference)]
    diff = np.concatenate(diffs) if diffs else np.zeros(1)
    predicted = np.argmax(outputs[0].reshape(len(outputs[0]), -1), axis=1)
    expected = np.argmax(reference[0].reshape(len(reference[0]), -1), axis=1)
    accuracy = per_class = None
    if labels is not None:
        correct = predicted == labels
        accuracy = float(correct.mean())
        classes = num_classes or int(labels.max()) + 1
        per_class = [float(correct[labels == c].mean()) if (labels == c).any() else None for c in range(classes)]
    return VariantMetrics(
        name=name, quant=quant, engine=engine, size_bytes=size_bytes, accuracy=accuracy, per_class_accuracy=per_class,
        top1_agreement=float((predicted == expected).mean()), max_abs_error=float(diff.max()),
        mean_abs_error=float(diff.mean()), latency=latency, samples=len(predicted),
    )


def run_all(models: dict[str, bytes], inputs: np.ndarray, measure_latency: bool = True, workers: int | None = None,
            chunk: int = 64) -> tuple[dict[str, list[np.ndarray]], dict[str, Latency | None]]:
    """Outputs (dequantized) and host latency of every model on the same inputs.

    The (model, chunk of samples) pairs are spread over a thread pool, one single-threaded
    interpreter per model and worker (LiteRT releases the GIL in invoke), so a slow variant
    (int16x8 runs on reference kernels) shares the cores with the fast ones instead of running
    alone at the end. Latency is measured afterwards, one model at a time, on a quiet machine.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    workers = workers or os.cpu_count() or 1
    local = threading.local()

    def runner(name: str) -> ModelRunner:
        cache = local.__dict__.setdefault("runners", {})
        if name not in cache:
            cache[name] = ModelRunner(models[name], threads=1)
        return cache[name]

    def work(task: tuple[str, int]) -> tuple[str, int, list[np.ndarray]]:
        name, start = task
        return name, start, runner(name).predict(inputs[start : start + chunk])

    tasks = [(name, start) for start in range(0, len(inputs), chunk) for name in models]
    parts: dict[str, dict[int, list[np.ndarray]]] = {name: {} for name in models}
    with progress.task(f"Evaluating {len(models)} model(s) on {len(inputs)} samples", len(models) * len(inputs)) as advance:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for name, start, outs in pool.map(work, tasks):
                parts[name][start] = outs
                advance(min(chunk, len(inputs) - start))
    outputs = {
        name: [np.concatenate([chunks[s][k] for s in sorted(chunks)]) for k in range(len(next(iter(chunks.values()))))]
        for name, chunks in parts.items()
    }
    latencies: dict[str, Latency | None] = {name: None for name in models}
    if measure_latency:
        for name, model in models.items():
            latencies[name] = ModelRunner(model).latency(inputs[:1])
    return outputs, latencies
