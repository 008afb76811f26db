"""Accelerator coverage at build time: which operators of a model the GPU delegate and NNAPI (at
each Android API level the app supports) would take, and how they would split the graph.

A static prediction from the delegates' own rules (packager/runtime/gpu_rules.py,
packager/runtime/nnapi_rules.py, taken from LiteRT v2.2.0's sources), applied to the operators
and tensors `flatbuffer.op_signatures` reads: nothing runs, no device is asked. What a phone's
GPU driver or NNAPI driver does on top (its own op support, a device with no NNAPI accelerator)
is only known on the phone.

Partitions are counted the way TFLite's delegate helper forms them (graph_info.cc,
PartitionGraphIntoIndependentNodeSubsets: maximal runs of accepted operators, in dependency order),
and only the largest ones are delegated: 3 for NNAPI (StatefulNnApiDelegate::Options
max_number_delegated_partitions), 1 for the GPU delegate (TfLiteGpuDelegateOptionsV2Default).
A constant float16 DEQUANTIZE (the weights of an fp16 variant) is never delegated itself: the
delegates read its float16 data in its consumers (FP16GraphPartitionHelper), so it is counted
apart and does not split the graph.
"""

from __future__ import annotations

import functools
import heapq
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from packager.manifest import AcceleratorCoverage, DelegateCoverage, RefusedOps, VariantCoverage
from packager.runtime import gpu_rules, nnapi_rules
from packager.tflite import flatbuffer
from packager.tflite.flatbuffer import OpSignature

# The app's API levels (android_app/app/build.gradle.kts: minSdk, targetSdk; tests/test_coverage.py checks they agree)
MIN_SDK = 26
TARGET_SDK = 36
GPU_MAX_PARTITIONS = 1
NNAPI_MAX_PARTITIONS = 3
RULES = {
    "gpu": "google-ai-edge/LiteRT v2.2.0 tflite/tools/versioning/gpu_compatibility.cc (CheckGpuDelegateCompatibility) "
           "and tflite/delegates/gpu/common/model_builder.cc (GetOpsToReplace)",
    "nnapi": "google-ai-edge/LiteRT v2.2.0 tflite/delegates/nnapi/nnapi_delegate.cc (NNAPIDelegateKernel::Validate)",
}
BASIS = ("static prediction from the delegates' own rules applied to each operator's type, version, shapes and options; "
         "not a run: a phone's GPU or NNAPI driver may still refuse operators, and NNAPI takes nothing on a phone with no NNAPI accelerator")
FP16_WEIGHTS = "constant float16 weights: read by the operators that use them"


def is_fp16_weights(sig: OpSignature) -> bool:
    return sig.kind == "DEQUANTIZE" and bool(sig.inputs) and sig.inputs[0].dtype == "float16" and sig.inputs[0].const


@dataclass(frozen=True)
class Plan:
    """What one delegate would do with one model."""

    accepted: frozenset[int]
    refusals: dict[int, str]  # operator index -> why
    partitions: list[list[int]]  # the accepted operators' partitions, graph order
    max_partitions: int

    @property
    def delegated(self) -> int:
        return sum(len(p) for p in sorted(self.partitions, key=len, reverse=True)[:self.max_partitions])


def partitions(sigs: list[OpSignature], accepted: Iterable[int]) -> list[list[int]]:
    """The accepted operators' partitions, as TFLite's PartitionGraphIntoIndependentNodeSubsets forms them:
    repeatedly, every operator whose inputs are ready joins the current subset while it is of the
    subset's kind (accepted or not); a subset of accepted operators is one delegated partition."""
    accepted = set(accepted)
    producer = {o.index: i for i, s in enumerate(sigs) for o in s.outputs}
    consumers: dict[int, list[int]] = defaultdict(list)
    waiting = [0] * len(sigs)  # inputs not computed yet
    for i, s in enumerate(sigs):
        for o in s.inputs:
            if o.index >= 0 and o.index in producer and producer[o.index] != i:
                consumers[o.index].append(i)
                waiting[i] += 1
    order: list[int] = [i for i in range(len(sigs)) if waiting[i] == 0]  # a heap: the first ready operator sets a subset's kind
    ready: dict[bool, set[int]] = {True: set(), False: set()}
    for i in order:
        ready[i in accepted].add(i)
    found = []
    while order:
        first = heapq.heappop(order)
        if first not in ready[first in accepted]:
            continue  # assigned already
        kind, subset = first in accepted, []
        while ready[kind]:  # every operator of this kind whose inputs are ready, as they become ready (BuildNodeSubset)
            i = ready[kind].pop()
            subset.append(i)
            for o in sigs[i].outputs:
                for j in consumers.get(o.index, ()):
                    waiting[j] -= 1
                    if waiting[j] == 0:
                        ready[j in accepted].add(j)
                        heapq.heappush(order, j)
        if kind:
            found.append(sorted(subset))
    return found


def plan(sigs: list[OpSignature], refuse: Callable[[OpSignature], str | None], max_partitions: int) -> Plan:
    refusals = {}
    for s in sigs:
        reason = FP16_WEIGHTS if is_fp16_weights(s) else refuse(s)
        if reason:
            refusals[s.position] = reason
    accepted = frozenset(s.position for s in sigs if s.position not in refusals)
    # fp16 weights are ready from the start, as constants: they never split a partition
    graph = [s if not is_fp16_weights(s) else OpSignature(s.position, s.kind, s.custom, s.version, (), s.outputs, s.options) for s in sigs]
    return Plan(accepted, refusals, partitions(graph, accepted), max_partitions)


