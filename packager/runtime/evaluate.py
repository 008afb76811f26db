"""Run the float model and its variants with LiteRT on the host, and measure them.

Every variant is compared with the float model on the same preprocessed evaluation inputs:
top-1 accuracy and per-class accuracy (when labels exist), top-1 agreement with float, max and
mean absolute output error (after dequantization), file size and host latency.

Inputs are preprocessed once and shared by all variants; inference runs in batches when the
model's batch dimension is dynamic, with all cores.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from packager import progress, quiet
from packager.data.dataset import Samples
from packager.data.loading import Inputs, ready_rows, rows_of
from packager.data.preprocess import dequantize, to_input_dtype
from packager.errors import PackagerError
from packager.manifest import SLOWER_MARGIN, Latency, OutputKind, OutputMetrics, VariantMetrics
from packager.runtime import kinds as output_kinds
from packager.tflite.flatbuffer import Graph, parse_graph

BATCH = 32


PROBABILITY_OPS = ("SOFTMAX", "LOGISTIC")


@dataclass(frozen=True)
class OutputRoles:
    """What each output is and which one the headline metrics are about.

    kinds[i]: "probabilities" (a softmax/logistic result: agreement is meaningful), "classes" (the
    output the labels belong to, e.g. logits) or "values" (anything else: error and correlation).
    primary: the output that matters (labels' output, --primary-output, else the first class
    distribution); its agreement and errors head the table, the budget and the report.
    """

    names: tuple[str, ...]
    kinds: tuple[OutputKind, ...]
    primary: int = 0
    why: str = "the only output"
    labels: int | None = None  # the output the labels (accuracy) belong to
    measures: tuple[str, ...] = ()  # each output's kind for measuring it (packager.runtime.kinds): segmentation per pixel...

    @classmethod
    def guess(cls, reference: list[np.ndarray], names: tuple[str, ...] | None = None) -> OutputRoles:
        """From the float outputs alone (rows summing to 1 are probabilities)."""
        kinds: tuple[OutputKind, ...] = tuple("probabilities" if _looks_like_distribution(r) else "values" for r in reference)
        roles = choose_roles(names or tuple(f"output {i}" for i in range(len(reference))), kinds)
        return replace(roles, measures=tuple(output_kinds.output_kind(r) for r in reference))

    def measure(self, index: int, reference: np.ndarray) -> str:
        """How output `index` is measured (its kind), guessed from the float values when the roles do not say."""
        return self.measures[index] if self.measures else output_kinds.output_kind(reference)

    @property
    def primary_name(self) -> str:
        return self.names[self.primary]


def _looks_like_distribution(values: np.ndarray) -> bool:
    return bool(values.size and values.ndim >= 2 and values.shape[-1] >= 2 and (values >= -1e-6).all()
                and np.allclose(values.sum(axis=-1), 1.0, atol=1e-3))


def choose_roles(names: tuple[str, ...], kinds: tuple[OutputKind, ...], labels_output: int | None = None,
                 primary_output: int | None = None, shapes: tuple[tuple[int, ...], ...] | None = None) -> OutputRoles:
    """The primary output: --primary-output, else the labels' output, else the first class
    distribution (a probability output of 2 or more values), else the first probability output,
    else output 0."""
    kinds = tuple("classes" if i == labels_output and k == "values" else k for i, k in enumerate(kinds))
    if len(names) == 1:
        return OutputRoles(names, kinds, 0, "the only output", labels_output)
    if primary_output is not None:
        return OutputRoles(names, kinds, primary_output, "chosen with --primary-output", labels_output)
    if labels_output is not None:
        return OutputRoles(names, kinds, labels_output, "the output the labels belong to", labels_output)
    wide = [i for i, k in enumerate(kinds) if k == "probabilities" and (shapes is None or (shapes[i][-1:] or (1,))[0] >= 2)]
    if wide:
        return OutputRoles(names, kinds, wide[0], "the first class-probability output")
    narrow = [i for i, k in enumerate(kinds) if k == "probabilities"]
    if narrow:
        return OutputRoles(names, kinds, narrow[0], "the first probability output")
    return OutputRoles(names, kinds, 0, "no output is a probability: the first one")


def abs_errors(output: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """|output - reference| where both are finite (equal values count 0, -inf where float has -inf too);
    the non-finite values a variant makes are counted apart (non_finite_note), not as infinite errors."""
    out, ref = output.astype(np.float64), reference.astype(np.float64)
    with np.errstate(invalid="ignore"):
        diff = np.where(out == ref, 0.0, np.abs(out - ref))
    return diff[np.isfinite(diff)]


def non_finite_note(outputs: list[np.ndarray], reference: list[np.ndarray]) -> str | None:
    """'-inf on 140 of 240 inputs' when a variant's outputs hold -inf, +inf or NaN where the float
    model's do not (summed over its outputs, per input), else None."""
    if not outputs or not len(outputs[0]):
        return None
    rows = len(outputs[0])
    kinds = {"-inf": np.zeros(rows, bool), "+inf": np.zeros(rows, bool), "NaN": np.zeros(rows, bool)}
    for out, ref in zip(outputs, reference):
        o = np.asarray(out, np.float64).reshape(rows, -1)
        r = np.asarray(ref, np.float64).reshape(len(ref), -1)
        new = ~np.isfinite(o) & ~((o == r) | (np.isnan(o) & np.isnan(r)))
        kinds["-inf"] |= (new & (o == -np.inf)).any(axis=1)
        kinds["+inf"] |= (new & (o == np.inf)).any(axis=1)
        kinds["NaN"] |= (new & np.isnan(o)).any(axis=1)
    found = {k: int(v.sum()) for k, v in kinds.items() if v.any()}
    if not found:
        return None
    return ", ".join(f"{k} on {n} of {rows} inputs" for k, n in found.items())


