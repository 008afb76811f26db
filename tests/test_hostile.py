"""Hostile and unlucky inputs (issue 14): numbers, files and sizes that must give one line, exit 2."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from packager import schemas
from packager.cli import main
from packager.errors import PackagerError


def one_line_failure(args: list[str], *needles: str) -> str:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]
    return lines[0]


# --- numbers ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("flag", "value"), [
    ("--std", "nan"), ("--std", "inf"), ("--std", "1e-300"), ("--std", "0"), ("--std", "-1"), ("--std", "127.5,nan,1"),
    ("--mean", "nan"), ("--mean", "inf"), ("--mean", "-inf"),
    ("--max-accuracy-drop", "nan"), ("--max-accuracy-drop", "inf"), ("--max-accuracy-drop", "-1"),
])
def test_non_finite_or_out_of_range_flag(flag, value, tmp_path):
    dist = tmp_path / "dist"
    one_line_failure(["build", str(tmp_path / "m.keras"), "-o", str(dist), flag, value], flag)
    assert not dist.exists()


@pytest.mark.parametrize(("line", "needle"), [
    ("[preprocessing]\nstd = [nan]", "std"), ("[preprocessing]\nstd = [inf]", "std"), ("[preprocessing]\nmean = [-inf]", "mean"),
    ("max_accuracy_drop = nan", "max_accuracy_drop"), ("[preprocessing]\nstd = [1e-300]", "std"),
])
def test_non_finite_config_value(line, needle, tmp_path):
    config = tmp_path / "build.toml"
    config.write_text(f'model = "m.keras"\n{line}\n', encoding="utf-8")
    one_line_failure(["build", "-c", str(config), "-o", str(tmp_path / "dist")], needle)


def test_schemas_reject_nan_and_infinity():
    for bad in (float("nan"), float("inf"), -float("inf")):
        problems = schemas.errors("build-spec", {"model": "m.keras", "preprocessing": {"mean": [bad]}})
        assert problems and "finite" in problems[0], problems
    assert schemas.errors("build-spec", {"model": "m.keras", "preprocessing": {"mean": [127.5]}}) == []


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_non_finite_arrays_refused(suffix, tmp_path):
    from packager.data.readers import load_dataset

    x = np.zeros((4, 8, 8, 1), np.float32)
    x[1, 2, 3, 0] = np.nan
    x[2, 0, 0, 0] = np.inf
    path = tmp_path / f"calib{suffix}"
    np.save(path, x) if suffix == ".npy" else np.savez(path, x=x)
    with pytest.raises(PackagerError) as err:
        load_dataset(path, None, (8, 8, 1), what="calibration data")
    assert "2 NaN or infinite values" in err.value.one_line()


def test_manifest_never_holds_nan(tmp_path):
    assert schemas.errors("manifest", {"metrics": {"x": float("nan")}})[0].endswith("not a finite number")


# --- documents bounded in size and depth ----------------------------------------------------------------------
def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [100, 200_000])
@pytest.mark.parametrize("command", [["report"], ["bundle", "--app", "nowhere"], ["device", "bench", "-d", "127.0.0.1:1"]])
def test_deeply_nested_manifest(command, levels, tmp_path):
    bundle = tmp_path / "digits"
    bundle.mkdir()
    (bundle / "manifest.json").write_text('{"name": "digits", "x": ' + _deep(levels) + "}", encoding="utf-8")
    one_line_failure([*command, str(bundle)], "nested deeper than")


@pytest.mark.parametrize("levels", [100, 200_000])
def test_deeply_nested_device_results(levels, digits_bundle, tmp_path):
    import shutil

    bundle = shutil.copytree(digits_bundle, tmp_path / "digits")
    results = tmp_path / "results.json"
    results.write_text('{"runs": ' + _deep(levels) + "}", encoding="utf-8")
    one_line_failure(["report", str(bundle), "-r", str(results)], "nested deeper than")


def test_oversized_and_deep_config(tmp_path, monkeypatch):
    from packager import fileio

    config = tmp_path / "build.toml"
    config.write_text('model = "m.keras"\nx = ' + _deep(100_000) + "\n", encoding="utf-8")
    one_line_failure(["build", "-c", str(config)], "nested deeper than")
    config.write_text('model = "m.keras"\n' + "# padding\n" * 200, encoding="utf-8")
    monkeypatch.setattr(fileio, "MAX_DOCUMENT_BYTES", 1024)
    monkeypatch.setattr(fileio.read_text_bounded, "__defaults__", (1024,))
    one_line_failure(["build", "-c", str(config)], "larger than")


# --- packed files -------------------------------------------------------------------------------------------
def test_packed_zip_bomb_is_refused(digits_bundle, tmp_path):
    """A .tflite whose packed zip holds a member inflating past the bound: one line, memory stays small."""
    import io
    import resource
    import zipfile

    from packager.tflite import metadata

    buffer = io.BytesIO((digits_bundle / "digits.tflite").read_bytes())
    size = metadata.MAX_PACKED_FILE_BYTES + (1 << 20)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("vocab.txt", "w", force_zip64=True) as fh:
            zeros = bytes(1 << 20)
            for _ in range(size >> 20):
                fh.write(zeros)
    hostile = tmp_path / "bomb.tflite"
    hostile.write_bytes(buffer.getvalue())
    assert hostile.stat().st_size < 2 * (digits_bundle / "digits.tflite").stat().st_size + (1 << 20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    one_line_failure(["inspect", str(hostile)], "vocab.txt", "more than")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200, grown_mib


# --- report.md -----------------------------------------------------------------------------------
HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">[click](javascript:alert(3))'


def test_report_md_is_inert(digits_bundle, tmp_path):
    """Labels and manifest fields carrying HTML or Markdown links come out of report.md escaped."""
    import shutil

    bundle = shutil.copytree(digits_bundle, tmp_path / "digits")
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    labels = (bundle / "labels.txt").read_text(encoding="utf-8").splitlines()
    labels[0] = HOSTILE
    (bundle / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    for key in ("description", "author", "license"):
        manifest[key] = HOSTILE
    manifest["source"]["path"] = HOSTILE
    manifest["selection"]["reason"] = HOSTILE
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = CliRunner().invoke(main, ["report", str(bundle)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = (bundle / "report.md").read_text(encoding="utf-8")
    assert "&lt;script&gt;" in text
    for raw in ("<script", "<img"):
        assert raw not in text, raw
    assert not re.search(r"(?<!\\)\]\(javascript:", text)


# --- full disk, stale staging, output folder left as found ------------------------------------------------
def _files_of(bundle: Path):
    from packager.bundle.writer import BundleFiles

    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    golden = manifest["golden"]
    from packager.manifest import GoldenBudget, Manifest

    files = BundleFiles(manifest["name"], (bundle / manifest["model"]["file"]).read_bytes(),
                        (bundle / "labels.txt").read_text(encoding="utf-8").splitlines(),
                        [np.load(bundle / g["file"]) for g in golden["inputs"]], [np.load(bundle / g["file"]) for g in golden["outputs"]],
                        golden_budget=GoldenBudget.from_dict(golden["budget"]) if golden.get("budget") else None)
    manifest.pop("reports", None)
    golden.pop("images", None)

    return files, Manifest.from_dict(manifest)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_full_disk_keeps_old_bundle_and_removes_stale_staging(digits_bundle, tmp_path, monkeypatch):
    import copy
    import errno
    import os
    import time

    from packager.bundle import writer as bundle_mod

    files, manifest = _files_of(digits_bundle)
    out = tmp_path / "dist"
    out.mkdir()
    old = bundle_mod.write_bundle(out, files, copy.deepcopy(manifest))
    before = _snapshot(old)
    stale = [out / ".digits.k3j_9x0a.partial", out / ".digits.0123abcd.old"]
    kept = [out / ".digits.fresh123.partial", out / ".other.k3j_9x0a.partial", out / ".digits.notours"]
    for folder in stale + kept:
        folder.mkdir()
        (folder / "x.npy").write_bytes(b"x" * 1000)
    hour_ago = time.time() - 3600
    for folder in [*stale, *kept[1:]]:
        os.utime(folder, (hour_ago, hour_ago))

    real_write_text = Path.write_text

    def full_disk(self, *args, **kwargs):
        if self.name == "manifest.json" and self.parent.name.endswith(".partial"):
            real_write_text(self, "{", encoding="utf-8")  # what fitted before the disk filled up
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(PackagerError) as err:
        bundle_mod.write_bundle(out, files, copy.deepcopy(manifest))
    assert "disk is full" in err.value.one_line() and "\n" not in err.value.one_line()
    assert _snapshot(old) == before
    assert sorted(p.name for p in out.iterdir()) == sorted(["digits", *(p.name for p in kept)])


def test_failed_build_leaves_no_new_output_folder(digits_sources, digits_data, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\nc\n", encoding="utf-8")  # 3 labels for a 10-class model: refused after the output check
    out = tmp_path / "new" / "dist"
    one_line_failure(["build", str(digits_sources["keras"]), "-o", str(out), "--labels", str(labels), "--calib-data",
                      str(digits_data.train_dir), "--mean", "0", "--std", "255", "--no-latency"], "label")
    assert not (tmp_path / "new").exists()


def test_concurrent_bundle_replacement(tmp_path):
    """Writers swapping the same bundle at once: every swap succeeds, one whole bundle remains, no .old left."""
    import threading

    from packager.bundle.writer import _replace_folder

    out = tmp_path / "dist"
    out.mkdir()
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        for i in range(60):
            staging = out / f".digits.w{w}i{i:03d}x.partial"
            staging.mkdir()
            for k in range(3):
                (staging / f"f{k}").write_text(f"{w}-{i}", encoding="utf-8")
            try:
                _replace_folder(staging, out / "digits")
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [], errors[:3]
    assert sorted(p.name for p in out.iterdir()) == ["digits"]
    contents = {(out / "digits" / f"f{k}").read_text(encoding="utf-8") for k in range(3)}
    assert len(contents) == 1


# --- arrays, images and model files bounded ------------------------------------------------------------------
def _load(path: Path) -> str:
    from packager.data.readers import load_dataset

    with pytest.raises(PackagerError) as err:
        load_dataset(path, None, (8, 8, 1), what="evaluation data")
    line = err.value.one_line()
    assert "\n" not in line
    return line


def test_npy_header_declaring_more_than_the_file_holds(tmp_path):
    """A 200-byte .npy declaring a 4 TB array: refused from its header, nothing allocated (numpy would
    allocate the whole array first)."""
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((2, 8, 8, 1), np.float32))
    data = path.read_bytes().replace(b"(2, 8, 8, 1)", b"(999999, 8, 8, 1)")
    path.write_bytes(data)
    assert "truncated or corrupt" in _load(path)
    path.write_bytes(data.replace(b"(999999, 8, 8, 1)", b"(10000000000, 8, 8, 1)"))
    assert "MAX_ARRAY_BYTES" in _load(path)


def test_npz_member_count_and_total_size_bounded(tmp_path):
    import struct
    import zipfile

    from packager.data import arrays

    many = tmp_path / "many.npz"
    np.savez(many, x=np.zeros((2, 8, 8, 1), np.float32), **{f"m{i}": np.zeros(1) for i in range(arrays.MAX_NPZ_MEMBERS)})
    assert "MAX_NPZ_MEMBERS" in _load(many)
    # two members whose zip directory declares 3.75 GiB each: refused before anything is inflated
    big = tmp_path / "big.npz"
    np.savez(big, x=np.zeros((2, 8, 8, 1), np.float32), y=np.zeros(2, np.int64))
    data = bytearray(big.read_bytes())
    with zipfile.ZipFile(big) as z:
        names = [i.filename.encode() for i in z.infolist()]
    at = 0
    for _ in names:
        at = data.index(b"PK\x01\x02", at)
        struct.pack_into("<I", data, at + 24, 0xF0000000)  # central directory: uncompressed size
        at += 4
    big.write_bytes(bytes(data))
    assert "MAX_NPZ_BYTES" in _load(big)


@pytest.mark.parametrize(("labels", "needle"), [([-1, 0], "negative label"), ([0, 3], "only 2 class names")])
def test_npz_labels_out_of_range(labels, needle, tmp_path):
    path = tmp_path / "eval.npz"
    np.savez(path, x=np.zeros((2, 8, 8, 1), np.float32), y=np.array(labels), class_names=np.array(["a", "b"]))
    assert needle in _load(path)


def test_npz_pickled_and_damaged_members(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object))
    assert "pickled" in _load(path)
    good = tmp_path / "good.npz"
    np.savez(good, x=np.arange(2 * 64, dtype=np.float32).reshape(2, 8, 8, 1))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert "cannot be read as a numpy file" in _load(cut)


@pytest.mark.parametrize("side", [10000, 50000])
def test_image_declaring_a_huge_size_is_refused_before_decoding(side, tmp_path):
    """A few-hundred-byte PNG whose header says 10000x10000 (Pillow would only warn, then decode
    100 MB) or 50000x50000 (Pillow raises its own exception type): one line either way."""
    import struct
    import zlib

    from PIL import Image

    from packager.data.readers import load_dataset
    from packager.data.preprocess import Preprocessing

    folder = tmp_path / "images" / "a"
    folder.mkdir(parents=True)
    path = folder / "huge.png"
    Image.new("L", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    struct.pack_into(">II", data, ihdr + 4, side, side)
    struct.pack_into(">I", data, ihdr + 17, zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    path.write_bytes(bytes(data))
    pre = Preprocessing(size=(8, 8), color_space="GRAYSCALE", mean=(0.0,), std=(255.0,), resize_method="bilinear")
    with pytest.raises(PackagerError) as err:
        load_dataset(tmp_path / "images", pre, (8, 8, 1), what="evaluation data")
    assert ("10000x10000" in err.value.one_line() and "MAX_IMAGE_PIXELS" in err.value.one_line()) if side == 10000 else \
        "decompression bomb" in err.value.one_line()


def test_a_device_file_named_as_a_model_is_not_read_for_ever():
    one_line_failure(["inspect", "/dev/zero"], "not a regular file")


@pytest.mark.parametrize("damage", ["changed", "truncated_and_retargeted"])
def test_bundle_refuses_a_model_its_manifest_does_not_describe(damage, digits_bundle, tmp_path):
    """`packager bundle` installs only the model the manifest describes (sha256) and one that reads as
    a .tflite; nothing is written into the app."""
    import shutil

    from tests import fuzzing

    copy = Path(shutil.copytree(digits_bundle, tmp_path / "b" / digits_bundle.name))
    model = (copy / "digits.tflite").read_bytes()
    if damage == "changed":
        (copy / "digits.tflite").write_bytes(model[:-1] + bytes([model[-1] ^ 1]))
        needles = ("does not match its manifest", "rebuild")
    else:
        fuzzing.retarget_bundle(copy, model[: len(model) // 3])
        needles = ("corrupt or truncated",)
    app = fuzzing.minimal_app(tmp_path / "app")
    one_line_failure(["bundle", str(copy), "--app", str(app)], *needles)
    assert not (app / "app" / "src" / "main" / "assets" / "models").exists()


# --- round three (issue 26) ---------------------------------------------------------------------------------
@pytest.fixture
def fifo(tmp_path):
    """A FIFO no one writes to. A watchdog opens every FIFO under tmp_path for writing every 20 s
    (renamed ones too), so code that blocks reading one fails its assertion instead of hanging the suite."""
    import os
    import stat
    import threading

    path = tmp_path / "pipe"
    os.mkfifo(path)
    done = threading.Event()

    def unblock():
        while not done.wait(20):
            for entry in tmp_path.rglob("*"):
                with contextlib.suppress(OSError):
                    if stat.S_ISFIFO(entry.lstat().st_mode):
                        os.close(os.open(entry, os.O_WRONLY | os.O_NONBLOCK))
    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    yield path
    done.set()


@pytest.mark.parametrize("args", [
    ["build", "{fifo}"], ["build", "m.keras", "-c", "{fifo}"], ["build", "m.keras", "--calib-data", "{fifo}"],
    ["build", "m.keras", "--eval-data", "{fifo}"], ["build", "m.keras", "--anchors", "{fifo}"], ["inspect", "{fifo}"],
    ["report", "{bundle}", "-r", "{fifo}"], ["report", "{fifo}"], ["device", "bench", "-d", "127.0.0.1:1", "{fifo}"],
    ["bundle", "{fifo}", "--app", "{tmp}"],
])
def test_fifo_at_every_path_option(args, fifo, tmp_path):
    bundle = tmp_path / "b"
    bundle.mkdir()
    one_line_failure([a.format(fifo=fifo, bundle=bundle, tmp=tmp_path) for a in args], "a FIFO (named pipe)")  # not "fifo": the path holds it


@pytest.mark.parametrize("command", [["report"], ["bundle", "--app", "nowhere"], ["device", "bench", "-d", "127.0.0.1:1"]])
def test_fifo_as_a_bundles_manifest(command, fifo, tmp_path):
    import os

    bundle = tmp_path / "b"
    bundle.mkdir()
    os.rename(fifo, bundle / "manifest.json")
    one_line_failure([*command, str(bundle)], "a FIFO (named pipe)")


def test_fifo_read_by_every_reader(fifo, tmp_path):
    """Paths that reach readers without the command line (a config file's calib_data, a labels
    file, a golden file, budgets.toml, a device results file) are refused on open as well."""
    from packager.build.labels import read_labels
    from packager.data import arrays
    from packager.data.preprocess import Preprocessing
    from packager.data.readers import load_dataset
    from packager.device.budgets import Budgets
    from packager.report.device import read_results_file

    calls = [
        ("calib.npz", lambda p: load_dataset(p, Preprocessing(size=(8, 8)), (8, 8, 1), what="calibration data")),
        ("golden.npy", lambda p: arrays.load_array(p, "golden output")),
        ("labels.txt", read_labels),
        ("budgets.toml", Budgets.load),
        ("results.json", read_results_file),
    ]
    for name, call in calls:
        path = fifo.rename(fifo.with_name(name))
        with pytest.raises(PackagerError) as err:
            call(path)
        assert "a FIFO (named pipe)" in err.value.one_line(), err.value.one_line()
        fifo = path
        assert "FIFO" in err.value.one_line(), err.value.one_line()


@pytest.mark.parametrize("text", ['{"name": "digits", "version": ' + "9" * 5000 + "}", '{"name": "digits", "name": "other"}'])
@pytest.mark.parametrize("command", [["report"], ["bundle", "--app", "nowhere"], ["device", "bench", "-d", "127.0.0.1:1"]])
def test_huge_integer_and_duplicate_key_in_a_manifest(command, text, tmp_path):
    bundle = tmp_path / "digits"
    bundle.mkdir()
    (bundle / "manifest.json").write_text(text, encoding="utf-8")
    one_line_failure([*command, str(bundle)], "digits" if "9999" in text else "twice")


def test_huge_integer_in_toml_and_results(digits_bundle, tmp_path):
    import shutil

    config = tmp_path / "build.toml"
    config.write_text('model = "m.keras"\ncalib_samples = ' + "9" * 5000 + "\n", encoding="utf-8")
    one_line_failure(["build", "-c", str(config)], "digits")
    bundle = shutil.copytree(digits_bundle, tmp_path / "digits")
    results = tmp_path / "results.json"
    results.write_text('{"runs": [], "x": ' + "1" * 6000 + "}", encoding="utf-8")
    one_line_failure(["report", str(bundle), "-r", str(results)], "digits")


def test_symlinked_report_plots_and_device_folders_are_not_written_through(digits_bundle, tmp_path):
    """Case 1: `report` never deletes or writes where a link in the bundle points."""
    import os
    import shutil

    bundle = shutil.copytree(digits_bundle, tmp_path / "digits")
    elsewhere = tmp_path / "photos"
    elsewhere.mkdir()
    (elsewhere / "holiday.png").write_bytes(b"precious")
    shutil.rmtree(bundle / "report-plots", ignore_errors=True)
    os.symlink(elsewhere, bundle / "report-plots")
    result = CliRunner().invoke(main, ["report", str(bundle)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in elsewhere.iterdir()) == ["holiday.png"]
    assert (elsewhere / "holiday.png").read_bytes() == b"precious"
    assert (bundle / "report-plots").is_dir() and not (bundle / "report-plots").is_symlink()
    assert list((bundle / "report-plots").glob("*.png"))
    assert not [p.name for p in bundle.iterdir() if p.name.startswith(".")]

    results = tmp_path / "results.json"
    results.write_text(json.dumps({"schema_version": 1, "created": "2026-01-01T00:00:00Z", "runs": []}), encoding="utf-8")
    shutil.rmtree(bundle / "device", ignore_errors=True)
    os.symlink(elsewhere, bundle / "device")
    from packager.manifest import DeviceResults
    from packager.report.device import keep

    with pytest.raises(PackagerError) as err:
        keep(bundle, DeviceResults(), results)
    assert "symbolic link" in err.value.one_line()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["holiday.png"]


def test_symlinked_bundle_is_swapped_without_leftovers(tmp_path):
    """Case 11: dist/<name> a symbolic link: replaced by the new bundle, the link's target untouched,
    no `.name.*.old` entry left behind."""
    import os

    from packager.fileio import replace_folder

    out = tmp_path / "dist"
    out.mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("mine", encoding="utf-8")
    os.symlink(target, out / "digits")
    staging = out / ".digits.abcdefgh.partial"
    staging.mkdir()
    (staging / "manifest.json").write_text("{}", encoding="utf-8")
    replace_folder(staging, out / "digits")
    assert sorted(p.name for p in out.iterdir()) == ["digits"]
    assert not (out / "digits").is_symlink() and (out / "digits" / "manifest.json").is_file()
    assert (target / "keep.txt").read_text(encoding="utf-8") == "mine"
    os.symlink(tmp_path / "missing", out / "dangling")  # a dangling link is replaced too
    staging.mkdir()
    replace_folder(staging, out / "dangling")
    assert (out / "dangling").is_dir() and sorted(p.name for p in out.iterdir()) == ["dangling", "digits"]


HOSTILE_TEXT = "Splits [/] by [m] channel \x1b]52;c;aGk=\x07\x1b[2J$\\undefinedcommand$ $x^{$"


def test_untrusted_text_is_shown_not_interpreted(digits_data, digits_sources, tmp_path):
    """Case 2: a description with Rich markup, terminal escapes and math text builds, inspects and
    reports as text: no MarkupError, no escape byte reaches the terminal or the reports."""
    from packager import examples

    result = CliRunner().invoke(main, [
        "build", str(digits_sources["keras"]), "-n", "digits", "-o", str(tmp_path), "-q", "fp32", "--calib-data", str(digits_data.train_dir),
        "--eval-data", str(digits_data.test_dir), "--labels", str(digits_data.labels_file), "--mean", str(examples.DIGITS_MEAN[0]),
        "--std", str(examples.DIGITS_STD[0]), "--description", HOSTILE_TEXT, "--author", "[bold]Mallory[/]"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    inspected = CliRunner().invoke(main, ["inspect", str(tmp_path / "digits" / "digits.tflite")], catch_exceptions=False)
    assert inspected.exit_code == 0, inspected.output
    out = " ".join(inspected.output.split())
    assert "\x1b" not in inspected.output and "\x07" not in inspected.output
    assert "[/] by [m] channel" in out and "\\x1b]52" in out and "[bold]Mallory[/]" in out
    for name in ("report.md", "report.html"):
        text = (tmp_path / "digits" / name).read_text(encoding="utf-8")
        assert "\x1b" not in text and "\\x1b" in text, name


def test_lone_surrogate_and_control_characters_in_a_manifest(digits_bundle, tmp_path):
    """Case 4 and 12: a lone surrogate (valid JSON, not UTF-8) and control characters in the manifest's
    strings: `report` writes its reports with U+FFFD and visible escapes, no traceback, no warnings."""
    import shutil
    import warnings

    bundle = shutil.copytree(digits_bundle, tmp_path / "digits")
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest["description"] = "bad \ud800 text \x01\x02\x7f"
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = CliRunner().invoke(main, ["report", str(bundle)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = (bundle / "report.md").read_text(encoding="utf-8")
    assert "bad \ufffd text \\\\x01\\\\x02\\\\x7f" in text  # the escapes, their backslash escaped for Markdown
    assert "bad \ufffd text \\x01\\x02\\x7f" in (bundle / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", [["report"], ["bundle", "--app", "{tmp}/app"], ["device", "bench", "-d", "127.0.0.1:1"]])
def test_a_name_with_a_trailing_newline_is_refused(command, digits_bundle, tmp_path):
    """Case 10: schema patterns end at the end of the string (ECMA `$`), not before a final newline."""
    import shutil

    from tests import fuzzing

    app = fuzzing.minimal_app(tmp_path / "app")
    bundle = shutil.copytree(digits_bundle, tmp_path / "digits")
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest["name"] = "g\n"
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    line = one_line_failure([a.format(tmp=tmp_path) for a in command] + [str(bundle)])
    assert "'g\\n'" in line and ("does not match" in line or "not a safe folder name" in line), line
    assert not (app / "app" / "src" / "main" / "assets" / "models").exists()


def test_created_must_be_a_date_time():
    """Case 12: "created" is checked as RFC 3339 where the schemas say date-time."""
    from packager.fileio import loads_json

    assert schemas.errors("device-results", {"created": "not-a-date"})
    assert any("created" in e for e in schemas.errors("device-results", {"created": "not-a-date"}))
    good = [e for e in schemas.errors("device-results", {"created": "2026-01-01T00:00:00Z"}) if e.startswith("created")]
    assert good == []
    with pytest.raises(ValueError):
        loads_json('{"a": 1, "a": 1}')


def test_class_names_as_users_have_them(digits_data, digits_sources, tmp_path):
    """Case 7: class folders 'hot dog' and 'café' and a labels file saved with a UTF-8 BOM build end
    to end; golden image names are derived safely, the labels keep their names."""
    import shutil

    from tests.conftest import build_digits

    names = ["hot dog", "café", *[str(k) for k in range(2, 10)]]
    evaluation = tmp_path / "eval"
    for k, name in enumerate(names):
        shutil.copytree(digits_data.test_dir / str(k), evaluation / name)
    labels = tmp_path / "labels.txt"
    labels.write_bytes(b"\xef\xbb\xbf" + "\n".join(names).encode("utf-8") + b"\n")
    result = build_digits(digits_data, digits_sources["keras"], tmp_path / "dist", quant="fp32", eval_data=evaluation, labels=labels)
    bundle = result.bundle
    assert (bundle / "labels.txt").read_text(encoding="utf-8").splitlines() == names
    images = result.manifest.golden.images
    assert images and all(re.fullmatch(r"golden/images/\d\d_[A-Za-z0-9_.-]+\.png", name) for name in images), images
    assert any("_hot-dog_" in name for name in images) and any("_cafe_" in name for name in images), images
    assert all((bundle / name).is_file() for name in images)


def _golden_output(bundle: Path) -> Path:
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    return bundle / manifest["golden"]["outputs"][0]["file"]


@pytest.mark.parametrize(("damage", "needle"), [
    ("symlink", "symbolic link"), ("nan", "NaN"), ("complex", "complex"), ("structured", "plain numbers"),
    ("pickle", "pickled"), ("shape", "manifest says"),
])
@pytest.mark.parametrize("command", [["device", "bench", "-d", "127.0.0.1:1"], ["bundle", "--app", "{tmp}/app"], ["report"]])
def test_golden_files_are_checked_before_use(command, damage, needle, digits_bundle, tmp_path):
    """Case 5 and 6: a golden file that is a link out of the bundle, NaN, complex, structured, pickled
    or not what the manifest says is refused before anything is pushed, installed or reported."""
    import os
    import shutil

    bundle = shutil.copytree(digits_bundle, tmp_path / "digits")
    golden = _golden_output(bundle)
    original = np.load(golden)
    golden.unlink()
    if damage == "symlink":
        os.symlink("/etc/passwd", golden)
    elif damage == "nan":
        np.save(golden, np.full_like(original, np.nan, dtype=np.float32) if original.dtype.kind == "f" else original.astype(np.float32) * np.nan)
        manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
        manifest["golden"]["outputs"][0]["dtype"] = "float32"
        (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    elif damage == "complex":
        np.save(golden, original.astype(np.complex64))
    elif damage == "structured":
        np.save(golden, np.zeros(original.shape, dtype=[("a", "f4"), ("b", "i4")]))
    elif damage == "pickle":
        np.save(golden, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif damage == "shape":
        np.save(golden, original[:1])
    one_line_failure([a.format(tmp=tmp_path) for a in command] + [str(bundle)], needle)
    assert not (tmp_path / "app").exists()


def test_npz_array_of_3_9_gib_is_refused_from_its_header(tmp_path):
    """Case 8: an .npz member declaring 3.9 GiB (zeros compress to a few MB) is over the per-array limit."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (20_000, 224, 224, 4)})
    path = tmp_path / "zeros.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", header.getvalue() + bytes(1 << 20))
    assert "MAX_ARRAY_BYTES" in _load(path)


