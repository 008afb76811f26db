"""The fuzz and fault suite (issue 14), bounded in time: every outcome is exit 0 or one line and
exit 2, never a traceback; a full disk and SIGKILL never damage a bundle or leave staging behind.
The harness is tests/fuzzing.py; scripts/fuzz.py runs the same trials in larger numbers
(docs/TESTING.md gives its counts)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from packager.errors import PackagerError
from tests import fuzzing

# scripts/fuzz.py raises the count (PACKAGER_FUZZ_EXAMPLES) for its larger run
FAST = settings(max_examples=int(os.environ.get("PACKAGER_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                database=None, derandomize=True)

# --- flags, config files, labels, arrays (hypothesis) -------------------------------------------------------
NUMBER_TEXT = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-10**30, 10**30).map(str),
                        st.sampled_from(["nan", "inf", "-inf", "1e-300", "1e309", "0", "-0", "", " ", "1,2,3", "1,nan", "0x10", "½"]))
WORD = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
FLAGS = {
    "--mean": NUMBER_TEXT, "--std": NUMBER_TEXT, "--max-accuracy-drop": NUMBER_TEXT, "--calib-samples": NUMBER_TEXT,
    "--eval-samples": NUMBER_TEXT, "--golden-samples": NUMBER_TEXT,
    "--quant": st.one_of(WORD, st.lists(st.sampled_from(["fp32", "fp16", "dynamic", "int8", "int16x8", "auto", "int4", ""]), max_size=4).map(",".join)),
    "--select": WORD, "--name": WORD, "--version": WORD, "--size": st.one_of(WORD, st.sampled_from(["8x8", "0x0", "-1x8", "a=8x8", "=", "99999999x1"])),
    "--int8-io": WORD, "--int16-io": WORD, "--color-space": WORD, "--resize-method": WORD, "--engine": WORD,
    "--labels": WORD, "--calib-data": WORD, "--eval-data": WORD, "--custom-objects": WORD, "--primary-output": WORD,
    "--labels-output": WORD, "--task": WORD, "--license": WORD, "--author": WORD, "--description": WORD,
}


@FAST
@given(flags=st.lists(st.tuples(st.sampled_from(sorted(FLAGS)), st.data()), max_size=5))
def test_build_flags(flags, tmp_path_factory):
    work = tmp_path_factory.mktemp("flags")
    args = ["build", work / "missing.keras", "-o", work / "dist"]
    for flag, data in flags:
        args += [flag, data.draw(FLAGS[flag])]
    outcome, detail = fuzzing.outcome_of(fuzzing.cli(args))
    fuzzing.tally("build flags").add(outcome, detail)
    assert outcome == fuzzing.CLEAN, (args, detail)  # the model is missing: never exit 0
    assert not (work / "dist").exists()


TOML_SCALAR = st.one_of(st.integers(-10**20, 10**20).map(str), st.sampled_from(["nan", "inf", "-inf", "+nan", "1e400", "true", "0.0"]),
                        st.floats(allow_nan=False, allow_infinity=False).map(repr), WORD.map(json.dumps))
TOML_VALUE = st.one_of(TOML_SCALAR, st.lists(TOML_SCALAR, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"))
CONFIG_KEYS = ["model", "name", "quant", "max_accuracy_drop", "select", "output", "version", "calib_samples", "x",
               "data.calib", "data.eval", "preprocessing.mean", "preprocessing.std", "preprocessing.size", "preprocessing.color_space",
               "metadata.labels", "metadata.license", "quantization.int8_io", "quantization.engine"]


@FAST
@given(entries=st.lists(st.tuples(st.sampled_from(CONFIG_KEYS), TOML_VALUE), max_size=8),
       raw=st.one_of(st.none(), st.binary(max_size=200), WORD))
def test_build_config_files(entries, raw, tmp_path_factory):
    work = tmp_path_factory.mktemp("config")
    config = work / "build.toml"
    if raw is not None:
        config.write_bytes(raw if isinstance(raw, bytes) else raw.encode("utf-8"))
    else:
        tables: dict[str, list[str]] = {}
        for key, value in entries:
            table, _, leaf = key.rpartition(".")
            tables.setdefault(table, []).append(f"{leaf} = {value}")
        text = "".join(f"{line}\n" for line in tables.pop("", []))
        text += "".join(f"[{table}]\n" + "".join(f"{line}\n" for line in lines) for table, lines in tables.items())
        config.write_text(text, encoding="utf-8")
    outcome, detail = fuzzing.outcome_of(fuzzing.cli(["build", "-c", config, "-o", work / "dist"]))
    fuzzing.tally("config files").add(outcome, detail)
    assert outcome == fuzzing.CLEAN, (config.read_bytes()[:300], detail)
    assert not (work / "dist").exists()


@FAST
@given(lines=st.lists(st.one_of(WORD, st.text(max_size=2000), st.sampled_from(["", " ", "\x00", "\ufeffcat", "a\rb"])), max_size=30),
       tail=st.binary(max_size=8))
def test_labels_files(lines, tail, tmp_path_factory):
    from packager.build.labels import MAX_LABEL_CHARS, read_labels

    path = tmp_path_factory.mktemp("labels") / "labels.txt"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + tail)
    try:
        labels = read_labels(path)
    except PackagerError as exc:
        fuzzing.tally("labels files").add(fuzzing.CLEAN if "\n" not in exc.one_line() else fuzzing.CRASH, exc.one_line())
        assert "\n" not in exc.one_line()
        return
    except Exception as exc:
        fuzzing.tally("labels files").add(fuzzing.CRASH, repr(exc))
        raise
    fuzzing.tally("labels files").add(fuzzing.OK)
    assert len(set(labels)) == len(labels) and all(len(label) <= MAX_LABEL_CHARS for label in labels)


ARRAY = hnp.arrays(dtype=st.sampled_from([np.uint8, np.float32, np.float64, np.int64, np.float16, np.bool_, np.complex64, "<U3"]),
                   shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=9))


@FAST
@given(members=st.dictionaries(st.sampled_from(["x", "images", "y", "labels", "class_names", "other"]), ARRAY, max_size=4),
       npy=st.booleans(), cut=st.one_of(st.none(), st.floats(0, 1)), flips=st.lists(st.integers(0, 10**6), max_size=3))
def test_npy_and_npz_data(members, npy, cut, flips, tmp_path_factory):
    from packager.data.readers import load_dataset

    path = tmp_path_factory.mktemp("arrays") / ("data.npy" if npy else "data.npz")
    buffer = io.BytesIO()
    if npy:
        np.save(buffer, members.get("x", np.zeros((2, 8, 8, 1), np.float32)))
    else:
        np.savez(buffer, **members)
    data = bytearray(buffer.getvalue())
    for at in flips:
        data[at % len(data)] ^= 0x5A
    if cut is not None:
        data = data[: int(len(data) * cut)]
    path.write_bytes(bytes(data))
    try:
        dataset = load_dataset(path, None, (8, 8, 1), what="evaluation data")
    except PackagerError as exc:
        fuzzing.tally(".npy/.npz data").add(fuzzing.CLEAN if "\n" not in exc.one_line() else fuzzing.CRASH, exc.one_line())
        assert "\n" not in exc.one_line()
        return
    except Exception as exc:
        fuzzing.tally(".npy/.npz data").add(fuzzing.CRASH, repr(exc))
        raise
    fuzzing.tally(".npy/.npz data").add(fuzzing.OK)
    assert dataset.inputs.shape[1:] == (8, 8, 1) and np.isfinite(dataset.inputs).all()


# --- mutated .tflite files through inspect, build and bundle ------------------------------------------------
@pytest.fixture()
def minimal_app(tmp_path) -> Path:
    return fuzzing.minimal_app(tmp_path / "app-root")


def test_mutated_tflite_files(digits_bundle, minimal_app, tmp_path):
    model = (digits_bundle / "digits.tflite").read_bytes()
    inspect, build, bundle = fuzzing.Tally(), fuzzing.Tally(), fuzzing.Tally()
    fuzzing.tflite_trials(model, range(30), tmp_path, inspect, build, bundle, digits_bundle, minimal_app, build_every=5)
    for name, tally in (("inspect", inspect), ("build", build), ("bundle", bundle)):
        assert tally.counts[fuzzing.CRASH] == 0, (tally.line(name), tally.crashes[:3])
    assert inspect.counts[fuzzing.CLEAN] > 0 and build.tried >= 4 and bundle.tried >= 20
    assert bundle.counts[fuzzing.OK] > 0  # installed: the app folder is one `packager bundle` accepts


# --- a full disk ----------------------------------------------------------------------------------------------
@pytest.fixture()
def small_disk(tmp_path):
    """A 2 MiB tmpfs (needs root); the injected-ENOSPC variant of this test is in test_hostile.py."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); "
                    "test_hostile.py::test_full_disk_keeps_old_bundle_and_removes_stale_staging injects ENOSPC instead")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_at_every_level(digits_bundle, small_disk, tmp_path):
    """A real full disk (ENOSPC from the kernel) at several fill levels while the next bundle is
    written: one line and the old bundle untouched, or a complete new bundle; never staging left."""
    source = tmp_path / "digits.tflite"
    shutil.copy(digits_bundle / "digits.tflite", source)
    args = ["build", source, "--name", "digits", "-o", small_disk, "--mean", "0", "--std", "255", "--no-latency"]
    assert fuzzing.outcome_of(fuzzing.cli(args))[0] == fuzzing.OK
    size = sum(len(v) for v in fuzzing.snapshot(small_disk / "digits").values())
    tally = fuzzing.Tally()
    outcomes = fuzzing.disk_trials(args, small_disk, "digits", [0, 8 << 10, size // 3, size // 2, 4 * size], tally)
    assert tally.counts[fuzzing.CRASH] == 0, (tally.line("full disk"), tally.crashes)
    assert outcomes[0] == fuzzing.CLEAN and outcomes[-1] == fuzzing.OK, outcomes


# --- SIGKILL at random moments of a build ---------------------------------------------------------------------
def test_sigkill_at_random_moments(digits_bundle, tmp_path):
    source = tmp_path / "digits.tflite"
    shutil.copy(digits_bundle / "digits.tflite", source)
    out = tmp_path / "dist"
    tally = fuzzing.Tally()
    fuzzing.kill_trials(fuzzing.forkserver(), ["build", source, "--name", "digits", "-o", out, "--mean", "0", "--std", "255",
                                               "--no-latency"], out, "digits", rounds=2, seed=0, tally=tally)
    assert tally.counts[fuzzing.CRASH] == 0, (tally.line("sigkill"), tally.crashes)
    assert tally.tried == 2


def test_the_harness_sees_a_crash():
    """The classifier is not blind: a traceback and a second line are crashes, one error line is not."""
    class Result:
        def __init__(self, code, stderr, exception=None):
            self.exit_code, self.stderr, self.stdout, self.exception = code, stderr, "", exception

    assert fuzzing.outcome_of(Result(2, "error: bad; fix it.\n", SystemExit(2)))[0] == fuzzing.CLEAN
    assert fuzzing.outcome_of(Result(1, "Traceback (most recent call last):\n", ValueError("x")))[0] == fuzzing.CRASH
    assert fuzzing.outcome_of(Result(2, "error: one\nerror: two\n", SystemExit(2)))[0] == fuzzing.CRASH
    assert fuzzing.outcome_of(Result(-11, "", None))[0] == fuzzing.CRASH


# --- issue 26: links, FIFOs, untrusted text, huge integers and surrogates ----------------------------------
HOSTILE_CHARS = st.sampled_from(list("[]/$\\{}^_~`<>|&;'\"\n\t") + ["\x1b", "\x07", "\x00", "\x9b", "\x7f", "\u202e", "\u2028", "\ufeff",
                                                                     "\ud800", "\udfff", "[/]", "[m]", "[bold]", "$\\undefinedcommand$", "$x^{$",
                                                                     "\x1b]52;c;aGk=\x07", "\x1b[2J", "é", "ß", "😀"])
HOSTILE_TEXT = st.lists(st.one_of(HOSTILE_CHARS, st.text(max_size=3)), min_size=1, max_size=12).map("".join)
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _device_results(bundle: Path, model: str, manufacturer: str, soc: str, error: str) -> dict:
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    latencies = [1.0, 2.0, 3.0]
    return {
        "schema_version": 1, "kind": "packager-device-results", "created": "2026-01-01T00:00:00Z", "packager": "0.9.0",
        "transfers": {"bytes_pushed": 0, "bytes_skipped": 0}, "apks": [],
        "runs": [{"device": {"serial": "R5X", "manufacturer": manufacturer, "model": model, "soc": soc, "abi": "arm64-v8a", "sdk": 34,
                             "virtual": False},
                  "bundle": manifest["name"], "bundle_sha256": manifest["model"]["sha256"], "recipe": manifest["recipe"]["name"], "runner": "app",
                  "virtual": False, "status": "error" if error else "ok", "accelerator_requested": "cpu", "accelerator_applied": "cpu",
                  "fallback_reason": None, "threads": 1, "init_ms": 3.0, "first_inference_ms": 2.0,
                  "latency": {"count": 3, "mean": 2.0, "std": 0.8, "p50": 2.0, "p90": 2.8, "p99": 3.0, "min": 1.0, "max": 3.0},
                  "peak_memory_kb": None, "parity": None, "errors": [error] if error else [], "latencies_ms": latencies,
                  "delegated_ops": 9, "total_ops": 12, "ops_source": "delegate_log", "peak_memory_measure": "rise_over_preload_baseline"}],
    }


@pytest.fixture(scope="module")
def text_bundle(digits_bundle, tmp_path_factory):
    return shutil.copytree(digits_bundle, tmp_path_factory.mktemp("text") / "digits")


@settings(FAST, max_examples=max(FAST.max_examples // 12, 4))  # a report with its plots takes about 3 s
@given(fields=st.fixed_dictionaries({k: HOSTILE_TEXT for k in ("description", "author", "license", "reason", "label", "model", "manufacturer",
                                                                  "soc", "error")}))
def test_untrusted_text_in_every_model_and_device_string(fields, text_bundle, tmp_path_factory):
    """Markup, terminal escapes, math text and lone surrogates in the manifest's strings, a label and
    a handset's properties: `report` (reports, plots, the device table) and the device table printer
    show them as text; nothing raw reaches a file or the terminal."""
    from packager.device.results import table
    from packager.manifest import DeviceResults
    from packager.text import console

    work = tmp_path_factory.mktemp("text")
    bundle = shutil.copytree(text_bundle, work / "digits")
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    for key in ("description", "author", "license"):
        manifest[key] = fields[key]
    manifest["selection"]["reason"] = fields["reason"]
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    labels = (bundle / "labels.txt").read_text(encoding="utf-8").splitlines()
    labels[0] = " ".join(fields["label"].replace("\ud800", "?").replace("\udfff", "?").split()) or "x"
    (bundle / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    document = _device_results(bundle, fields["model"], fields["manufacturer"], fields["soc"], fields["error"])
    (work / "results.json").write_text(json.dumps(document), encoding="utf-8")
    result = fuzzing.cli(["report", bundle, "-r", work / "results.json"])
    outcome, detail = fuzzing.outcome_of(result)
    fuzzing.tally("untrusted text").add(outcome, detail)
    assert outcome != fuzzing.CRASH, detail
    assert not _RAW_CONTROL.search(result.output.replace("\n", "")), repr(result.output)
    if outcome == fuzzing.OK:
        for name in ("report.md", "report.html"):
            text = (bundle / name).read_text(encoding="utf-8")
            assert not _RAW_CONTROL.search(text.replace("\n", "").replace("\t", "")), name
    out = io.StringIO()
    console(file=out, width=100, force_terminal=True).print(table(DeviceResults.from_dict(document)))
    printed = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())  # the console's own colours; anything else is raw
    assert not _RAW_CONTROL.search(printed.replace("\n", "")), repr(printed)
    assert fields["model"].count("[") <= printed.count("[")  # markup shown, not eaten


_HUGE = "9" * 5000


def _surrogate_json(text: str) -> str:
    return json.dumps(text)  # json.dumps writes a lone surrogate as \\ud800: valid JSON, not UTF-8


@settings(FAST, max_examples=max(FAST.max_examples // 3, 12))
@given(target=st.sampled_from(["manifest:version", "manifest:description", "manifest:golden.count", "manifest:model.size_bytes",
                               "results:transfers.bytes_pushed", "results:runs", "results:created", "toml:calib_samples",
                               "toml:name", "budgets:p90_ms"]),
       value=st.sampled_from(["huge", "negative-huge", "surrogate", "duplicate"]),
       command=st.sampled_from([["report"], ["bundle", "--app", "{work}/app"], ["device", "bench", "-d", "127.0.0.1:1"]]))
def test_huge_integers_surrogates_and_duplicates_in_every_document(target, value, command, text_bundle, tmp_path_factory):
    from packager.device.budgets import Budgets

    work = tmp_path_factory.mktemp("docs")
    bundle = shutil.copytree(text_bundle, work / "digits")
    kind, _, key = target.partition(":")
    literal = {"huge": _HUGE, "negative-huge": "-" + _HUGE, "surrogate": _surrogate_json("a\ud800b"), "duplicate": "1"}[value]
    if kind in ("manifest", "results"):
        document = json.loads((bundle / "manifest.json").read_text(encoding="utf-8")) if kind == "manifest" else _device_results(bundle, "m", "x", "y", "")
        *parents, leaf = key.split(".")
        node = document
        for part in parents:
            node = node[part]
        node[leaf] = "@@"
        text = json.dumps(document).replace('"@@"', literal)
        if value == "duplicate":
            text = text.replace("{", '{"version": 1, "version": 2, ', 1)
        path = (bundle / "manifest.json") if kind == "manifest" else (work / "results.json")
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        args = [a.format(work=work) for a in command] + [bundle] if kind == "manifest" else ["report", bundle, "-r", path]
        outcome, detail = fuzzing.outcome_of(fuzzing.cli(args))
    elif kind == "toml":
        config = work / "build.toml"
        toml_value = {"huge": _HUGE, "negative-huge": "-" + _HUGE, "surrogate": '"a\\ud800b"', "duplicate": "1\ncalib_samples = 2"}[value]
        config.write_text(f'model = "m.keras"\n{key} = {toml_value}\n', encoding="utf-8")
        outcome, detail = fuzzing.outcome_of(fuzzing.cli(["build", "-c", config]))
    else:
        budgets = work / "budgets.toml"
        budgets.write_text(f"[default]\n{key} = {_HUGE if 'huge' in value else '1.0'}\n", encoding="utf-8")
        try:
            Budgets.load(budgets)
            outcome, detail = fuzzing.OK, ""
        except PackagerError as exc:
            outcome, detail = fuzzing.CLEAN, exc.one_line()
    fuzzing.tally("huge integers and surrogates").add(outcome, detail)
    assert outcome != fuzzing.CRASH, (target, value, detail)
    if value in ("huge", "negative-huge", "duplicate") and kind != "budgets" and target != "toml:name":
        assert outcome == fuzzing.CLEAN, (target, value, detail)
    assert not (work / "app").exists()


_BUNDLE_LINKS = ["report-plots", "device", "golden", "golden/images", "golden/output_0.npy"]
_APP_LINKS = ["app/src/main/assets", "app/src/main/assets/models", "app/src/main/assets/models/digits",
              "app/src/main/assets/models/digits/golden", "app/src/main/assets/models/digits/golden/images"]


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else b"<dir>") for p in sorted(folder.rglob("*"))}


@settings(FAST, max_examples=max(FAST.max_examples // 5, 10))  # an install loads the model in LiteRT's worker first
@given(linked=st.sampled_from(_BUNDLE_LINKS + _APP_LINKS), command=st.sampled_from(["report", "bundle", "bench"]))
def test_symlinked_subfolders_of_bundles_and_apps(linked, command, text_bundle, tmp_path_factory):
    """Any subfolder (or file) of a bundle or an app replaced by a link to a folder elsewhere: every
    command ends in exit 0 or one line, and nothing is written or deleted where the link points."""
    work = tmp_path_factory.mktemp("links")
    bundle = shutil.copytree(text_bundle, work / "digits")
    app = fuzzing.minimal_app(work / "app")
    if linked in _APP_LINKS:
        assert fuzzing.cli(["bundle", bundle, "--app", app]).exit_code == 0
        root = app
        linked = linked.removeprefix("app/")
        linked = f"app/{linked}"
        root = work / "app"
    else:
        root = bundle
    target = root / linked
    elsewhere = work / "elsewhere"
    if target.is_dir():
        shutil.copytree(target, elsewhere)
        shutil.rmtree(target)
    else:
        elsewhere.mkdir()
        (elsewhere / "keep.png").write_bytes(b"precious")
        if target.exists():
            target.unlink()
    (elsewhere / "keep.png").write_bytes(b"precious")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(elsewhere, target)
    before = _tree(elsewhere)
    args = {"report": ["report", bundle], "bundle": ["bundle", bundle, "--app", app], "bench": ["device", "bench", "-d", "127.0.0.1:1", bundle]}[command]
    outcome, detail = fuzzing.outcome_of(fuzzing.cli(args))
    fuzzing.tally("symlinked subfolders").add(outcome, detail)
    assert outcome != fuzzing.CRASH, (linked, command, detail)
    assert _tree(elsewhere) == before, (linked, command)
    assert not [p for p in work.rglob(".*.old")], (linked, command)


_PATH_OPTIONS = [["build", "{fifo}"], ["build", "m.keras", "-c", "{fifo}"], ["build", "m.keras", "--calib-data", "{fifo}"],
                 ["build", "m.keras", "--eval-data", "{fifo}"], ["build", "m.keras", "--anchors", "{fifo}"], ["inspect", "{fifo}"],
                 ["report", "{bundle}", "-r", "{fifo}"], ["report", "{fifo}"], ["device", "bench", "-d", "127.0.0.1:1", "{fifo}"],
                 ["bundle", "{fifo}", "--app", "{work}"], ["report", "{bundle_fifo_manifest}"], ["bundle", "{bundle_fifo_manifest}", "--app", "{work}"],
                 ["device", "bench", "-d", "127.0.0.1:1", "{bundle_fifo_manifest}"]]


@FAST
@given(option=st.sampled_from(_PATH_OPTIONS), kind=st.sampled_from(["fifo", "socket", "/dev/null", "/dev/zero"]))
def test_non_regular_files_at_every_path_option(option, kind, tmp_path_factory):
    """A FIFO, a socket or a device at any path a command reads: one line, at once (a watchdog
    unblocks a reader of the FIFO after 20 s, so a hang fails instead of stopping the suite)."""
    import socket
    import threading

    work = tmp_path_factory.mktemp("special")
    special = work / "special"
    listener = None
    if kind == "fifo":
        os.mkfifo(special)
    elif kind == "socket":
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(special))
    else:
        special = Path(kind)
    bundle = work / "b"
    bundle.mkdir()
    (work / "bf").mkdir()
    os.mkfifo(work / "bf" / "manifest.json")
    done = threading.Event()

    def unblock():
        if not done.wait(20):
            for fifo in (special, work / "bf" / "manifest.json"):
                with contextlib.suppress(OSError):
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    threading.Thread(target=unblock, daemon=True).start()
    try:
        args = [a.format(fifo=special, bundle=bundle, work=work, bundle_fifo_manifest=work / "bf") for a in option]
        result = fuzzing.cli(args)
    finally:
        done.set()
        if listener is not None:
            listener.close()
    outcome, detail = fuzzing.outcome_of(result)
    fuzzing.tally("non-regular files").add(outcome, detail)
    assert outcome == fuzzing.CLEAN, (args, detail)
    assert any(word in detail for word in ("FIFO", "socket", "device", "not a bundle")), detail
