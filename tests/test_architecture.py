"""The import direction written in docs/ARCHITECTURE.md, checked on the source (ast, nothing imported).

- no cycle among packager modules through module-level imports (imports inside functions and
  under `if TYPE_CHECKING:` are deferred and do not make a cycle at import time), and none at
  all, deferred imports and type hints included;
- no module of packager/device/ outside virtual/ imports packager.device.virtual, at any level;
- the library (packager/ outside commands/ and cli.py) does not import the commands;
- the data model (packager/manifest.py) is at the bottom and light, and its readers do not import the build;
- the report (packager/report/) reads the data model and nothing of the build pipeline or the device
  kit; only the build (rendering a new bundle's report) and the commands import it;
- only packager/tflite/flatbuffer.py imports LiteRT's flatbuffer schema and tools;
- only the modules that run models import LiteRT's Interpreter (what a model is, its tensor types
  and signatures, is read through packager.tflite.flatbuffer);
- each folder imports only the layers below it (LAYERS), with the exceptions listed and explained.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "packager"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path, module: str, known: set[str], top_level_only: bool) -> set[str]:
    """The packager modules `module` imports: at module level (not in functions, not under
    TYPE_CHECKING) when top_level_only, else anywhere. `from pkg import name` counts as pkg.name
    when that is a module, else as pkg."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def add(name: str) -> None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if top_level_only and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if top_level_only and isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]))
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module if is_package else module.rpartition(".")[0]
                    for _ in range(child.level - 1):
                        base = base.rpartition(".")[0]
                    source = f"{base}.{child.module}" if child.module else base
                else:
                    source = child.module or ""
                for alias in child.names:
                    add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source)
            visit(child)

    visit(tree)
    return found


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known, top_level_only) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_the_checker_sees_imports_and_cycles():
    # the checker itself: a known edge is seen, a deferred one is not, and a made-up cycle is found
    top = _graph(top_level_only=True)
    anywhere = _graph(top_level_only=False)
    assert "packager.manifest" in top["packager.bundle.writer"]
    assert "packager.device.virtual" in anywhere["packager.commands.device"]
    assert "packager.device.virtual" not in top["packager.commands.device"]  # imported inside a function
    assert "packager.device.virtual.parts" not in top["packager.device.virtual.sync"]  # TYPE_CHECKING only
    assert "packager.device.virtual.parts" in anywhere["packager.device.virtual.sync"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_among_packager_modules():
    cycles = _cycles(_graph(top_level_only=True))
    assert not cycles, "module-level import cycles (see docs/ARCHITECTURE.md): " + "; ".join(" <-> ".join(c) for c in cycles)


def test_deferred_imports_make_no_cycle_either():
    # imports inside functions and type hints under TYPE_CHECKING make no cycle either: the virtual
    # handset's services see the handset through device/virtual/parts.py, and commands.py fills
    # shell.py's command table (shell does not look commands up by importing them)
    cycles = _cycles(_graph(top_level_only=False))
    assert not cycles, "import cycles through deferred imports: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_real_device_code_does_not_import_the_virtual_handset():
    graph = _graph(top_level_only=False)
    offenders = sorted(
        f"{name} imports {target}"
        for name, targets in graph.items()
        if name.startswith("packager.device") and not name.startswith("packager.device.virtual")
        for target in targets if target.startswith("packager.device.virtual"))
    assert not offenders, offenders


def test_the_library_does_not_import_the_commands():
    graph = _graph(top_level_only=False)
    offenders = sorted(
        f"{name} imports {target}"
        for name, targets in graph.items()
        if not name.startswith(("packager.commands", "packager.cli"))
        for target in targets if target.startswith(("packager.commands", "packager.cli")))
    assert not offenders, offenders


def _external_imports(path: Path, top_level_only: bool) -> set[str]:
    """Every module name `path` imports (any package), at module level only or anywhere."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if top_level_only and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if top_level_only and isinstance(child, ast.If) and _is_type_checking(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and not child.level and child.module:
                found.add(child.module)
                found.update(f"{child.module}.{alias.name}" for alias in child.names)
            visit(child)

    visit(tree)
    return found


def test_the_data_model_is_at_the_bottom_and_light():
    # packager/manifest.py: every part imports it; at import time it needs nothing of packager and
    # none of numpy, jsonschema, TensorFlow or LiteRT (the pytest plugin and the CLI stay light)
    graph = _graph(top_level_only=True)
    assert not graph["packager.manifest"], graph["packager.manifest"]
    heavy = {m for m in _external_imports(_modules()["packager.manifest"], top_level_only=True)
             if m.split(".")[0] in ("numpy", "jsonschema", "tensorflow", "ai_edge_litert", "packager")}
    assert not heavy, heavy
    for user in ("packager.build.pipeline", "packager.bundle.writer", "packager.bundle.reader", "packager.report.content", "packager.device.bench",
                 "packager.report.device"):
        assert "packager.manifest" in graph[user], user  # the one model, not a dict of their own
    anywhere = _graph(top_level_only=False)
    readers = ("packager.manifest", "packager.bundle.writer", "packager.bundle.reader", "packager.device.bench",
               *(m for m in anywhere if m == "packager.report" or m.startswith("packager.report.")))
    offenders = sorted(m for m in readers if "packager.build.pipeline" in anywhere[m])
    assert not offenders, f"{offenders} import the build: the model and its readers stand below it"


def test_only_the_flatbuffer_module_reads_the_flatbuffer_schema():
    # one module reads and edits .tflite files: LiteRT's generated schema and flatbuffer tools are
    # imported there and nowhere else in packager
    offenders = sorted(
        f"{name} imports {target}"
        for name, path in _modules().items() if name != "packager.tflite.flatbuffer"
        for target in _external_imports(path, top_level_only=False)
        if target.startswith(("ai_edge_litert.schema_py_generated", "ai_edge_litert.tools")))
    assert not offenders, offenders


# the folders of the build side: what makes a bundle (the report reads what they wrote, never them)
BUILD_SIDE = ("packager.build", "packager.quant", "packager.runtime", "packager.data")


def _in(module: str, folders: tuple[str, ...]) -> bool:
    return any(module == f or module.startswith(f + ".") for f in folders)


# Which folder may import which, at any level (deferred imports included). The stages stand in
# layers: the .tflite file and the data at the bottom, running models above them, quantization
# above that, the tasks (detection) and the build pipeline on top; the bundle, the report and the
# device kit read what the build wrote. Modules at the top of packager/ (errors, fileio, manifest,
# progress, quiet, schemas) are below everything.
LAYERS: dict[str, tuple[str, ...]] = {
    "packager.tflite": ("packager.data.preprocess", "packager.tflite"),
    "packager.data": ("packager.data",),
    "packager.runtime": ("packager.runtime", "packager.tflite", "packager.data"),
    "packager.quant": ("packager.quant", "packager.runtime", "packager.tflite", "packager.data"),
    "packager.detection": ("packager.detection", "packager.quant", "packager.runtime", "packager.tflite", "packager.data"),
    "packager.segmentation": ("packager.segmentation", "packager.runtime", "packager.tflite", "packager.data"),
    "packager.bundle": ("packager.bundle", "packager.tflite"),
}
# the few places a lower folder reaches up, each for a stated reason
LAYER_EXCEPTIONS = {
    ("packager.tflite.metadata", "packager.detection.meta"),  # a detector's metadata: the ObjectDetector writer
    ("packager.tflite.metadata", "packager.segmentation.meta"),  # a segmenter's metadata: the ImageSegmenter writer
    ("packager.tflite.inspect", "packager.detection.postprocess"),  # `inspect` names the four detection outputs
    ("packager.tflite.inspect", "packager.runtime.isolation"),  # `inspect` loads the model in the isolated worker
    ("packager.tflite.inspect", "packager.runtime.coverage"),  # `inspect` shows which operators each accelerator would take
    ("packager.bundle.reader", "packager.data.arrays"),  # golden .npy files read with the bounded .npy reader (no pickles, sizes checked)
    ("packager.bundle.install", "packager.runtime.isolation"),  # the model is loaded in the isolated worker before it is installed
}
TOP_LEVEL = ("packager.errors", "packager.fileio", "packager.manifest", "packager.progress", "packager.quiet", "packager.schemas", "packager.text")


def test_each_folder_imports_only_the_layers_below_it():
    graph = _graph(top_level_only=False)
    offenders = sorted(
        f"{name} imports {target}"
        for name, targets in graph.items()
        for folder, allowed in LAYERS.items() if _in(name, (folder,))
        for target in targets
        if not _in(target, allowed + TOP_LEVEL) and target != "packager" and (name, target) not in LAYER_EXCEPTIONS)
    assert not offenders, "imports against the layers (see docs/ARCHITECTURE.md): " + "; ".join(offenders)
    # every module of the package sits in a folder or is one of the few top-level ones
    top_level_modules = sorted(m for m in graph if m.count(".") == 1 and not _in(m, tuple(LAYERS) + BUILD_SIDE + (
        "packager.commands", "packager.report", "packager.device")))
    assert set(top_level_modules) <= {*TOP_LEVEL, "packager.cli", "packager.examples", "packager.pytest_plugin"}, top_level_modules


def test_the_public_build_entry_point_is_unchanged():
    import packager.build

    assert packager.build.build.__module__ == "packager.build.pipeline"
    assert packager.build.BuildResult.__name__ == "BuildResult"


def test_the_report_reads_the_data_model_and_nothing_of_the_build_or_the_device_kit():
    graph = _graph(top_level_only=False)
    report = sorted(m for m in graph if m == "packager.report" or m.startswith("packager.report."))
    assert {"packager.report", "packager.report.content", "packager.report.device", "packager.report.document",
            "packager.report.plots", "packager.report.regenerate"} <= set(report), report
    assert "packager.manifest" in graph["packager.report.content"] and "packager.manifest" in graph["packager.report.device"]
    offenders = sorted(f"{name} imports {target}" for name in report for target in graph[name]
                       if _in(target, BUILD_SIDE + ("packager.bundle.writer", "packager.tflite.metadata", "packager.device")))
    assert not offenders, offenders
    # who renders a report: the build (a new bundle's) and the commands (`packager report`, the terminal table)
    users = sorted(name for name, targets in graph.items() if name not in report
                   and any(t == "packager.report" or t.startswith("packager.report.") for t in targets))
    assert users and all(u == "packager.build.pipeline" or u.startswith("packager.commands") for u in users), users


# the modules that run models: the runtime folder (evaluation, the isolated worker), the quantization
# statistics that need intermediate tensors (calibration, the debugger, sensitivity) and the virtual
# handset's app; everything else learns what a model is from packager.tflite.flatbuffer
RUNS_MODELS = ("packager.runtime", "packager.quant.calibration", "packager.quant.debugger", "packager.quant.sensitivity",
               "packager.device.virtual.app")


def _interpreter_users(modules: dict[str, Path]) -> set[str]:
    return {name for name, path in modules.items()
            if any(t.startswith("ai_edge_litert.interpreter") for t in _external_imports(path, top_level_only=False))}


def test_only_the_modules_that_run_models_import_the_interpreter(tmp_path):
    offenders = sorted(m for m in _interpreter_users(_modules()) if not _in(m, RUNS_MODELS))
    assert not offenders, f"{offenders} import LiteRT's Interpreter: read the model through packager.tflite.flatbuffer instead"
    # the rule sees a planted violation, deferred inside a function as the real ones are
    planted = tmp_path / "planted.py"
    planted.write_text("def types(model):\n    from ai_edge_litert.interpreter import Interpreter\n    return Interpreter(model_content=model)\n")
    assert _interpreter_users({"packager.planted": planted}) == {"packager.planted"}