def test_only_the_samples_used_are_preprocessed(tmp_path, monkeypatch):
    """Case 8: --calib-samples N of a large uint8 .npz preprocesses N images, not all of them (2.2 GB and
    63 s for 200 of 20,000 64x64 images before), and they are the samples Dataset.take would keep."""
    from packager.data.preprocess import Preprocessing
    from packager.data.readers import load_dataset

    x = np.random.default_rng(0).integers(0, 255, (500, 8, 8, 1), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x)
    rows = []
    real = Preprocessing.apply
    monkeypatch.setattr(Preprocessing, "apply", lambda self, a, *args, **kw: (rows.append(len(a)), real(self, a, *args, **kw))[1])
    pre = Preprocessing(size=(8, 8), color_space="GRAYSCALE")
    limited = load_dataset(tmp_path / "d.npz", pre, (8, 8, 1), what="calibration data", limit=20)
    assert rows == [20] and len(limited) == 20
    whole = load_dataset(tmp_path / "d.npz", pre, (8, 8, 1), what="calibration data")
    np.testing.assert_array_equal(limited.inputs, whole.take(20).inputs)


def test_results_file_with_millions_of_latencies_is_refused_at_once(digits_bundle, tmp_path):
    """Case 8: 5 million latencies took `report -r` 283 s and 1.5 GB; bounded before the schema walks them."""
    import shutil
    import time

    bundle = shutil.copytree(digits_bundle, tmp_path / "digits")
    results = tmp_path / "results.json"
    results.write_text('{"runs": [{"latencies_ms": [' + ",".join(["1.5"] * 5_000_000) + "]}]}", encoding="utf-8")  # 20 MB
    start = time.monotonic()
    one_line_failure(["report", str(bundle), "-r", str(results)], "larger than")
    results.write_text('{"runs": [{"latencies_ms": [' + ",".join(["1.5"] * 200_000) + "]}]}", encoding="utf-8")
    one_line_failure(["report", str(bundle), "-r", str(results)], "MAX_RUN_LATENCIES")
    assert time.monotonic() - start < 20


