"""`packager build` as a library: BuildSpec in, bundle out.

source -> float TFLite (converted once) -> variants -> evaluate against float -> choose ->
metadata (embedded, read back, verified) -> golden I/O -> dist/<name>/ (atomic) with manifest and
report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from packager import progress, report
from packager.build import sources, tasks
from packager.build.calib_eval_data import load_data, random_inputs
from packager.build.facts import LABELLED_TASKS, model_facts
from packager.build.golden import golden_io, golden_picks
from packager.build.judging import make_judge
from packager.build.labels import own_labels, resolve_labels
from packager.build.manifest_writer import default_description, make_manifest
from packager.build.selection import check_budget, choose
from packager.build.spec import BuildSpec
from packager.build.stages import Choice, Converted, Prepared
from packager.build.tflite_source import defaults_from_metadata, infer_quant, own_metadata, tflite_source
from packager.build.variants import HELD_OUT_EVERY, derive_variants, held_out_split, quantization_debug, recipes_for
from packager.bundle.writer import BundleFiles, check_writable, remove_created, write_bundle
from packager.errors import PackagerError
from packager.manifest import AcceleratorCoverage, Manifest, Selection, VariantMetrics
from packager.quant import auto
from packager.quant.engines import FLOAT, Variant
from packager.runtime import compat, coverage, isolation, targets
from packager.runtime.evaluate import ModelRunner
from packager.runtime.isolation import check_tflite
from packager.runtime.judge import Judge
from packager.segmentation import masks as seg_masks
from packager.tflite import metadata as tflite_metadata
from packager.tflite.flatbuffer import parse_graph
from packager.tflite.input_sizes import InputSizes
from packager.tflite.state import NOTE, model_state


@dataclass
class BuildResult:
    bundle: Path
    manifest: Manifest
    chosen: VariantMetrics
    float_metrics: VariantMetrics
    variants: list[VariantMetrics]
    timings: dict[str, float] = field(default_factory=dict)
    models: dict[str, bytes] = field(default_factory=dict)  # float and every variant, as evaluated




class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self._t
        self._t = now


def build(spec: BuildSpec) -> BuildResult:
    source = sources.detect(spec.model)
    created = check_writable(spec.output)

    isolation.prestart()  # the worker that loads every model first (packager/runtime/isolation.py) imports LiteRT meanwhile
    try:
        # the app's runtimes, their environments found (or made) now and their workers started: a
        # runtime that cannot be had fails the build before any work
        checker = compat.Checker.for_build(targets.resolve(spec.runtimes), spec.skip_runtime_check, spec.golden_samples)
        return _build(spec, source, checker)
    except BaseException:
        remove_created(created)  # a failed build leaves no output folder that was not there
        raise


def _build(spec: BuildSpec, source: sources.SourceModel, checker) -> BuildResult:
    """The stages, one value flowing through: source -> float model (Converted) -> facts, labels
    and data (Prepared) -> variants, evaluation and selection (a Choice, made by the mode) ->
    metadata (the app model) -> bundle."""
    clock = _Clock()
    converted = convert(spec, source)
    clock.lap("convert")
    prepared = prepare(converted)
    clock.lap("data")
    judge = make_judge(prepared)  # one per build: every chooser scores with it (packager.runtime.judge)
    judge.checker = checker  # a variant the app's runtimes cannot run is not picked (packager/runtime/compat.py)
    choice = replace(MODES[converted.mode](prepared, judge, clock, checker), measured_on=judge.data)
    check_budget(prepared.spec, choice.chosen, choice.reference, choice.metrics)
    app_model = embed_metadata(prepared, choice)
    clock.lap("metadata")
    return package(prepared, choice, app_model, clock, checker)


# --- stage 1: source -> float model ---------------------------------------------------------------------------
def convert(spec: BuildSpec, source: sources.SourceModel) -> Converted:
    progress.status(f"Converting {source.path.name} ({source.format}) to float TFLite")
    if spec.custom_objects and source.format not in ("keras", "h5"):
        raise PackagerError(f"--custom-objects applies to Keras .keras/.h5 models, not to a {source.format} source", "drop --custom-objects")
    custom_objects = sources.load_custom_objects(spec.custom_objects)
    sizes = InputSizes(spec.size, spec.input_sizes)
    converter = None if source.format == "tflite" else sources.Converter(source, custom_objects, sizes)
    float_model = sources.to_float_tflite(source, converter, sizes)
    check_tflite(float_model, "the converted float model")
    original, own, mode = float_model, None, "auto" if spec.auto else "explicit"
    if source.format == "tflite":
        float_model, quantize_it = tflite_source(spec, source, float_model)
        mode = mode if quantize_it else "as_given"  # bundled as it is: no variants, no choice
        own = own_metadata(original)
        spec = defaults_from_metadata(spec, own)
    task = tasks.plan(float_model, spec)  # what differs per task (packager/build/tasks.py)
    raw_float = task.raw_graph(float_model)  # what the variants are derived from (a detector: before its post-processing)
    return Converted(spec, source, converter, task.finish(float_model), original, own, mode, task, raw_float)


# --- stage 2: what the model is, labels, data ----------------------------------------------------------------
def prepare(converted: Converted) -> Prepared:
    spec, task = converted.spec, converted.task
    facts = model_facts(converted.float_model, spec, task.classes)
    if converted.own is not None:  # an ImageSegmenter's metadata: its output is an image (a mask), measured per pixel
        facts = replace(facts, image_outputs=tuple(t.content == "image" for t in converted.own.outputs))
    labels = resolve_labels(spec, facts, own_labels(converted.own, facts))
    as_given = converted.mode == "as_given"
    calib, evaluation = load_data(spec if not as_given else replace(spec, quant=(FLOAT,)), facts, labels)  # as given: no calibration
    stand_in = random_inputs(facts) if evaluation is None else None
    truth = task.ground_truth(spec, evaluation, labels, facts)
    return Prepared(converted, facts, labels, calib, evaluation, stand_in, truth)


# --- stage 3: variants -> evaluation -> selection, one way per mode ----------------------------------------
def evaluate_all(prepared: Prepared, judge: Judge, variants: list[Variant], reference_name: str, reference_quant: str
                 ) -> tuple[VariantMetrics, list[VariantMetrics], dict[str, bytes]]:
    """The float model and every variant scored by the build's judge (a model it already ran, e.g. for
    the engine choice, is not run again), with host latency when asked."""
    c = prepared.converted
    models = {FLOAT: c.float_model, **{v.name: v.model for v in variants}}
    judge.outputs(models)
    latencies = judge.latencies(models) if prepared.spec.measure_latency else dict.fromkeys(models)
    reference = judge.reference_metrics(reference_name, reference_quant, "tf-converter" if c.converter else "none", latencies[FLOAT])
    metrics = [replace(m, latency=latencies[v.name]) for v, m in zip(variants, judge.measure(variants))]
    return reference, metrics, models


def prove_in_runtimes(checker, prepared: Prepared, models: dict[str, bytes], wanted: str, clock: _Clock) -> None:
    """Every model in each of the app's runtimes (packager/runtime/compat.py); the one to bundle
    must run in all of them, else the build fails with the operator, the runtime and the remedy."""
    if not checker.active:
        return
    progress.status(f"Running {len(models)} model(s) in the app's runtimes ({', '.join(t.name for t in checker.targets)})")
    for name, model in models.items():
        checker.check(name, model, prepared.eval_inputs)
    clock.lap("runtime check")
    checker.require(wanted, list(models), models[wanted])


def choose_explicit(prepared: Prepared, judge: Judge, clock: _Clock, checker) -> Choice:
    """The variants of --quant; --select (else the first) is bundled."""
    c, spec = prepared.converted, prepared.spec
    calib, judged_on, choosing = prepared.calib, None, judge
    if prepared.evaluation is not None:
        judged_on = f"the evaluation data ({len(prepared.evaluation)} samples)"
    elif calib is not None and any(r.engine is None for r in recipes_for(spec)):
        # no evaluation data: the engine choice is judged on calibration samples not calibrated on (a judge of
        # its own: the table keeps the seeded random inputs), by the build's scorer and loss rule
        split = held_out_split(calib)
        if split is not None:
            calib, held = split
            judged_on = (f"{len(held)} calibration samples held out of calibration (every {HELD_OUT_EVERY}th; "
                         f"the variants are calibrated on the other {len(calib)})")
        else:
            held, judged_on = calib, f"the {len(calib)} calibration samples themselves (too few to hold some out)"
        choosing = make_judge(prepared, rows=held.inputs, data="held-out calibration samples")
        choosing.checker = checker  # an engine's variant that the app's runtimes cannot run is not picked
    variants, engine_choice = derive_variants(spec, c.raw_float, c.converter, calib, choosing)
    raw_models = {v.name: v.model for v in variants}
    variants = c.task.finish_variants(variants)
    clock.lap("quantize")
    reference, metrics, models = evaluate_all(prepared, judge, variants, FLOAT, "fp32")
    clock.lap("evaluate")
    chosen_variant, chosen, selection = choose(spec, variants, reference, metrics)
    prove_in_runtimes(checker, prepared, {v.name: v.model for v in variants}, chosen_variant.name, clock)
    if engine_choice:
        selection = replace(selection, engine_choice=engine_choice, engine_choice_data=judged_on)
    return Choice(reference, variants, metrics, chosen_variant, chosen, selection, judge.reference, models, raw_models)


def choose_as_given(prepared: Prepared, judge: Judge, clock: _Clock, checker) -> Choice:
    """A .tflite without --quant: measured, and bundled as it is."""
    clock.lap("quantize")
    float_model = prepared.converted.float_model
    reference, _, models = evaluate_all(prepared, judge, [], "source", infer_quant(float_model))
    clock.lap("evaluate")
    prove_in_runtimes(checker, prepared, {"source": float_model}, "source", clock)
    selection = Selection(mode="explicit", chosen=reference.name, max_accuracy_drop=prepared.spec.max_accuracy_drop,
                          reason=prepared.converted.task.as_given_reason(), candidates=[])
    return Choice(reference, [], [], None, reference, selection, judge.reference, models)


def choose_auto(prepared: Prepared, judge: Judge, clock: _Clock, checker) -> Choice:
    """--quant auto: the candidates searched (packager.quant.auto), each scored by the build's judge."""

    c, spec = prepared.converted, prepared.spec
    if prepared.calib is None:
        raise PackagerError("--quant auto needs calibration data for its int8 candidates", "pass --calib-data")
    latency = judge.latencies({FLOAT: c.float_model})[FLOAT] if spec.measure_latency else None
    reference = judge.reference_metrics(FLOAT, "fp32", "tf-converter" if c.converter else "none", latency)
    search = auto.Search(spec, c.raw_float, prepared.calib.inputs, judge, reference, c.converter, checker=checker)
    result = search.run()
    clock.lap("quantize+evaluate")
    variants = [t.variant for t in result.tried]
    models = {FLOAT: c.float_model, **{v.name: v.model for v in variants}}
    return Choice(reference, variants, [t.metrics for t in result.tried], result.chosen.variant, result.chosen.metrics,
                  result.selection(search.budget, search.measure), judge.reference, models, search.derived)