def output_metrics(name: str, kind: OutputKind, output: np.ndarray, reference: np.ndarray, measure: str | None = None) -> OutputMetrics:
    """One output against float's; `measure`: its kind for measuring (packager.runtime.kinds), which
    decides what its agreement is (per pixel, per step, ...)."""
    out, ref = output.astype(np.float64).reshape(len(output), -1), reference.astype(np.float64).reshape(len(reference), -1)
    diff = abs_errors(out, ref)
    agreement = None
    if kind != "values" and out.size:
        if measure in ("segmentation", "sequence", "probability_map"):
            agreement = output_kinds.figures(measure, output, reference).agreement
        elif out.shape[1] == 1:
            agreement = float(((out[:, 0] >= 0.5) == (ref[:, 0] >= 0.5)).mean())
        else:
            agreement = float((out.argmax(axis=1) == ref.argmax(axis=1)).mean())
    both = np.isfinite(out.ravel()) & np.isfinite(ref.ravel())
    a, b = out.ravel()[both], ref.ravel()[both]
    correlation = float(np.corrcoef(a, b)[0, 1]) if a.size > 1 and a.std() > 0 and b.std() > 0 else None
    return OutputMetrics(name=name, kind=kind, top1_agreement=agreement, max_abs_error=float(diff.max()) if diff.size else 0.0,
                         mean_abs_error=float(diff.mean()) if diff.size else 0.0,
                         correlation=None if correlation is None or not np.isfinite(correlation) else float(np.clip(correlation, -1.0, 1.0)))


def _to_dtype(values: np.ndarray, tensor) -> np.ndarray:
    """One input of several: floats and integer features (token ids, masks) pass as they are,
    quantized inputs are quantized."""
    dtype = np.dtype(tensor.dtype)
    if dtype.kind in "iub" and not tensor.scale:
        return np.asarray(values).astype(dtype)
    return to_input_dtype(np.asarray(values, np.float64), dtype, tensor.scale, tensor.zero_point)