def test_a_large_file_that_is_no_model_is_not_read_whole(tmp_path, monkeypatch):
    """Case 8: the identifier is checked on the first bytes, before the rest of a big file is read."""
    from packager.tflite import flatbuffer

    path = tmp_path / "big.tflite"
    with open(path, "wb") as fh:
        fh.truncate(1 << 30)  # sparse: 1 GiB of zeros, no disk used
    reads = []
    real_open = flatbuffer.open_regular

    def counting(p):
        fh = real_open(p)
        original = fh.read
        fh.read = lambda n=-1: (reads.append(n), original(n))[1]
        return fh
    monkeypatch.setattr(flatbuffer, "open_regular", counting)
    with pytest.raises(PackagerError, match="not a TFLite model"):
        flatbuffer.read_model_file(path)
    assert reads == [512]


def test_progress_bars_show_a_handsets_name_as_text(monkeypatch):
    """Case 2: `device bench` names the handset in its progress bar; a model `Evil[/x]` raised MarkupError there."""
    import io

    from packager import progress, text

    out = io.StringIO()
    monkeypatch.setattr(progress, "stderr_console", text.console(file=out, force_terminal=True, width=120))
    monkeypatch.setattr(progress, "_enabled", True)
    with progress.task("Running 1 benchmark(s) on Evil[/x] [m] \x1b]52;c;aGk=\x07", 1) as advance:
        advance(1)
    progress.status("on Evil[/x]")
    printed = out.getvalue()
    assert "Evil[/x] [m]" in printed and "\\x1b]52" in printed and "\x07" not in printed