MODES = {"explicit": choose_explicit, "auto": choose_auto, "as_given": choose_as_given}


# --- stage 4: metadata -------------------------------------------------------------------------------------------
def embed_metadata(prepared: Prepared, choice: Choice) -> bytes:
    """The chosen model with TFLite metadata embedded (a .tflite's own kept and merged into), read back and verified."""

    spec, facts, labels, c = prepared.spec, prepared.facts, prepared.labels, prepared.converted
    own, original, source = c.own, c.original, c.source
    meta_spec = tflite_metadata.MetadataSpec(
        name=spec.bundle_name, version=spec.version, task=facts.task, description=spec.description or default_description(spec, facts),
        author=spec.author, license=spec.license, labels=labels if facts.task in LABELLED_TASKS else (labels or None),
        preprocessing=facts.preprocessing, labels_output=facts.labels_output or 0, output_names=list(facts.output_names) or None,
        classes=c.task.classes,
    )
    progress.status("Embedding and verifying TFLite metadata")
    chosen_model = choice.chosen_variant.model if choice.chosen_variant else c.float_model
    stale = c.task.stale_metadata() if own is not None else None  # why the task replaces the source's own, if it does
    if own is not None and not spec.replace_metadata and not stale:  # keep the model's own, merge in what the user gave
        given = set(spec.metadata_given) | ({"labels"} if labels and list(own.labels or ()) != list(labels) else set())
        app_model, merged = tflite_metadata.merge_metadata(chosen_model, original, meta_spec, given)
        tflite_metadata.verify_merged(app_model, original, meta_spec, given, merged)
        progress.stderr_console.print(
            f"note: kept {source.path.name}'s own metadata ({own.name or 'unnamed'}"
            + (f"; packed files {', '.join(merged.kept_files)}" if merged.kept_files else "") + ")"
            + (f", merged in: {', '.join(merged.changed)}" if merged.changed else ", nothing merged in")
            + "; --replace-metadata writes packager's instead", highlight=False, soft_wrap=True)
        return app_model
    if own is not None:
        files = [f.name for f in own.associated_files]
        why = stale or "as --replace-metadata asks"
        progress.stderr_console.print(
            f"warning: replacing {source.path.name}'s own metadata ({own.name or 'unnamed'}"
            + (f"; packed files {', '.join(files)} dropped" if files else "") + f") with packager's, {why}",
            highlight=False, soft_wrap=True)
    app_model = tflite_metadata.embed_metadata(chosen_model, meta_spec)
    tflite_metadata.verify_metadata(app_model, meta_spec)
    return app_model