class ModelRunner:
    """One LiteRT interpreter for a model: quantizes inputs, dequantizes outputs."""

    def __init__(self, model: bytes, threads: int | None = None, graph: Graph | None = None):
        """`graph`: parse_graph(model), when the caller has it already (run_all's interpreters)."""
        from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

        self.threads = threads or os.cpu_count() or 1
        with quiet.captured_output():
            self.interpreter = Interpreter(model_content=model, num_threads=self.threads)
            self.interpreter.allocate_tensors()
        # the tensors as the file has them (subgraph 0's inputs and outputs, in order), with the shapes
        # the interpreter allocated (a dynamic dimension is 1 in the file, its size once propagated here)
        graph = graph or parse_graph(model)
        self.inputs = [replace(t, shape=tuple(int(v) for v in d["shape"])) for t, d in zip(graph.inputs, self.interpreter.get_input_details())]
        self.outputs = [replace(t, shape=tuple(int(v) for v in d["shape"])) for t, d in zip(graph.outputs, self.interpreter.get_output_details())]
        signature_names: dict[int, str] = {}
        for signature in graph.signature_defs:  # as the flatbuffer has them (packager.tflite.flatbuffer)
            for alias, index in signature.outputs:
                signature_names.setdefault(index, alias)
        # what a user calls each output: the signature's name (the Keras output's), else the tensor's
        self.output_names = tuple(signature_names.get(o.index, o.name) for o in self.outputs)
        self.input = self.inputs[0]
        self.batchable = all((t.shape_signature or ())[:1] == (-1,) for t in self.inputs)
        self._batch = self.input.shape[0]

    def quantize_input(self, normalized):
        """Normalized float64 samples -> the input tensor(s) in the model's dtype: an array for a
        single-input model, a list (one per input, in the model's order) for data.MultiInputs."""
        if isinstance(normalized, np.ndarray):
            return to_input_dtype(normalized, self.input.dtype, self.input.scale, self.input.zero_point)
        arrays = normalized.arrays
        if len(arrays) != len(self.inputs):
            raise PackagerError(f"{len(arrays)} input arrays for a model with {len(self.inputs)} inputs", "give one array per input")
        return [_to_dtype(a, t) for a, t in zip(arrays, self.inputs)]

    def _set_batch(self, batch: int) -> None:
        if batch != self._batch:
            for t in self.inputs:
                self.interpreter.resize_tensor_input(t.index, [batch, *t.shape[1:]], strict=True)
            self.interpreter.allocate_tensors()
            self._batch = batch

    def run_raw(self, tensor) -> list[np.ndarray]:
        """Invoke on input tensor(s) already in the model's dtype (batch must fit)."""
        tensors = [tensor] if isinstance(tensor, np.ndarray) else list(tensor)
        try:
            self._set_batch(tensors[0].shape[0])
            for t, value in zip(self.inputs, tensors):
                self.interpreter.set_tensor(t.index, value)
            self.interpreter.invoke()
        except (RuntimeError, ValueError) as exc:  # a malformed model LiteRT prepared once but cannot run like this
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise PackagerError(f"LiteRT cannot run the model on a batch of {tensors[0].shape[0]} ({reason.rstrip('.')}); "
                                "it is corrupt or malformed", "re-export the model with a TFLite converter") from None
        return [self.interpreter.get_tensor(o.index).copy() for o in self.outputs]

    def predict(self, normalized: Samples, advance=None, raw: bool = False, quantized=None) -> list[np.ndarray]:
        """Outputs (dequantized float32 unless raw) for normalized float64 inputs (N, ...); `quantized`:
        the same inputs already in the model's dtype (quantize_input's result, shared by models that
        take the same: run_all), used instead of quantizing them again."""
        step = BATCH if self.batchable else 1
        chunks: list[list[np.ndarray]] = []
        for start in range(0, len(normalized), step):
            if quantized is None:
                part = self.quantize_input(normalized[start : start + step])  # a batch at a time stays in cache
            else:
                part = quantized[start : start + step] if isinstance(quantized, np.ndarray) else [q[start : start + step] for q in quantized]
            parts = [part] if isinstance(part, np.ndarray) else part
            count = len(parts[0])
            if self.batchable and count < step:  # pad the last batch: no re-allocation
                padded = [np.concatenate([p, np.repeat(p[-1:], step - count, axis=0)]) for p in parts]
                chunks.append([o[:count] for o in self.run_raw(padded)])
            else:
                chunks.append(self.run_raw(parts))
            if advance:
                advance(count)
        outs = [np.concatenate([c[k] for c in chunks]) for k in range(len(self.outputs))]
        if raw:
            return outs
        return [dequantize(o, t.scale, t.zero_point) for o, t in zip(outs, self.outputs)]

    def latency(self, normalized_sample: np.ndarray, runs: int = 30, warmup: int = 3, budget_s: float = 2.0) -> Latency:
        """Host latency at batch 1 (as on the phone): warm-up, then timed invokes."""
        tensor = self.quantize_input(normalized_sample[:1])
        self._set_batch(1)
        for t, value in zip(self.inputs, [tensor] if isinstance(tensor, np.ndarray) else tensor):
            self.interpreter.set_tensor(t.index, value)
        for _ in range(warmup):
            self.interpreter.invoke()
        seconds: list[float] = []
        deadline = time.perf_counter() + budget_s
        while len(seconds) < runs and (len(seconds) < 3 or time.perf_counter() < deadline):
            started = time.perf_counter()
            self.interpreter.invoke()
            seconds.append(time.perf_counter() - started)
        latency = Latency.of([s * 1000.0 for s in seconds], self.threads)
        assert latency is not None, "runs must be at least 1"
        return latency


