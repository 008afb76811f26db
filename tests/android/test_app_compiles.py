"""android_app/app compiles with kotlinc against the real Android framework and the real jars.

The framework is Robolectric's android-all (the AOSP framework's classes) at the app's targetSdk
(= compileSdk) and at its minSdk; the dependencies are the jars Maven Central serves at the versions
the catalog pins (tests/android/jars.py fetches them with Maven; AARs as their classes.jar); Compose
code goes through the Compose compiler plugin shipped with kotlinc. Only LiteRT 2.x, which Maven
Central does not serve, is a stub (tests/android/stubs, checked against its upstream tag).
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

from tests.android import jars
from tests.android.kotlin import APP_SOURCES, REPO, STUBS, app_source_files, compile_app, kotlinc_errors, stub_files

LITERT_COPY = STUBS.parent / "stubs_litert_copy"
NNAPI_PROBE = (
    "import org.tensorflow.lite.Interpreter\n"
    "import org.tensorflow.lite.nnapi.NnApiDelegate\n"
    "fun probe(d: NnApiDelegate) = Interpreter.Options().setUseXNNPACK(false).addDelegate(d)\n"
)


def test_every_app_kotlin_file_compiles_against_the_real_jars_at_target_sdk(core_jar, tmp_path_factory):
    files = app_source_files()
    assert len(files) >= 8, files  # every file under app/src/main/kotlin is compiled (kotlinc gets the folder)
    build = compile_app(core_jar, tmp_path_factory.getbasetemp().parent)
    assert build.errors == [], "\n".join(build.errors)
    deps = jars.load()
    names = {p.parent.name if p.name == "classes.jar" else p.name for p in build.classpath}
    tflite = jars.catalog()["versions"]["tensorflowLite"]
    assert {f"tensorflow-lite-{tflite}", f"tensorflow-lite-api-{tflite}"} <= names
    assert any(n.startswith("material3-android-") for n in names) and any(n.startswith("activity-compose-") for n in names)
    assert deps.android_all[jars.sdk_levels()[1]] in build.classpath
    # the compiled screen went through the Compose compiler (composable functions take a Composer)
    screen = (build.classes / "dev" / "packager" / "demo" / "MainActivityKt.class").read_bytes()
    assert b"androidx/compose/runtime/Composer" in screen


def test_at_min_sdk_only_guarded_newer_apis_are_missing(core_jar, tmp_path_factory):
    """Against the framework at minSdk, what does not resolve must be guarded by an SDK_INT check
    (what lint's NewApi would say): every error is on a line that tests Build.VERSION.SDK_INT."""
    min_sdk, _ = jars.sdk_levels()
    build = compile_app(core_jar, tmp_path_factory.getbasetemp().parent, sdk=min_sdk)
    assert build.errors, "nothing newer than minSdk is used: then this check is moot, drop the guard"
    for error in build.errors:
        path, line = re.match(r"(.+?\.kt):(\d+):", error).groups()
        file = Path(path) if path.startswith("/") else REPO / path
        source = file.read_text(encoding="utf-8").splitlines()[int(line) - 1]
        guard = re.search(r"Build\.VERSION\.SDK_INT >= (\d+)", source)
        assert guard and int(guard.group(1)) > min_sdk, error


def test_a_call_to_a_method_that_does_not_exist_fails(core_jar, tmp_path_factory, tmp_path):
    """The check can fail: one call renamed to a method the real Bitmap does not have."""
    sources = tmp_path / "kotlin"
    shutil.copytree(APP_SOURCES, sources)
    helper = sources / "dev" / "packager" / "demo" / "ClassifierHelper.kt"
    text = helper.read_text(encoding="utf-8")
    assert "bitmap.getPixels(" in text
    helper.write_text(text.replace("bitmap.getPixels(", "bitmap.getPixelsFast(", 1), encoding="utf-8")
    build = compile_app(core_jar, tmp_path_factory.getbasetemp().parent, sources=sources)
    assert any("unresolved reference 'getPixelsFast'" in e for e in build.errors), build.errors


def test_the_nnapi_path_resolves_with_tflite_and_not_with_litert_alone(tmp_path):
    """TFLite's real jars (the app's set) have addDelegate and the nnapi package; litert 2.2.0's own
    org.tensorflow.lite copies (what the app had before, litert alone: stubs_litert_copy) have neither."""
    probe = tmp_path / "Probe.kt"
    probe.write_text(NNAPI_PROBE, encoding="utf-8")
    deps = jars.load()
    tflite = [p for p in deps.app if p.parent.name.startswith("tensorflow-lite")]
    assert len(tflite) == 2 and kotlinc_errors([probe], tflite, tmp_path / "now.jar") == []
    errors = kotlinc_errors([probe, LITERT_COPY], [], tmp_path / "before.jar")
    assert any("unresolved reference 'nnapi'" in e for e in errors), errors
    assert any("unresolved reference 'addDelegate'" in e for e in errors), errors


def test_only_what_maven_central_lacks_is_a_stub_and_each_names_its_upstream():
    versions = jars.catalog()["versions"]
    stubs = stub_files() + sorted(LITERT_COPY.rglob("*.java"))
    assert stubs
    for path in stubs:
        header = path.read_text(encoding="utf-8").split("\npackage ", 1)[0]
        assert "Stub for the app compile check" in header, path
        assert f"google-ai-edge/LiteRT at tag v{versions['litert']}" in header, path
        assert "/com/google/ai/edge/litert/" in path.as_posix() or "/stubs_litert_copy/" in path.as_posix(), path
    assert set(jars.UNSERVED) == {"litert"}
    readme = (REPO / "android_app" / "README.md").read_text(encoding="utf-8")
    for path in stub_files():
        assert path.relative_to(REPO).as_posix() in readme, path


def test_the_build_strips_litert_s_interpreter_copy_and_keeps_both_runtimes():
    """The dependency set compiled against is the one app/build.gradle.kts declares: litert and TFLite,
    litert's org.tensorflow.lite copies removed from its jars (they would duplicate TFLite's classes)."""
    gradle = (REPO / "android_app" / "app" / "build.gradle.kts").read_text(encoding="utf-8")
    assert "implementation(libs.litert)" in gradle and "implementation(libs.tensorflow.lite)" in gradle
    assert "ScopedArtifacts.Scope.ALL" in gradle and '"org/tensorflow/lite/' in gradle
    for needed in ("org/tensorflow/lite/nnapi/NnApiDelegate.class", "com/google/ai/edge/litert/CompiledModel.class"):
        assert needed in gradle  # the build fails if either runtime went missing
    # the real TFLite jar has exactly the classes the strip task keeps (Delegate and the nnapi package)
    api = next(p for p in jars.load().app if p.parent.name.startswith("tensorflow-lite-api"))
    names = set(zipfile.ZipFile(api).namelist())
    assert "org/tensorflow/lite/Delegate.class" in names and "org/tensorflow/lite/nnapi/NnApiDelegate.class" in names
