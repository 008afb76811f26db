"""The fuzz and fault harness shared by tests/test_fuzz.py (bounded) and scripts/fuzz.py (larger counts).

Every trial ends in one of three outcomes:
- ok:    exit 0;
- clean: exit 2 with exactly one line on stderr starting with `error: ` (besides `note:` and
         `warning:` lines the build prints on its way), no traceback;
- crash: anything else (a traceback, an exception escaping, another exit code, several lines,
         a process killed by a signal, an invariant broken).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

OK, CLEAN, CRASH = "ok", "clean error", "crash"


@dataclass
class Tally:
    counts: Counter = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)

    def add(self, outcome: str, detail: str = "") -> str:
        self.counts[outcome] += 1
        if outcome == CRASH:
            self.crashes.append(detail)
        return outcome

    @property
    def tried(self) -> int:
        return sum(self.counts.values())

    def line(self, what: str) -> str:
        return f"{what}: {self.tried} tried, {self.counts[OK]} ok, {self.counts[CLEAN]} clean error, {self.counts[CRASH]} crash"


# every trial of a session, by kind: scripts/fuzz.py prints these after a larger run
TALLIES: dict[str, Tally] = {}


def tally(kind: str) -> Tally:
    return TALLIES.setdefault(kind, Tally())


def outcome_of(result) -> tuple[str, str]:
    """Classify a click CliRunner result."""
    stderr = result.stderr
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith(("note: ", "warning: "))]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return CRASH, f"{type(result.exception).__name__}: {result.exception}"
    if "Traceback" in stderr or "Traceback" in result.stdout:
        return CRASH, stderr[-500:]
    if result.exit_code == 0:
        return OK, ""
    if result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "):
        return CLEAN, lines[0]
    return CRASH, f"exit {result.exit_code}: {stderr[-500:]}"


def cli(args: list[str]):
    from packager.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


# --- .tflite mutations --------------------------------------------------------------------------------------
_STRUCT_VALUES = [0, 1, 2, 3, -1, 7, 64, 1000, 1 << 20, (1 << 31) - 1]


def mutate_tflite(model: bytes, seed: int) -> bytes:
    """One of: bytes overwritten at random places, a truncation, or a structural edit of the graph
    (a tensor's shape, type or buffer, an operator's inputs, outputs or opcode)."""
    rng = random.Random(seed)
    kind = rng.choice(["bytes", "bytes", "truncate", "struct", "struct", "struct"])
    if kind == "truncate":
        return model[: rng.randrange(8, len(model))]
    if kind == "bytes":
        data = bytearray(model)
        for _ in range(rng.choice([1, 2, 4, 8, 32])):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    from packager.tflite import flatbuffer

    tree = flatbuffer.read(model)
    graph = tree.subgraphs[0]
    for _ in range(rng.choice([1, 1, 2, 3])):
        edit = rng.choice(["shape", "type", "buffer", "input", "output", "opcode"])
        tensor = rng.choice(graph.tensors)
        op = rng.choice(graph.operators)
        if edit == "shape" and tensor.shape is not None and len(tensor.shape):
            shape = [int(d) for d in tensor.shape]
            shape[rng.randrange(len(shape))] = rng.choice(_STRUCT_VALUES)
            tensor.shape = shape
        elif edit == "type":
            tensor.type = rng.randrange(0, 18)
        elif edit == "buffer":
            tensor.buffer = rng.randrange(len(tree.buffers))
        elif edit == "input" and len(op.inputs):
            inputs = [int(i) for i in op.inputs]
            inputs[rng.randrange(len(inputs))] = rng.randrange(-1, len(graph.tensors) + 2)
            op.inputs = inputs
        elif edit == "output" and len(op.outputs):
            outputs = [int(i) for i in op.outputs]
            outputs[rng.randrange(len(outputs))] = rng.randrange(-1, len(graph.tensors))
            op.outputs = outputs
        elif edit == "opcode":
            op.opcodeIndex = rng.randrange(len(tree.operatorCodes))
    return flatbuffer.write(tree)


def minimal_app(root: Path) -> Path:
    """The least an Android Studio project needs for `packager bundle`: the app module's build file
    (keeping .tflite uncompressed), its manifest and its assets folder."""
    (root / "app" / "src" / "main" / "assets").mkdir(parents=True)
    (root / "app" / "src" / "main" / "AndroidManifest.xml").write_text(
        '<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="dev.packager.fuzz"/>\n')
    (root / "app" / "build.gradle.kts").write_text('android {\n    androidResources { noCompress += "tflite" }\n}\n')
    return root


def retarget_bundle(bundle: Path, model: bytes) -> None:
    """Put `model` into a copied bundle with its manifest's sha256 and size updated, so consumers
    get past the checksum and meet the bytes themselves."""
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    (bundle / manifest["model"]["file"]).write_bytes(model)
    manifest["model"]["sha256"] = hashlib.sha256(model).hexdigest()
    manifest["model"]["size_bytes"] = len(model)
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")


def tflite_trials(model: bytes, seeds: range, work: Path, tally_inspect: Tally, tally_build: Tally | None,
                  tally_bundle: Tally | None, bundle: Path | None, app: Path | None, build_every: int = 1) -> None:
    """Mutated copies of `model` through `inspect`, `build` (as a .tflite source, bundled as it is)
    and `bundle` (inside a copy of `bundle`, installed into `app`)."""
    for seed in seeds:
        try:
            mutated = mutate_tflite(model, seed)
        except Exception:  # noqa: BLE001 - a structural edit the object API cannot write: not a trial
            continue
        path = work / f"m{seed}.tflite"
        path.write_bytes(mutated)
        tally_inspect.add(*outcome_of(cli(["inspect", path])))
        if tally_build is not None and seed % build_every == 0:
            out = work / f"dist{seed}"
            outcome, detail = outcome_of(cli(["build", path, "--name", "m", "-o", out, "--mean", "0", "--std", "255",
                                              "--no-latency"]))
            if outcome == CLEAN and out.exists():
                outcome, detail = CRASH, f"failed build left {out}"
            tally_build.add(outcome, detail)
            shutil.rmtree(out, ignore_errors=True)
        if tally_bundle is not None and bundle is not None and app is not None:
            copy = Path(shutil.copytree(bundle, work / f"b{seed}" / bundle.name))
            retarget_bundle(copy, mutated)
            tally_bundle.add(*outcome_of(cli(["bundle", copy, "--app", app])))
            shutil.rmtree(copy.parent, ignore_errors=True)
        path.unlink()


# --- SIGKILL at random moments ----------------------------------------------------------------------------
def _run_cli(args: list[str]) -> None:  # in a forkserver child
    from packager.cli import main

    main([str(a) for a in args])


def forkserver():
    """A multiprocessing context whose server has imported what a build of a .tflite source uses
    (packager, LiteRT, tflite-support's metadata writers, which import TensorFlow, matplotlib), so
    each build is forked ready and can be killed at any moment of its own work, not of its imports."""
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["packager.cli", "packager.commands.build", "packager.build.pipeline", "packager.bundle.writer", "packager.tflite.metadata",
                                "packager.report", "packager.runtime.evaluate", "tests.fuzzing", "tests._fuzz_preload"])
    return ctx


def bundle_is_whole(folder: Path) -> str | None:
    """None when `folder` is a complete bundle (valid manifest, every file it names present, the
    model's sha256 as recorded), else what is wrong."""
    from packager.bundle.reader import load_bundle
    from packager.errors import PackagerError

    try:
        ref = load_bundle(folder)
    except PackagerError as exc:
        return exc.one_line()
    if hashlib.sha256(ref.model_path.read_bytes()).hexdigest() != ref.model_sha256:
        return "model sha256 differs from the manifest"
    missing = [p.name for p in ref.golden_input_paths + ref.golden_output_paths if not p.is_file()]
    missing += [r for r in (ref.manifest.reports or {}).values() if not (folder / r).is_file()]
    return f"missing {missing}" if missing else None


def kill_trials(ctx, build_args: list, out: Path, name: str, rounds: int, seed: int, tally: Tally) -> None:
    """`rounds` times: start a build of `name` into `out`, SIGKILL it after a random delay within a
    whole build's duration, then check: the bundle is absent (none before) or whole; then age what
    the killed build left (as if 16 minutes passed) and run the next build to the end: it must
    succeed, leave the bundle whole and no staging folder of `name` behind."""
    from packager.bundle.writer import STALE_STAGING_S

    rng = random.Random(seed)
    full = ctx.Process(target=_run_cli, args=(build_args,))
    started = time.monotonic()
    full.start()
    full.join(300)
    duration = time.monotonic() - started
    assert full.exitcode == 0, f"the unkilled build failed (exit {full.exitcode})"
    for _ in range(rounds):
        had_bundle = (out / name).exists()
        proc = ctx.Process(target=_run_cli, args=(build_args,))
        proc.start()
        time.sleep(rng.uniform(0, duration))
        proc.kill()
        proc.join(60)
        problem = bundle_is_whole(out / name) if (out / name).exists() else ("the bundle vanished" if had_bundle else None)
        if problem:
            tally.add(CRASH, f"after SIGKILL: {problem}")
            continue
        past = time.time() - STALE_STAGING_S - 60
        for left in out.glob(f".{name}.*"):
            import os

            os.utime(left, (past, past))
        after = ctx.Process(target=_run_cli, args=(build_args,))
        after.start()
        after.join(300)
        leftovers = sorted(p.name for p in out.glob(f".{name}.*"))
        problem = (f"next build exit {after.exitcode}" if after.exitcode != 0 else
                   bundle_is_whole(out / name) or (f"staging left: {leftovers}" if leftovers else None))
        tally.add(CRASH if problem else OK, problem or "")


# --- a full disk ------------------------------------------------------------------------------------------
def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def disk_trials(args: list, disk: Path, name: str, free_levels: list[int], tally: Tally) -> list[str]:
    """With `disk` (a small filesystem holding a bundle `name` built by `args`) filled until only
    `free` bytes are left, run `args` again: a clean error must mention the full disk and leave the
    old bundle byte for byte, an ok must leave a whole new bundle; never a staging folder."""
    import os

    outcomes = []
    for free in free_levels:
        before = snapshot(disk / name)
        filler = disk / "filler"
        filler.unlink(missing_ok=True)
        stat = os.statvfs(disk)
        with open(filler, "wb") as fh:
            left = max(stat.f_bavail * stat.f_frsize - free, 0)
            while left > 0:
                left -= fh.write(bytes(min(left, 1 << 20)))
        outcome, detail = outcome_of(cli(args))
        filler.unlink()
        problem = None if outcome != CRASH else detail
        problem = problem or bundle_is_whole(disk / name)
        if outcome == CLEAN and not ("disk is full" in detail or "No space left" in detail):
            problem = problem or f"not a full-disk message: {detail}"
        if outcome == CLEAN and snapshot(disk / name) != before:
            problem = problem or "the old bundle changed"
        entries = sorted(p.name for p in disk.iterdir())
        if entries != [name]:
            problem = problem or f"left behind: {entries}"
        outcomes.append(outcome)
        tally.add(CRASH if problem else outcome, problem or detail)
    return outcomes