def golden_picks(length: int, count: int) -> np.ndarray:
    """Which evaluation samples are golden (packager.build.golden; the runtime check runs the same): `count` spread over the data."""
    return np.unique(np.linspace(0, length - 1, min(count, length)).astype(int))


def slower_note(metrics: VariantMetrics, reference: VariantMetrics) -> str:
    """'' or a clause saying `metrics` runs slower than `reference` (float) on this host."""
    a, b = metrics.latency, reference.latency
    if a is None or b is None or a.p50 is None or b.p50 is None or metrics is reference or a.p50 <= b.p50 * SLOWER_MARGIN:
        return ""
    return f"; note: on this host it runs slower than {reference.name} ({a.p50:.3g} ms against {b.p50:.3g} ms per inference)"


def compare(
    name: str, quant: str, engine: str, size_bytes: int, outputs: list[np.ndarray], reference: list[np.ndarray],
    labels: np.ndarray | None, num_classes: int | None, latency: Latency | None, roles: OutputRoles | None = None,
) -> VariantMetrics:
    """Metrics of `outputs` against the float model's `reference` outputs (and labels).

    Accuracy, agreement and the errors are those of the primary output (`roles`; guessed from the
    float outputs when not given), measured for its kind (packager.runtime.kinds: per pixel for a
    segmentation map, per step for a sequence, ...); with several outputs each one is measured too."""
    roles = roles or OutputRoles.guess(reference)
    k = roles.primary
    kind = roles.measure(k, reference[k])
    diff = abs_errors(outputs[k], reference[k]).ravel() if outputs else np.zeros(1)
    diff = diff if diff.size else np.zeros(1)
    per_output = ([output_metrics(n, role, o, r, roles.measure(i, r)) for i, (n, role, o, r) in enumerate(zip(roles.names, roles.kinds, outputs, reference))]
                  if len(outputs) > 1 else [])
    found = output_kinds.figures(kind, outputs[k], reference[k])
    agreement = found.agreement
    primary_agreement = per_output[k].top1_agreement if per_output else None
    if primary_agreement is not None and kind in ("classes", "values"):  # one probability score: same side of 0.5
        agreement = primary_agreement
    accuracy = per_class = None
    j = roles.labels if roles.labels is not None else k
    if labels is not None and roles.measure(j, reference[j]) in ("classes", "values"):  # a label per sample: not per position
        correct = np.argmax(outputs[j].reshape(len(outputs[j]), -1), axis=1) == labels
        accuracy = float(correct.mean())
        classes = num_classes or int(labels.max()) + 1
        per_class = [float(correct[labels == c].mean()) if (labels == c).any() else None for c in range(classes)]
    return VariantMetrics(
        name=name, quant=quant, engine=engine, size_bytes=size_bytes, accuracy=accuracy, per_class_accuracy=per_class,
        top1_agreement=agreement, max_abs_error=float(diff.max()),
        mean_abs_error=float(diff.mean()), latency=latency, samples=len(outputs[k]),
        primary_output=roles.primary_name if per_output else None, outputs=per_output,
        non_finite=non_finite_note(outputs, reference),
        output_kind=kind, figure=output_kinds.FIGURES[kind], mean_iou=found.mean_iou,
        correlation=found.correlation if kind == "probability_map" else None,
    )