# --- a model's real length (issue 26, case 8) --------------------------------------------------------------------
def test_a_model_followed_by_junk_is_refused_before_it_is_read(digits_bundle, tmp_path):
    """A valid model followed by 1.9 GiB of zeros (sparse): refused from its flatbuffer's extent,
    through an mmap, without reading the file whole (it used to build at a 7.7 GB peak)."""
    import os
    import resource
    import time

    from packager.tflite import extent, flatbuffer

    model = (digits_bundle / "digits.tflite").read_bytes()
    hostile = tmp_path / "padded.tflite"
    hostile.write_bytes(model)
    os.truncate(hostile, len(model) + (1900 << 20))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    line = one_line_failure(["inspect", str(hostile)], "bytes after the model's end", "re-export or strip")
    assert f"{len(model) - extent.model_end(model, flatbuffer.schema()) + (1900 << 20):,} bytes" in line, line  # from the flatbuffer's end
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 100 and time.monotonic() - started < 30, (grown_mib, line)
    hostile.write_bytes(model + b"junk")  # a few bytes of anything is junk too (the labels' zip no longer ends the file)
    with pytest.raises(PackagerError, match="bytes after the model's end"):
        flatbuffer_model(hostile)


def flatbuffer_model(path: Path) -> bytes:
    from packager.tflite import flatbuffer

    return flatbuffer.read_model_file(path)


