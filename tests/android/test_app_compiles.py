"""android_app/app compiles with kotlinc against stubs of the APIs it calls (tests/android/stubs).

The stubs declare only what upstream has at the pinned versions (LiteRT v2.2.0 from its sources;
Android SDK, AndroidX and Compose from their API references), so an app that calls something the
pinned artifacts do not ship (TFLite's NnApiDelegate, Interpreter.Options.addDelegate) fails here.
"""

from __future__ import annotations

import re

from tests.android.kotlin import APP_SOURCES, REPO, STUBS, app_source_files, compile_app, kotlinc_errors, stub_files


def test_every_app_kotlin_file_compiles_against_the_stubs(core_jar, tmp_path_factory):
    files = app_source_files()
    assert len(files) >= 7, files  # every file under app/src/main/kotlin is compiled (kotlinc gets the folder)
    errors = compile_app(core_jar, tmp_path_factory.getbasetemp().parent)
    assert errors == [], "\n".join(errors)


def test_the_stubs_refuse_what_litert_2_2_does_not_ship(tmp_path):
    """The check can fail: the NNAPI path the app had before (TFLite's delegate API) does not resolve."""
    probe = tmp_path / "Probe.kt"
    probe.write_text(
        "import org.tensorflow.lite.Interpreter\n"
        "import org.tensorflow.lite.nnapi.NnApiDelegate\n"
        "fun probe(d: NnApiDelegate) = Interpreter.Options().addDelegate(d)\n",
        encoding="utf-8",
    )
    errors = kotlinc_errors([probe, STUBS], [], tmp_path / "out.jar")
    assert any("unresolved reference 'nnapi'" in e for e in errors), errors
    assert any("unresolved reference 'addDelegate'" in e for e in errors), errors


def test_each_stub_names_its_upstream_and_litert_stubs_match_the_pinned_version():
    catalog = (REPO / "android_app" / "gradle" / "libs.versions.toml").read_text(encoding="utf-8")
    litert = re.search(r'^litert = "([^"]+)"', catalog, re.MULTILINE).group(1)
    stubs = stub_files()
    assert stubs
    for path in stubs:
        header = path.read_text(encoding="utf-8").split("\npackage ", 1)[0]
        assert "Stub for the app compile check" in header or "BuildConfig" in header, path
        if "/com/google/ai/edge/litert/" in path.as_posix() or "/org/tensorflow/lite/" in path.as_posix():
            assert f"google-ai-edge/LiteRT at tag v{litert}" in header, (path, litert)
        elif "BuildConfig" not in path.name:
            assert re.search(r"androidx/androidx|AOSP platform/frameworks/base", header), path
    assert APP_SOURCES.is_dir()