def run_all(models: dict[str, bytes], inputs: Inputs, measure_latency: bool = True, workers: int | None = None,
            chunk: int = BATCH) -> tuple[dict[str, list[np.ndarray]], dict[str, Latency | None]]:
    """Outputs (dequantized) and host latency of every model on the same inputs.

    The (model, chunk of samples) pairs are spread over a thread pool of single-threaded LiteRT
    interpreters (LiteRT releases the GIL in invoke), scheduled by `_Schedule`: a worker keeps to
    one model while it has chunks left, and only when no model is left unstarted helps with the
    one whose chunks take longest, so that a slow variant (int16x8 runs on reference kernels)
    shares the cores with the fast ones instead of running alone at the end, while most models
    get one interpreter (each one costs a build and a first invoke that packs its weights).
    Latency is measured afterwards, one model at a time, on a quiet machine. `inputs` may still be
    loading (packager.data.loading): a chunk is run as soon as its rows are decoded.
    """
    if not models:
        return {}, {}
    workers = max(1, min(workers or os.cpu_count() or 1, len(models) * max(1, -(-len(inputs) // chunk))))
    graphs = {name: parse_graph(model) for name, model in models.items()}  # once: a parse costs 2-3 ms of the GIL
    schedule = _Schedule(models, len(inputs), chunk, lambda: ready_rows(inputs), graphs)
    parts: dict[str, dict[int, list[np.ndarray]]] = {name: {} for name in models}
    converted = _SharedInputs(graphs)
    failures: list[BaseException] = []
    with progress.task(f"Evaluating {len(models)} model(s) on {len(inputs)} samples", len(models) * len(inputs)) as advance:
        def work() -> None:
            try:
                while (task := schedule.take()) is not None:
                    name, start, runner = task
                    started = time.perf_counter()
                    rows = rows_of(inputs, start, start + chunk)  # waits if still loading
                    parts[name][start] = runner.predict(rows, quantized=converted.get(start, name, runner, rows))
                    schedule.done(name, runner, time.perf_counter() - started)
                    advance(min(chunk, len(inputs) - start))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
                failures.append(exc)
                schedule.stop()

        threads = [threading.Thread(target=work, name=f"evaluate-{i}", daemon=True) for i in range(workers - 1)]
        for thread in threads:
            thread.start()
        work()  # the caller's thread is a worker too
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    outputs = {
        name: [np.concatenate([chunks[s][k] for s in sorted(chunks)]) for k in range(len(next(iter(chunks.values()))))]
        for name, chunks in parts.items()
    }
    return outputs, measure_latencies(models, inputs) if measure_latency else {name: None for name in models}


def measure_latencies(models: dict[str, bytes], inputs: Inputs) -> dict[str, Latency | None]:
    """Host latency of every model at batch 1, one model at a time (all cores to each)."""
    first = rows_of(inputs, 0, 1)
    return {name: ModelRunner(model).latency(first) for name, model in models.items()}


class _SharedInputs:
    """Each chunk converted to a model's input dtype once for all the models that take the same
    (float32 for fp32, fp16, dynamic-range and int16x8 models alike), and dropped once each of them
    has taken it."""

    def __init__(self, graphs: dict[str, Graph]):
        self.key = {name: _input_key(graph.inputs) for name, graph in graphs.items()}
        self.sharers = {name: frozenset(n for n, k in self.key.items() if k == self.key[name]) for name in graphs}
        self.cache: dict[tuple, tuple[object, set[str]]] = {}  # (start, key) -> (tensor, the models that took it)
        self.lock = threading.Lock()

    def get(self, start: int, name: str, runner: ModelRunner, rows):
        key, sharers = self.key[name], self.sharers[name]
        if key is None or len(sharers) < 2:
            return None
        with self.lock:
            if (start, key) in self.cache:
                return self._take(start, key, name)
        tensor = runner.quantize_input(rows)  # outside the lock: other workers go on meanwhile
        with self.lock:
            self.cache.setdefault((start, key), (tensor, set()))  # another worker's, if it was quicker
            return self._take(start, key, name)

    def _take(self, start: int, key: tuple, name: str):
        tensor, taken = self.cache[(start, key)]
        taken.add(name)
        if taken >= self.sharers[name]:
            del self.cache[(start, key)]
        return tensor


def _input_key(inputs) -> tuple | None:
    """What ModelRunner.quantize_input's result depends on: one input's dtype and quantization."""
    if len(inputs) != 1:
        return None
    return (np.dtype(inputs[0].dtype).str, inputs[0].scale, inputs[0].zero_point)


class _Schedule:
    """Which (model, chunk) a free worker runs next, and on which of the model's interpreters.

    A worker stays with the model it ran last while that model has chunks left (its interpreter is
    built and warm), else takes a model no one has started, else (all inputs decoded) the model
    whose chunks take longest, building a second interpreter for it if it has two chunks or more
    left: the last chunks run are then short ones, and the workers finish together (int16x8's last
    chunk left the other worker idle for 50 ms). Interpreters are single-threaded and used by one
    worker at a time.

    While the inputs are still being decoded (packager.data.loading), only chunks already decoded are
    taken when there are any a worker can run on an interpreter it has or a model no one started:
    a fast model that catches up with the decoding hands its worker to another model instead of
    waiting (measured: fast models first left the workers waiting 0.4-0.8 s of a 2 s evaluation).
    """

    def __init__(self, models: dict[str, bytes], samples: int, chunk: int, ready: Callable[[], int] | None = None,
                 graphs: dict[str, Graph] | None = None):
        self.models = models
        self.graphs = graphs or {}
        self.samples, self.chunk = samples, chunk
        self.ready = ready or (lambda: samples)
        self.left = {name: list(range(0, samples, chunk))[::-1] for name in models}  # popped from the end: in order
        self.idle: dict[str, list[ModelRunner]] = {name: [] for name in models}
        self.seconds = {name: 0.0 for name in models}
        self.runs = {name: 0 for name in models}
        self.last: dict[int, str] = {}
        self.started: set[str] = set()
        self.lock = threading.Lock()

    def _work_left(self, name: str) -> float:
        return len(self.left[name]) * self._chunk_seconds(name)

    def _pick(self, worker: int) -> str | None:
        names = [n for n in self.models if self.left[n]]
        if not names:
            return None
        ready = self.ready()
        if ready >= self.samples:
            return self._longest_first(worker, names)
        # still decoding: a chunk that needs no waiting, if one needs no new interpreter
        decoded = [n for n in names if min(self.left[n][-1] + self.chunk, self.samples) <= ready]
        choice = self._pick_among(worker, decoded, build_second=False)
        if choice is not None:
            return choice
        return self._pick_among(worker, names, build_second=True)

    def _longest_first(self, worker: int, names: list[str]) -> str:
        """All decoded: the worker's own model while it has chunks left (its interpreter is warm:
        switching models every chunk cost 5 % more CPU), else a model no one started, else the one
        whose chunks take longest, so that the last chunks run are short ones and the workers finish
        together (a slow model's chunk last left one worker idle for most of it). A second
        interpreter is built only for a model with two chunks or more left."""
        kept = self._own_or_unstarted(worker, names)
        if kept is not None:
            return kept
        ranked = sorted(names, key=self._chunk_seconds, reverse=True)
        return next((n for n in ranked if self.idle[n] or len(self.left[n]) >= 2), ranked[0])

    def _own_or_unstarted(self, worker: int, names: list[str]) -> str | None:
        """The worker's own model while its interpreter is free, else the first model no one started."""
        mine = self.last.get(worker)
        if mine in names and self.idle[mine]:
            return mine
        return next((n for n in names if n not in self.started), None)

    def _chunk_seconds(self, name: str) -> float:
        return self.seconds[name] / self.runs[name] if self.runs[name] else 0.0

    def _pick_among(self, worker: int, names: list[str], build_second: bool) -> str | None:
        if not names:
            return None
        kept = self._own_or_unstarted(worker, names)
        if kept is not None:
            return kept
        with_idle = [n for n in names if self.idle[n]]
        if with_idle or build_second:
            return max(with_idle or names, key=self._work_left)
        return None

    def take(self) -> tuple[str, int, ModelRunner] | None:
        worker = threading.get_ident()
        with self.lock:
            name = self._pick(worker)
            if name is None:
                return None
            start = self.left[name].pop()
            runner = self.idle[name].pop() if self.idle[name] else None
            self.last[worker] = name
            self.started.add(name)
        if runner is None:  # built outside the lock: other workers go on meanwhile
            runner = ModelRunner(self.models[name], threads=1, graph=self.graphs.get(name))
        return name, start, runner

    def done(self, name: str, runner: ModelRunner, seconds: float) -> None:
        with self.lock:
            self.idle[name].append(runner)
            self.seconds[name] += seconds
            self.runs[name] += 1

    def stop(self) -> None:
        with self.lock:
            for chunks in self.left.values():
                chunks.clear()