# --- stage 5: golden files, manifest, bundle ---------------------------------------------------------------
def package(prepared: Prepared, choice: Choice, app_model: bytes, clock: _Clock, checker=None) -> BuildResult:
    spec, c = prepared.spec, prepared.converted
    segmenter = prepared.facts.task == "segmentation"
    golden = golden_io(app_model, prepared.eval_inputs, prepared.evaluation, spec.golden_samples, segmentation=segmenter,
                       float_model=c.float_model if segmenter else None)
    golden_in, golden_out, golden_images, golden_budget = golden.inputs, golden.outputs, golden.images, golden.budget
    runner = ModelRunner(app_model)

    custom_ops = [op for op in parse_graph(app_model).custom_ops if op not in c.task.builtin_ops()]
    if custom_ops:
        progress.stderr_console.print(f"warning: the model uses custom operators {', '.join(custom_ops)}: the app's LiteRT build must "
                                      "provide (register) their kernels, a stock build may not", highlight=False, soft_wrap=True)
    if model_state(app_model) is not None:
        progress.stderr_console.print(f"warning: {NOTE}", highlight=False, soft_wrap=True)
    chosen_variant = choice.chosen_variant  # debugged as derived (a detector: the graph before the post-processing)
    debug_variant = None if chosen_variant is None else replace(chosen_variant, model=choice.raw_models.get(chosen_variant.name, chosen_variant.model))
    debug = quantization_debug(c.raw_float, debug_variant, prepared.calib)
    clock.lap("debug")
    accelerators = accelerator_coverage(choice)
    clock.lap("coverage")

    files = BundleFiles(spec.bundle_name, app_model, prepared.labels, golden_in, golden_out, golden_images, golden_budget=golden_budget,
                        golden_float_masks=golden.float_masks)
    golden_inputs = prepared.eval_inputs[golden_picks(len(prepared.eval_inputs), golden_budget.kept)]
    task_info = c.task.manifest_info(c.float_model, golden_inputs, golden_out, runner, prepared.labels)
    runtimes = checker.record() if checker is not None else None
    manifest = make_manifest(prepared, choice, files, runner, custom_ops, debug, task_info, report.REPORT_FILES, accelerators, runtimes)
    if segmenter:  # the bundled model's masks on the evaluation data against float's and the labelled masks
        chosen_scores = runner.predict(prepared.eval_inputs)[0]
        manifest = replace(manifest, segmentation=seg_masks.summary(choice.float_outputs[0], chosen_scores, prepared.truth))
    bundle = write_bundle(spec.output, files, manifest, render_reports=report.render_all)
    clock.lap("bundle")
    return BuildResult(bundle, manifest, choice.chosen, choice.reference, choice.metrics, clock.timings, choice.models)


def accelerator_coverage(choice: Choice) -> AcceleratorCoverage:
    """Which operators of the float model and of every variant the GPU delegate and NNAPI would take (packager/runtime/coverage.py)."""
    names = {FLOAT: choice.reference.name}  # the float model (or a .tflite as given) under its name in the metrics
    result, _ = coverage.coverage({names.get(name, name): model for name, model in choice.models.items()})
    return result