def _refused(sigs: list[OpSignature], refusals: dict[int, str]) -> list[RefusedOps]:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, reason in sorted(refusals.items()):
        groups[(sigs[i].kind, reason)].append(i)
    return [RefusedOps(op=op, reason=reason, nodes=nodes) for (op, reason), nodes in groups.items()]


def _record(sigs: list[OpSignature], p: Plan, **extra) -> DelegateCoverage:
    return DelegateCoverage(accepted=len(p.accepted), delegated=p.delegated, partitions=len(p.partitions), max_partitions=p.max_partitions,
                            refused=_refused(sigs, p.refusals), **extra)


def level_runs(min_sdk: int, target_sdk: int) -> list[tuple[int, list[int]]]:
    """(feature level, its consecutive API levels) from minSdk to targetSdk."""
    runs: list[tuple[int, list[int]]] = []
    for api in range(min_sdk, target_sdk + 1):
        level = nnapi_rules.feature_level(api)
        if runs and runs[-1][0] == level:
            runs[-1][1].append(api)
        else:
            runs.append((level, [api]))
    return runs


DYNAMIC_BATCH = ("SHAPE is computed from the dynamic batch dimension (the input's shape_signature is -1): "
                 "with a batch of 1 the shape is a constant, and SHAPE, STRIDED_SLICE and PACK go (both delegates refuse them)")


UNCHECKED_INT16 = ("NNAPI from 1.2: the delegate's Validate does not check the input type of {ops}, so their int16 operators "
                   "count as accepted here; whether a phone's NNAPI builds them is only known on the phone")


def hints(tree, sigs: list[OpSignature], accepted_int16: set[str]) -> list[str]:
    """What would let the delegates take more (a dynamic batch makes the converter compute shapes at run time),
    and where the prediction is weakest (int16 operators Validate does not type-check)."""
    graph = tree.subgraphs[0]
    dynamic = any(graph.tensors[i].shapeSignature is not None and len(graph.tensors[i].shapeSignature) and graph.tensors[i].shapeSignature[0] == -1
                  for i in (graph.inputs if graph.inputs is not None else ()))
    found = [DYNAMIC_BATCH] if dynamic and any(s.kind == "SHAPE" for s in sigs) else []
    if accepted_int16:
        found.append(UNCHECKED_INT16.format(ops=", ".join(sorted(accepted_int16))))
    return found


def variant_coverage(name: str, model: bytes, min_sdk: int = MIN_SDK, target_sdk: int = TARGET_SDK) -> VariantCoverage:
    tree = flatbuffer.read(model)
    sigs = flatbuffer.op_signatures(tree)
    gpu = _record(sigs, plan(sigs, gpu_rules.validate, GPU_MAX_PARTITIONS))
    nnapi = []
    accepted_int16: set[str] = set()
    for level, apis in level_runs(min_sdk, target_sdk):
        if level == 0:  # the delegate does nothing before API 27: one line, not every operator
            nnapi.append(DelegateCoverage(accepted=0, delegated=0, partitions=0, max_partitions=NNAPI_MAX_PARTITIONS,
                                          refused=[RefusedOps(op="*", reason="no NNAPI before Android 8.1 (API 27)", nodes=[s.position for s in sigs])],
                                          api_levels=apis, feature_level=nnapi_rules.NAMES[0]))
            continue
        p = plan(sigs, functools.partial(nnapi_rules.validate, level=level), NNAPI_MAX_PARTITIONS)
        accepted_int16 |= {sigs[i].kind for i in p.accepted if sigs[i].inputs and sigs[i].inputs[0].dtype == "int16"}
        nnapi.append(_record(sigs, p, api_levels=apis, feature_level=nnapi_rules.NAMES[level]))
    return VariantCoverage(variant=name, operators=len(sigs), gpu=gpu, nnapi=nnapi, hints=hints(tree, sigs, accepted_int16))


def coverage(models: dict[str, bytes], min_sdk: int = MIN_SDK, target_sdk: int = TARGET_SDK) -> tuple[AcceleratorCoverage, float]:
    """Every model's coverage (name -> .tflite bytes, in order), and the seconds it took."""
    start = time.perf_counter()
    variants = [variant_coverage(name, model, min_sdk, target_sdk) for name, model in models.items()]
    result = AcceleratorCoverage(basis=BASIS, rules=dict(RULES), api_levels=[min_sdk, target_sdk], variants=variants)
    return result, time.perf_counter() - start


def lines(v: VariantCoverage) -> list[str]:
    """Plain-text lines for a terminal or a log."""
    out = [f"  gpu: {v.gpu.summary(v.operators)}" + (f" - {v.gpu.reasons()}" if v.gpu.refused else "")]
    for apis, levels, entry in v.nnapi_rows():
        out.append(f"  nnapi API {apis} ({levels}): {entry.summary(v.operators)}" + (f" - {entry.reasons()}" if entry.refused else ""))
    return out + [f"  hint: {h}" for h in v.hints]


def one_line(v: VariantCoverage) -> str:
    """The variant's coverage in one line, for the end of `packager build`."""
    runs: list[tuple[list[int], int]] = []  # consecutive API levels delegating as many operators
    for e in v.nnapi:
        if runs and runs[-1][1] == e.delegated:
            runs[-1][0].extend(e.api_levels)
        else:
            runs.append((list(e.api_levels), e.delegated))
    nnapi = ", ".join(f"API {a[0]}{f'-{a[-1]}' if len(a) > 1 else ''} {n} of {v.operators}" for a, n in runs)
    return f"GPU {v.gpu.summary(v.operators)}; NNAPI ops delegated: {nnapi}"
