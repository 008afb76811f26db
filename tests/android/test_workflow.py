""".github/workflows/android.yml (the app's CI for a fork: it cannot run here) against the build files:
the modules and tasks it names exist, its Java is the one the build compiles for, the APK it
uploads is the one assembleDebug writes, the emulator's API level is within the app's range, and the
device-kit step calls options the pytest plugin defines on a test file that exists."""

from __future__ import annotations

import re
import shlex
import xml.dom.minidom

import yaml

from packager import pytest_plugin
from tests.android import jars
from tests.android.kotlin import REPO

APP = REPO / "android_app"
WORKFLOW = REPO / ".github" / "workflows" / "android.yml"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def _uses(job: dict, action: str) -> dict:
    (step,) = [s for s in job["steps"] if s.get("uses", "").startswith(action + "@")]
    return step.get("with", {})


def test_build_job_runs_gradle_tasks_of_modules_that_exist():
    build = _workflow()["jobs"]["build"]
    assert build["defaults"]["run"]["working-directory"] == "android_app"
    assert (APP / "gradlew").exists() and (APP / "gradle" / "wrapper" / "gradle-wrapper.properties").exists()
    modules = set(re.findall(r'"(:\w+)"', (APP / "settings.gradle.kts").read_text(encoding="utf-8")))
    tasks = [t for run in _runs(build) if run.startswith("./gradlew") for t in shlex.split(run)[1:]]
    assert "assembleDebug" in tasks
    assert ":app:testDebugUnitTest" in tasks and ":core:test" in tasks
    for task in tasks:
        if task.startswith(":"):
            assert ":" + task.split(":")[1] in modules, (task, modules)
    app_gradle = (APP / "app" / "build.gradle.kts").read_text(encoding="utf-8")
    assert "debug {" in app_gradle  # the build type assembleDebug / testDebugUnitTest name
    assert "testImplementation(libs.robolectric)" in app_gradle and (APP / "app" / "src" / "test" / "kotlin").is_dir()


def test_java_version_is_the_one_the_build_compiles_for():
    java = _uses(_workflow()["jobs"]["build"], "actions/setup-java")["java-version"]
    for module in ("app", "core"):
        text = (APP / module / "build.gradle.kts").read_text(encoding="utf-8")
        assert set(re.findall(r"JavaVersion\.VERSION_(\d+)", text)) == {java}, module
    assert f"JvmTarget.JVM_{java}" in (APP / "core" / "build.gradle.kts").read_text(encoding="utf-8")
    # Robolectric under Gradle runs at the SDK robolectric.properties names; at 35+ it would need Java 21
    props = (APP / "app" / "src" / "test" / "resources" / "robolectric.properties").read_text(encoding="utf-8")
    sdk = int(re.search(r"^sdk=(\d+)", props, re.MULTILINE).group(1))
    assert sdk < 35 or int(java) >= 21


def test_the_uploaded_apk_is_what_assemble_debug_writes_and_the_emulator_installs_it():
    jobs = _workflow()["jobs"]
    upload = _uses(jobs["build"], "actions/upload-artifact")
    namespace_module = "app"
    assert upload["path"] == f"android_app/{namespace_module}/build/outputs/apk/debug/{namespace_module}-debug.apk"
    emulator = jobs["emulator"]
    assert emulator["needs"] == "build"
    download = _uses(emulator, "actions/download-artifact")
    assert download["name"] == upload["name"]
    script = _uses(emulator, "reactivecircus/android-emulator-runner")["script"]
    assert f"adb install -r {download['path']}/{namespace_module}-debug.apk" in script


def test_emulator_levels_are_within_the_app_s_range():
    min_sdk, target_sdk = jars.sdk_levels()
    matrix = _workflow()["jobs"]["emulator"]["strategy"]["matrix"]["include"]
    assert matrix and all(min_sdk <= m["api-level"] <= target_sdk for m in matrix)
    assert any(m["target"].endswith("_ps16k") for m in matrix)  # a 16 KB-page image (issue 24, item 5)


def test_the_device_kit_step_uses_the_plugin_s_options_on_a_real_test():
    emulator = _workflow()["jobs"]["emulator"]
    script = _uses(emulator, "reactivecircus/android-emulator-runner")["script"]
    (line,) = [ln for ln in script.splitlines() if "pytest" in ln]
    words = shlex.split(line)
    assert words[:4] == ["uv", "run", "--frozen", "pytest"]
    assert (REPO / words[4]).is_file()
    defined = set(re.findall(r'addoption\("(--[\w-]+)"', (REPO / "packager" / "pytest_plugin.py").read_text(encoding="utf-8")))
    used = {w for w in words[5:] if w.startswith("--")}
    assert used and used <= defined, used - defined
    assert pytest_plugin.VIRTUAL not in words  # a real (emulated) handset over adb, not the virtual one
    bundle = words[words.index("--bundle") + 1]
    demo = " ".join(_runs(emulator))
    assert f"packager demo --output {bundle.split('/')[0]}" in demo and "--no-device" in demo
    assert bundle.endswith("/digits")


def test_the_manifest_is_well_formed_xml():
    """AGP's manifest merger parses it as XML (a '--' inside a comment once made it malformed)."""
    xml.dom.minidom.parse(str(APP / "app" / "src" / "main" / "AndroidManifest.xml"))


def test_the_unit_tests_get_bundles_and_the_python_side_s_answers():
    """app/src/test compares the screen with the Python side's answers: the build job installs the two
    bundles with `packager bundle`, writes those answers with tests/android/robolectric_inputs.py and
    hands the file to Gradle under the property name app/build.gradle.kts reads."""
    build = _workflow()["jobs"]["build"]
    lines = [ln.strip() for run in _runs(build) for ln in run.splitlines()]
    demo = [ln for ln in lines if " packager demo " in ln]
    assert any("--task object_detection" in ln for ln in demo) and any("--task" not in ln for ln in demo)
    for name in ("digits", "shapes"):
        assert f"uv run --frozen packager bundle dist/{name} --app android_app" in lines
    (inputs,) = [shlex.split(ln) for ln in lines if "tests.android.robolectric_inputs" in ln]
    assert (REPO / "tests" / "android" / "robolectric_inputs.py").is_file() and len(inputs) == 10  # uv run --frozen python -m MODULE + its 4 arguments
    gradle_prop = re.search(r'gradleProperty\("(\w+)"\)', (APP / "app" / "build.gradle.kts").read_text(encoding="utf-8")).group(1)
    (test_run,) = [ln for ln in lines if "testDebugUnitTest" in ln]
    assert f"-P{gradle_prop}=${{{{ github.workspace }}}}/{inputs[-1]}" in test_run
