"""android_app/app compiles with kotlinc against stubs of the APIs it calls (tests/android/stubs).

The stubs declare only what upstream has at the pinned versions (LiteRT v2.2.0 from its sources;
TFLite 2.16.1's Interpreter and NnApiDelegate from the same sources as LiteRT v2.2.0 carries them;
Android SDK, AndroidX and Compose from their API references), so an app that calls something its
dependency set does not ship fails here: with litert alone (the set the app had before, whose
org.tensorflow.lite copies are in tests/android/stubs_litert_copy), the NNAPI path does not resolve.
"""

from __future__ import annotations

import re
import shutil

from tests.android.kotlin import APP_SOURCES, REPO, STUBS, app_source_files, compile_app, kotlinc_errors, stub_files

LITERT_COPY = STUBS.parent / "stubs_litert_copy"
NNAPI_PROBE = (
    "import org.tensorflow.lite.Interpreter\n"
    "import org.tensorflow.lite.nnapi.NnApiDelegate\n"
    "fun probe(d: NnApiDelegate) = Interpreter.Options().setUseXNNPACK(false).addDelegate(d)\n"
)


def _versions() -> dict[str, str]:
    catalog = (REPO / "android_app" / "gradle" / "libs.versions.toml").read_text(encoding="utf-8")
    return dict(re.findall(r'^(\w+) = "([^"]+)"', catalog, re.MULTILINE))


def test_every_app_kotlin_file_compiles_against_the_stubs(core_jar, tmp_path_factory):
    files = app_source_files()
    assert len(files) >= 7, files  # every file under app/src/main/kotlin is compiled (kotlinc gets the folder)
    errors = compile_app(core_jar, tmp_path_factory.getbasetemp().parent)
    assert errors == [], "\n".join(errors)


def test_the_nnapi_path_resolves_with_tflite_and_not_with_litert_alone(tmp_path):
    """The check can fail: litert 2.2.0's own org.tensorflow.lite.Interpreter (what the app had before,
    litert alone) has no addDelegate and no nnapi package; TFLite 2.16.1's (the app's set now) has both."""
    probe = tmp_path / "Probe.kt"
    probe.write_text(NNAPI_PROBE, encoding="utf-8")
    # the probe needs only org.tensorflow.lite: the app's (TFLite's) stubs, then litert 2.2.0's copies in their place
    tflite = tmp_path / "tflite"
    shutil.copytree(STUBS / "org", tflite / "org")
    assert kotlinc_errors([probe, tflite], [], tmp_path / "now.jar") == []
    errors = kotlinc_errors([probe, LITERT_COPY], [], tmp_path / "before.jar")
    assert any("unresolved reference 'nnapi'" in e for e in errors), errors
    assert any("unresolved reference 'addDelegate'" in e for e in errors), errors


def test_each_stub_names_its_upstream_and_litert_stubs_match_the_pinned_version():
    versions = _versions()
    litert, tflite = versions["litert"], versions["tensorflowLite"]
    stubs = stub_files() + sorted(LITERT_COPY.rglob("*.java"))
    assert stubs
    for path in stubs:
        header = path.read_text(encoding="utf-8").split("\npackage ", 1)[0]
        assert "Stub for the app compile check" in header or "BuildConfig" in header, path
        posix = path.as_posix()
        if "/com/google/ai/edge/litert/" in posix or "/stubs_litert_copy/" in posix:
            assert f"google-ai-edge/LiteRT at tag v{litert}" in header, (path, litert)
        elif "/org/tensorflow/lite/" in posix:  # TFLite's own, read where LiteRT carries the same sources
            assert f"tensorflow-lite-api {tflite}" in header and f"tensorflow/tensorflow\n// at tag v{tflite}" in header, (path, tflite)
            assert f"google-ai-edge/LiteRT at tag v{litert}" in header, (path, litert)
        elif "BuildConfig" not in path.name:
            assert re.search(r"androidx/androidx|AOSP platform/frameworks/base", header), path
    assert APP_SOURCES.is_dir()


def test_the_build_strips_litert_s_interpreter_copy_and_keeps_both_runtimes():
    """The dependency set the stubs model is the one app/build.gradle.kts declares: litert and TFLite,
    litert's org.tensorflow.lite copies removed from its jars (they would duplicate TFLite's classes)."""
    gradle = (REPO / "android_app" / "app" / "build.gradle.kts").read_text(encoding="utf-8")
    assert "implementation(libs.litert)" in gradle and "implementation(libs.tensorflow.lite)" in gradle
    assert "ScopedArtifacts.Scope.ALL" in gradle and '"org/tensorflow/lite/' in gradle
    for needed in ("org/tensorflow/lite/nnapi/NnApiDelegate.class", "com/google/ai/edge/litert/CompiledModel.class"):
        assert needed in gradle  # the build fails if either runtime went missing
    catalog = (REPO / "android_app" / "gradle" / "libs.versions.toml").read_text(encoding="utf-8")
    assert 'name = "tensorflow-lite", version.ref = "tensorflowLite"' in catalog