def test_a_model_with_packed_labels_is_read_whole(digits_bundle):
    """The zip of associated files tflite-support appends after the flatbuffer is part of the model."""
    from packager.tflite import extent, flatbuffer, metadata

    data = (digits_bundle / "digits.tflite").read_bytes()
    end = extent.model_end(data, flatbuffer.schema())
    assert end < len(data) and data[end:end + 4] == b"PK\x03\x04"  # the labels' zip follows the flatbuffer
    assert flatbuffer_model(digits_bundle / "digits.tflite") == data
    labels = metadata.associated_files(data)
    assert [name for name in labels if name.endswith(".txt")], labels


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_a_truncated_flatbuffer_is_refused(keep, digits_bundle, tmp_path):
    from packager.tflite import extent, flatbuffer

    data = (digits_bundle / "digits.tflite").read_bytes()
    end = extent.model_end(data, flatbuffer.schema())
    (tmp_path / "cut.tflite").write_bytes(data[: int(end * keep)])
    one_line_failure(["inspect", str(tmp_path / "cut.tflite")], "truncated", "re-export")


def test_weights_stored_after_the_flatbuffer_count_in_its_length(digits_bundle, tmp_path):
    """Large models keep buffers outside the flatbuffer (offset and size): those bytes are the model's,
    and junk after them is still refused."""
    from ai_edge_litert.tools import flatbuffer_utils

    from packager.tflite import flatbuffer

    tree = flatbuffer.read((digits_bundle / "digits.tflite").read_bytes())
    biggest = max(range(len(tree.buffers)), key=lambda i: 0 if tree.buffers[i].data is None else len(tree.buffers[i].data))
    payload = bytes(tree.buffers[biggest].data)
    tree.buffers[biggest].data, tree.buffers[biggest].offset, tree.buffers[biggest].size = None, 1, 1  # placeholders
    flat = bytearray(flatbuffer.write(tree))
    flat += bytes(-len(flat) % 16)
    flatbuffer_utils.update_packed_buffer(flatbuffer.schema().Model.GetRootAs(flat, 0).Buffers(biggest), len(flat), len(payload))
    model = bytes(flat) + payload
    (tmp_path / "outside.tflite").write_bytes(model)
    assert flatbuffer.has_external_buffers(model) and len(payload) > 1000
    assert flatbuffer_model(tmp_path / "outside.tflite") == model
    (tmp_path / "outside.tflite").write_bytes(model[:-1])
    with pytest.raises(PackagerError, match="truncated"):
        flatbuffer_model(tmp_path / "outside.tflite")
    (tmp_path / "outside.tflite").write_bytes(model + bytes(4096))
    with pytest.raises(PackagerError, match="4,096 bytes after"):
        flatbuffer_model(tmp_path / "outside.tflite")
