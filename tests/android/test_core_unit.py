"""android_app/core compiles with kotlinc and its JUnit tests pass (a failing Kotlin test fails here)."""

from __future__ import annotations

from tests.android.kotlin import junit_classes


def test_kotlin_unit_tests_pass(core_jar):
    classes = junit_classes()
    assert len(classes) >= 7, classes
    proc = core_jar.java("org.junit.runner.JUnitCore", *classes)
    assert proc.returncode == 0, f"Kotlin unit tests failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    assert "OK (" in proc.stdout and "FAILURES" not in proc.stdout, proc.stdout


def test_junit_failures_give_a_nonzero_exit(core_jar):
    """The check above relies on JUnitCore's exit code: a run that fails (here, a missing class) exits non-zero."""
    proc = core_jar.java("org.junit.runner.JUnitCore", "dev.packager.core.NoSuchTest")
    assert proc.returncode != 0
    assert "Could not find class" in proc.stdout + proc.stderr


def test_core_has_no_android_imports():
    from tests.android.kotlin import CORE

    offending = [p.name for p in (CORE / "src").rglob("*.kt") if "import android" in p.read_text(encoding="utf-8")]
    assert offending == []
