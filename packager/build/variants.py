"""The variants --quant asks for, made from the float model (each one whose engine is not fixed made
every way packager can, the best on the data kept), and the debugger's look at the chosen one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from packager import progress
from packager.build.spec import BuildSpec
from packager.data.readers import Dataset, MultiInputs
from packager.manifest import EngineCandidate, QuantizationDebug
from packager.quant import debugger, engine_choice, registry
from packager.quant.engines import FLOAT, Engines, Recipe, Variant
from packager.quant.equalization import equalize
from packager.runtime.isolation import check_tflite
from packager.runtime.judge import Judge


def recipes_for(spec: BuildSpec) -> list[Recipe]:
    io = {"int8": spec.int8_io, "int16x8": spec.int16_io}
    return [Recipe(q, io_dtype=io.get(q, "float32"), engine=spec.engine_for(q)) for q in spec.quant if q != FLOAT and q != "auto"]  # auto: alone




HELD_OUT_EVERY = 4  # without evaluation data, every 4th calibration sample judges the engine choice and is not calibrated on
HELD_OUT_MIN = 16  # fewer calibration samples than this are all used for calibration (and judge, as before)


def held_out_split(calib: Dataset) -> tuple[Dataset, Dataset] | None:
    """(samples to calibrate on, samples held out to judge the engine choice), or None when there are too few.
    Judged on the samples it was calibrated on, the choice selected on noise (issue 28: fer's default int8
    92.3 % against the TF converter's 93.0 % on independent crops)."""
    if len(calib) < HELD_OUT_MIN:
        return None
    rows = np.arange(len(calib))
    held = rows % HELD_OUT_EVERY == HELD_OUT_EVERY - 1

    def part(mask: np.ndarray) -> Dataset:
        picked = rows[mask]
        return replace(calib, inputs=calib.inputs[picked], labels=None,
                       files=tuple(calib.files[i] for i in picked) if calib.files else ())

    return part(~held), part(held)


def derive_variants(spec: BuildSpec, float_model: bytes, converter, calib: Dataset | None,
                    judge: Judge | None = None) -> tuple[list[Variant], list[EngineCandidate]]:
    """The variants asked for; each one whose engine is not fixed is made every way packager can and the
    best by the build's judge is kept (packager.quant.engine_choice); the candidates' figures come back
    for the manifest. Not without any data (no evaluation, no calibration data): the default engine makes it then."""

    calibration = calib.inputs if calib is not None else None
    engines = Engines(float_model, converter)
    variants: list[Variant] = []
    choices: list[EngineCandidate] = []
    if FLOAT in spec.quant:
        variants.append(Variant(Recipe(FLOAT, engine="none" if converter is None else None), float_model,
                                "none" if converter is None else "tf-converter", 0.0))
    recipes = recipes_for(spec)
    with progress.task("Deriving variants", len(recipes)) as advance:
        for recipe in recipes:
            if recipe.engine is None and judge is not None and (judge.data == "evaluation data" or calib is not None):
                variant, candidates = engine_choice.choose(recipe, engines, calibration, judge)
                variants.append(variant)
                choices += [c.record(recipe.name) for c in candidates]
            else:
                variants.append(engines.derive(recipe, calibration))
            check_tflite(variants[-1].model, f"the {recipe.name} variant")
            advance(1)
    return variants, choices


def quantization_debug(float_model: bytes, variant: Variant | None, calib: Dataset | None) -> QuantizationDebug | None:
    """The debugger's findings (packager.quant.debugger) for a statically quantized chosen variant."""
    if variant is None or calib is None or not variant.recipe.needs_calibration:
        return None
    if isinstance(calib.inputs, MultiInputs):  # the debugger feeds one input
        return None

    progress.status(f"Comparing {variant.name} with float tensor by tensor")
    method = variant.recipe.calibration if registry.packager_calibration(variant.engine) else variant.engine
    if variant.recipe.equalize:  # compare with the equalized float model: same function, rescaled depthwise channels

        float_model, method = equalize(float_model, calib.inputs).model, f"{method}+cle"
    if variant.recipe.bias_correction:
        method = f"{method}+bc"
    return QuantizationDebug.from_dict(debugger.debug(float_model, variant.model, calib.inputs, variant.name, method).to_dict())
