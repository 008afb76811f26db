"""Whether a model keeps state between invocations: resource variables (VAR_HANDLE, ASSIGN_VARIABLE,
READ_VARIABLE, initialised by a CALL_ONCE subgraph), as TF converts a tf.Variable that the model
assigns (a streaming model's buffer, a counter). Such a model's outputs depend on every invocation
before: its golden outputs are a sequence from a fresh interpreter, and a check against them (on the
host or a phone) must start from a fresh interpreter and run them in order."""

from __future__ import annotations

from packager.manifest import ModelState
from packager.tflite import flatbuffer
from packager.tflite.flatbuffer import parse_graph

STATE_OPS = ("VAR_HANDLE", "ASSIGN_VARIABLE", "READ_VARIABLE", "CALL_ONCE")
NOTE = ("the model keeps state between invocations (resource variables): its outputs depend on the inputs run before; "
        "the golden outputs are a sequence run in order from a fresh interpreter, so device parity must load the model afresh "
        "and run the golden inputs in that order, and evaluation figures are over inputs run one after another")


def model_state(model: bytes) -> ModelState | None:
    """The model's state operators, or None when it keeps none."""
    graph = parse_graph(model)
    found = [op for op in STATE_OPS if op in graph.operators]
    if not any(op in found for op in ("ASSIGN_VARIABLE", "VAR_HANDLE")):
        return None
    return ModelState(variables=_variables(model), operators=found, subgraphs=len(graph.subgraphs), note=NOTE)


def _variables(model: bytes) -> int:
    """Distinct resource variables: VAR_HANDLE operators by (container, shared name); the initialiser
    subgraph and the main one each take a handle to the same variable."""
    tree = flatbuffer.read(model)
    code = flatbuffer.schema().BuiltinOperator.VAR_HANDLE
    names = set()
    for sub in tree.subgraphs:
        for op in sub.operators or []:
            if flatbuffer.builtin_code(tree, op) == code:
                opts = op.builtinOptions
                names.add((getattr(opts, "container", None), getattr(opts, "sharedName", None)) if opts is not None else id(op))
    return len(names)
