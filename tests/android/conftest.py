"""Fixtures for the android_app tests: core compiled once per session, and an app to install into."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.android.kotlin import REPO, CoreJar, compile_core


@pytest.fixture(scope="session")
def core_jar(tmp_path_factory) -> CoreJar:
    # The parent of the session's base temp is shared by pytest-xdist workers: one compile for all.
    return compile_core(tmp_path_factory.getbasetemp().parent)


@pytest.fixture
def app_copy(tmp_path) -> Path:
    """A copy of android_app (sources and build files, without installed models or build output)."""
    dest = tmp_path / "android_app"
    shutil.copytree(REPO / "android_app", dest, ignore=shutil.ignore_patterns("build", ".gradle", "models", ".kotlin"))
    return dest
