"""What is inside a .tflite file: tensors, operators, subgraphs, metadata, packed files, size.

Works on any TFLite model, not only ours (no metadata, custom or Flex ops, several subgraphs).
The flatbuffer is read by packager.tflite.flatbuffer.parse_graph (the TFLite schema classes that ship
with ai-edge-litert: pure Python, no TensorFlow import), the metadata by packager.tflite.metadata.
LiteRT's Interpreter verifies the flatbuffer first, so a truncated or corrupt file is refused
before anything reads it, and is then asked to prepare the model and run it once on zero inputs
to tell whether it runs as is (custom ops need their kernels, Flex ops the Flex delegate). LiteRT
does that in a child process (packager/runtime/isolation.py): a model that crashes it is one line, exit 2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from packager.detection.postprocess import OP_NAME, output_roles
from packager.errors import PackagerError
from packager.manifest import VariantCoverage
from packager.runtime import coverage, isolation
from packager.tflite import metadata as tflite_metadata
from packager.tflite.flatbuffer import Graph, parse_graph, read_model_file


@dataclass(frozen=True)
class ModelReport:
    path: str
    size_bytes: int
    graph: Graph
    runs_on_litert: bool  # LiteRT prepared it as is (False: e.g. custom ops without kernels)
    litert_error: str | None
    metadata: Any  # packager.tflite.metadata.EmbeddedMetadata | None
    associated_files: tuple[Any, ...]  # packager.tflite.metadata.AssociatedFile
    detection_outputs: tuple[str, ...] | None = None  # TFLite_Detection_PostProcess's outputs: what each graph output is
    accelerators: VariantCoverage | None = None  # what the GPU delegate and NNAPI would take (packager/runtime/coverage.py)

    def to_dict(self) -> dict[str, Any]:
        g = self.graph
        return {
            "path": self.path,
            "size_bytes": self.size_bytes,
            "schema_version": g.schema_version,
            "description": g.description,
            "inputs": [t.to_dict() for t in g.inputs],
            "outputs": [t.to_dict() for t in g.outputs],
            "subgraphs": [asdict(s) for s in g.subgraphs],
            "operators": dict(g.operators),
            "operator_total": sum(g.operators.values()),
            "custom_ops": list(g.custom_ops),
            "signatures": list(g.signatures),
            "runs_on_litert": self.runs_on_litert,
            "litert_error": self.litert_error,
            "metadata": self.metadata.to_dict() if self.metadata is not None else None,
            "associated_files": [asdict(f) for f in self.associated_files],
            "detection_outputs": list(self.detection_outputs) if self.detection_outputs is not None else None,
            "accelerator_coverage": self.accelerators.to_dict() if self.accelerators is not None else None,
        }


def litert_check(data: bytes, what: str) -> tuple[bool, str | None]:
    """Load with LiteRT (verifies the flatbuffer: PackagerError if it cannot be loaded), then
    prepare it: (True, None) when it runs as is, (False, reason) otherwise."""

    # in a child process: a model that crashes LiteRT is one line (isolation.LiteRTCrash), exit 2
    probe = isolation.probe(data, what)
    if probe.load_error is not None:
        raise PackagerError(f"{what} is corrupt or truncated: LiteRT cannot load it ({probe.load_error.rstrip('.')})",
                            "re-export or re-download the model")
    if probe.allocate_error is not None:
        return False, probe.allocate_error
    if probe.run_error is not None:
        return False, f"it loads, but one run on zero inputs fails: {probe.run_error}"
    return True, None


def inspect_model(path: Path | str) -> ModelReport:
    """Everything `packager inspect` shows, as data."""
    data = read_model_file(path)
    runs, error = litert_check(data, str(path))
    graph = parse_graph(data, str(path))
    metadata = tflite_metadata.read_metadata(data) if graph.has_metadata else None  # None only without metadata
    if metadata is not None:
        files = metadata.associated_files
    else:
        files = tuple(tflite_metadata.AssociatedFile(name, len(content)) for name, content in tflite_metadata.associated_files(data).items())

    roles = output_roles(data) if OP_NAME in graph.custom_ops else None
    return ModelReport(path=str(path), size_bytes=len(data), graph=graph, runs_on_litert=runs, litert_error=error,
                       metadata=metadata, associated_files=tuple(files), detection_outputs=roles,
                       accelerators=coverage.variant_coverage(Path(path).name, data))
