"""The fuzz and fault suite (issue 14), bounded in time: every outcome is exit 0 or one line and
exit 2, never a traceback; a full disk and SIGKILL never damage a bundle or leave staging behind.
The harness is tests/fuzzing.py; scripts/fuzz.py runs the same trials in larger numbers
(docs/TESTING.md gives its counts)."""

from __future__ import annotations

import io
import json
import os
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
