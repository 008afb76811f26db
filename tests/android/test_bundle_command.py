"""`packager bundle DIST --app android_app`: install a real bundle into (a copy of) the sample app."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from packager.bundle.install import app_files, ensure_no_compress
from packager.cli import main
from packager.manifest import Manifest
from tests.android.kotlin import REPO


def _run(*args: str):
    return CliRunner().invoke(main, ["bundle", *args], catch_exceptions=False)


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_installs_bundle_index_and_reports_apk_size(digits_bundle, app_copy, core_jar, tmp_path):
    result = _run(str(digits_bundle), "--app", str(app_copy), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    manifest = json.loads((digits_bundle / "manifest.json").read_text())
    assets = app_copy / "app" / "src" / "main" / "assets"
    installed = assets / "models" / "digits"

    # every app-side file, byte for byte; reports stay on the host
    wanted = app_files(Manifest.from_dict(manifest))
    assert {manifest["model"]["file"], "manifest.json", "labels.txt"} <= set(wanted)
    for rel in wanted:
        assert _sha(installed / rel) == _sha(digits_bundle / rel), rel
    assert not list(installed.glob("report.*"))
    assert report["changed"] is True and report["no_compress"] == "present"
    assert {f["path"] for f in report["files"]} == {f"models/digits/{rel}" for rel in wanted}

    # the index: what the app reads, parsed by the Kotlin core itself
    (index,) = core_jar.batch([{"op": "index", "index": str(assets / "models" / "index.json"), "out": str(tmp_path / "index.json")}], tmp_path)
    assert index == {"bundles": [{"name": "digits", "manifest": "models/digits/manifest.json", "model": f"models/digits/{manifest['model']['file']}"}]}

    # APK size: .tflite stored (entry >= model size), the rest deflated; the sum is what one zip of them all costs
    by_path = {f["path"]: f for f in report["files"]}
    model_entry = by_path[f"models/digits/{manifest['model']['file']}"]
    assert model_entry["stored"] and model_entry["size_bytes"] <= model_entry["apk_bytes"] < model_entry["size_bytes"] + 200
    manifest_entry = by_path["models/digits/manifest.json"]
    assert not manifest_entry["stored"] and manifest_entry["apk_bytes"] < manifest_entry["size_bytes"]
    whole = io.BytesIO()
    with zipfile.ZipFile(whole, "w") as apk:
        for f in report["files"]:
            data = (assets / f["path"]).read_bytes()
            info = zipfile.ZipInfo("assets/" + f["path"], date_time=(1981, 1, 1, 1, 1, 2))
            info.compress_type = zipfile.ZIP_STORED if f["stored"] else zipfile.ZIP_DEFLATED
            apk.writestr(info, data)
    assert report["apk_bytes"] == whole.tell() - 22
    with zipfile.ZipFile(whole) as apk:
        assert apk.getinfo(f"assets/models/digits/{manifest['model']['file']}").compress_type == zipfile.ZIP_STORED

    # the human form says the same
    text = _run(str(digits_bundle), "--app", str(app_copy))
    assert text.exit_code == 0
    words = " ".join(text.stdout.split())  # rich wraps long lines
    assert f"({report['apk_bytes']} bytes) to the APK" in words and "nothing changed" in words


def test_rerunning_changes_nothing(digits_bundle, app_copy):
    assert _run(str(digits_bundle), "--app", str(app_copy)).exit_code == 0
    before = _snapshot(app_copy)
    result = _run(str(digits_bundle), "--app", str(app_copy), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["changed"] is False and not report["index_changed"] and not any(f["changed"] for f in report["files"])
    assert _snapshot(app_copy) == before  # same bytes, same mtimes, no new files


def test_second_bundle_joins_the_index_and_stale_files_go(digits_bundle, app_copy, tmp_path):
    other = tmp_path / "dist" / "digits-b"
    shutil.copytree(digits_bundle, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["name"] = "digits-b"
    (other / "manifest.json").write_text(json.dumps(manifest))
    assert _run(str(digits_bundle), "--app", str(app_copy)).exit_code == 0
    assert _run(str(other), "--app", str(app_copy)).exit_code == 0
    index = json.loads((app_copy / "app/src/main/assets/models/index.json").read_text())
    assert [b["name"] for b in index["bundles"]] == ["digits", "digits-b"]

    # a leftover from an older install of the same bundle is removed
    stale = app_copy / "app/src/main/assets/models/digits/golden/old_output.npy"
    stale.write_bytes(b"old")
    report = json.loads(_run(str(digits_bundle), "--app", str(app_copy), "--json").stdout)
    assert report["removed"] == ["golden/old_output.npy"] and not stale.exists()


def test_adds_no_compress_when_the_app_lacks_it(digits_bundle, app_copy):
    gradle = app_copy / "app" / "build.gradle.kts"
    text = gradle.read_text()
    stripped = text.replace('noCompress += "tflite"', "")
    assert stripped != text
    gradle.write_text(stripped)
    report = json.loads(_run(str(digits_bundle), "--app", str(app_copy), "--json").stdout)
    assert report["no_compress"] == "added"
    assert 'noCompress += "tflite"' in gradle.read_text()
    assert json.loads(_run(str(digits_bundle), "--app", str(app_copy), "--json").stdout)["no_compress"] == "present"


def test_the_real_app_keeps_tflite_uncompressed():
    gradle, status = ensure_no_compress(REPO / "android_app" / "app")
    assert status == "present" and gradle.name == "build.gradle.kts"


def _assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_not_a_bundle(app_copy, tmp_path):
    (tmp_path / "empty").mkdir()
    _assert_one_line_error(_run(str(tmp_path / "empty"), "--app", str(app_copy)), "not a bundle")
    _assert_one_line_error(_run(str(tmp_path / "missing"), "--app", str(app_copy)), "does not exist")


def test_missing_or_wrong_app_folder(digits_bundle, tmp_path):
    _assert_one_line_error(_run(str(digits_bundle), "--app", str(tmp_path / "no-app")), "app folder", "does not exist")
    (tmp_path / "not-android").mkdir()
    _assert_one_line_error(_run(str(digits_bundle), "--app", str(tmp_path / "not-android")), "is not an Android app")


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "..", "/abs", "a..b"])
def test_unsafe_names_are_refused(digits_bundle, app_copy, tmp_path, name):
    bad = tmp_path / "bad-bundle"
    shutil.copytree(digits_bundle, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["name"] = name
    (bad / "manifest.json").write_text(json.dumps(manifest))
    before = _snapshot(app_copy)
    _assert_one_line_error(_run(str(bad), "--app", str(app_copy)), "could escape")
    assert _snapshot(app_copy) == before
    assert not (app_copy / "app/src/main/assets/evil").exists() and not (tmp_path / "evil").exists()


def test_a_corrupt_index_is_a_clear_error(digits_bundle, app_copy):
    index = app_copy / "app/src/main/assets/models/index.json"
    index.parent.mkdir(parents=True)
    index.write_text("{broken")
    _assert_one_line_error(_run(str(digits_bundle), "--app", str(app_copy)), "index.json", "delete it")


# --- issue 26: staged, atomic, never through a link --------------------------------------------------------
def _app_state(app: Path) -> dict[str, tuple]:
    """Every entry of the app (links as links), with content and mtime: what 'unchanged' means."""
    state = {}
    for p in sorted(app.rglob("*")):
        rel = p.relative_to(app).as_posix()
        if p.is_symlink():
            state[rel] = ("link", str(p.readlink()))
        elif p.is_file():
            state[rel] = (p.read_bytes(), p.stat().st_mtime_ns)
        else:
            state[rel] = ("dir",)
    return state


@pytest.mark.parametrize("linked", ["app/src/main/assets", "app/src/main/assets/models", "app/src/main/assets/models/digits",
                                    "app/src/main/assets/models/digits/golden/images"])
def test_never_installs_through_a_symbolic_link(linked, digits_bundle, app_copy, tmp_path):
    import os

    assert _run(str(digits_bundle), "--app", str(app_copy)).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(app_copy / linked, elsewhere) if (app_copy / linked).exists() else elsewhere.mkdir()
    shutil.rmtree(app_copy / linked)
    os.symlink(elsewhere, app_copy / linked)
    gradle = app_copy / "app" / "build.gradle.kts"
    gradle.write_text(gradle.read_text().replace('noCompress += "tflite"', ""))  # the install would add it
    before, outside = _app_state(app_copy), _app_state(elsewhere)
    _assert_one_line_error(_run(str(digits_bundle), "--app", str(app_copy)), "symbolic link")
    assert _app_state(app_copy) == before and _app_state(elsewhere) == outside


@pytest.mark.parametrize("error", ["ENOSPC", "EROFS"])
def test_a_failed_install_leaves_the_app_as_it_was(error, digits_bundle, app_copy, monkeypatch):
    """Case 5: the disk fills (or turns read-only) half-way through: one line, exit 2, and the app
    as it was: no half-installed folder, no Gradle edit, no index, no staging left."""
    import errno
    import pathlib

    gradle = app_copy / "app" / "build.gradle.kts"
    gradle.write_text(gradle.read_text().replace('noCompress += "tflite"', ""))
    before = _app_state(app_copy)
    real = pathlib.Path.write_bytes
    calls = []

    def write_bytes(self, data):
        calls.append(self)
        if len(calls) == 3:
            raise OSError(getattr(errno, error), os.strerror(getattr(errno, error)), str(self))
        return real(self, data)

    import os

    monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)
    _assert_one_line_error(_run(str(digits_bundle), "--app", str(app_copy)), "unchanged")
    assert len(calls) == 3
    assert _app_state(app_copy) == before
    monkeypatch.undo()
    assert _run(str(digits_bundle), "--app", str(app_copy)).exit_code == 0
    assert 'noCompress += "tflite"' in gradle.read_text()
