"""pytest plugin (registered through the pytest11 entry point): run bundles on handsets in tests.

Options: `--device SERIAL|all|HOST:PORT` (repeatable), `--virtual-device`, `--bundle DIST`
(repeatable), `--accelerator cpu,gpu,...`, `--budgets budgets.toml`, `--device-results FILE`.
Fixtures: `handset`, `bundle`, `accelerator` (each parametrized over what the options name),
`device_run` (the DeviceRun of this handset x bundle x accelerator) and `budgets`. A user's test:

    def test_on_device(device_run, budgets):
        budgets.check(device_run)

Every run of a session lands in one results JSON. With pytest-xdist, `-n <handsets>` gives one
worker per handset (the plugin schedules a handset's tests as one unit) and the workers' files
are merged at the end. Tests marked `phone` skip, saying so, when no real handset is
attached. Nothing here imports TensorFlow; without device options, other tests are untouched.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from packager.text import one_line

VIRTUAL = "virtual"


@dataclass
class DeviceSession:
    """The plugin's state for one pytest process (as pytest-benchmark keeps a BenchmarkSession):
    the handsets it opened, every run measured and the apps' sizes, and where the results went."""

    started: float = field(default_factory=time.time)
    targets: list[str] | None = None  # --device / --virtual-device, resolved once
    handsets: dict[str, Any] = field(default_factory=dict)  # target -> packager.device.handset.Handset
    runs: list[Any] = field(default_factory=list)  # packager.manifest.DeviceRun
    apks: dict[tuple[str, str], Any] = field(default_factory=dict)  # (serial, package) -> packager.manifest.ApkInfo
    bytes_pushed: int = 0
    bytes_skipped: int = 0
    written: Path | None = None
    write_problem: str | None = None  # why the results could not go where --device-results said

    def add(self, results) -> None:
        """A packager.manifest.DeviceResults of one bench call."""
        self.runs += results.runs
        self.bytes_pushed += results.bytes_pushed
        self.bytes_skipped += results.bytes_skipped
        for apk in results.apks:
            self.apks[(apk.serial, apk.package)] = apk

    def apk_bytes(self, run) -> int | None:
        """The installed size of the app that measured `run`, on its handset."""
        return next((a.installed_bytes for (serial, _), a in reversed(self.apks.items()) if serial == run.device.serial), None)

    def results(self):
        from packager.manifest import DeviceResults  # noqa: PLC0415

        return DeviceResults(runs=list(self.runs), apks=list(self.apks.values()), bytes_pushed=self.bytes_pushed,
                             bytes_skipped=self.bytes_skipped)


SESSION = pytest.StashKey[DeviceSession]()


def device_session(config: pytest.Config) -> DeviceSession | None:
    return config.stash.get(SESSION, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("packager", "Android handsets (packager device kit)")
    group.addoption("--device", action="append", default=[], metavar="SERIAL|all|HOST:PORT",
                    help="handset to run device tests on (repeatable); 'all' = every device the adb server holds")
    group.addoption("--virtual-device", action="store_true", help="start a virtual handset for device tests")
    group.addoption("--bundle", dest="packager_bundles", action="append", default=[], metavar="DIST",
                    help="bundle folder(s) (dist/<name>/) for the `bundle` fixture")
    group.addoption("--accelerator", dest="packager_accelerators", default="cpu,xnnpack",
                    help="accelerators to run on, comma-separated (default cpu,xnnpack)")
    group.addoption("--budgets", dest="packager_budgets", metavar="FILE", help="budgets.toml: limits that become assertions")
    group.addoption("--device-results", dest="packager_results", metavar="FILE", default="device-results.json",
                    help="where the session's device results JSON goes (default device-results.json)")
    group.addoption("--device-runs", dest="packager_runs", type=int, default=20, help="measured runs per benchmark (default 20)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "phone: needs a real Android handset attached (skipped, with the reason, when none is)")
    config.stash[SESSION] = DeviceSession()
    target = _results_path(config)
    if target.is_dir():  # said now, before the session runs, not as an INTERNALERROR after it
        raise pytest.UsageError(f"--device-results {target} is a folder; pass a file name, e.g. {target / 'device-results.json'}")
    budgets = config.getoption("packager_budgets")
    if budgets:
        from packager.fileio import NotRegularFile, refuse_special  # noqa: PLC0415

        try:
            refuse_special(budgets, allow_dir=False)
        except NotRegularFile as exc:
            raise pytest.UsageError(f"--budgets {exc}; pass a budgets.toml file") from None


def _results_path(config: pytest.Config) -> Path:
    target = Path(config.getoption("packager_results"))
    return target if target.is_absolute() else Path(config.invocation_params.dir) / target


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """pytest-xdist (controller): one worker per handset. `-n N` alone would scatter a handset's
    tests over workers (two workers racing on one phone); this schedules every test that uses a
    handset as part of that handset's work unit, so one worker drives it from start to end. Tests
    without a handset are spread as usual. (xdist's own `loadgroup` would do this with marks, but
    it does not rename test ids under pytest 9, so the groups it relies on never form.)"""
    targets = _targets(config)
    if not targets or config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    from xdist.scheduler import LoadScopeScheduling  # noqa: PLC0415

    class HandsetScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            target = handset_of(nodeid, targets)
            return f"handset {target}" if target else nodeid

    return HandsetScheduling(config, log)


def handset_of(nodeid: str, targets: list[str]) -> str | None:
    """The handset a parametrized test id runs on: its parameter ids are joined by '-'."""
    start = nodeid.find("[")
    if start < 0 or not nodeid.endswith("]"):
        return None
    params = f"-{nodeid[start + 1:-1]}-"
    return next((t for t in sorted(targets, key=len, reverse=True) if f"-{t}-" in params), None)


def _targets(config: pytest.Config) -> list[str]:
    """Handsets named by --device/--virtual-device, resolved once per process ('all' asks the adb server)."""
    session = config.stash[SESSION]
    if session.targets is None:
        targets: list[str] = []
        if config.getoption("--device"):
            from packager.device.transport import resolve_targets  # noqa: PLC0415

            targets = resolve_targets(config.getoption("--device"), split_commas=True)
        session.targets = targets + ([VIRTUAL] if config.getoption("--virtual-device") and VIRTUAL not in targets else [])
    return session.targets


def _ours(metafunc: pytest.Metafunc, name: str) -> bool:
    """Only parametrize fixtures this plugin defines: a project's own `bundle` fixture is left alone."""
    if name not in metafunc.fixturenames:
        return False
    definitions = metafunc.definition._fixtureinfo.name2fixturedefs.get(name)  # noqa: SLF001
    if not definitions:
        return False
    return definitions[-1].func.__module__ == __name__


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    if _ours(metafunc, "handset"):
        targets = _targets(config)
        params = [pytest.param(t, id=t) for t in targets] or [pytest.param(None, id="no-handset")]
        metafunc.parametrize("handset", params, indirect=True, scope="session")
    if _ours(metafunc, "bundle"):
        bundles = config.getoption("packager_bundles")
        metafunc.parametrize("bundle", [pytest.param(b, id=Path(b).name) for b in bundles] or [pytest.param(None, id="no-bundle")],
                             indirect=True, scope="session")
    if _ours(metafunc, "accelerator"):
        accelerators = [a.strip() for a in config.getoption("packager_accelerators").split(",") if a.strip()]
        metafunc.parametrize("accelerator", accelerators, indirect=True, scope="session")


def _real_handsets(config: pytest.Config) -> list[str]:
    return [t for t in _targets(config) if t != VIRTUAL]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("phone") and not _real_handsets(item.config):
        pytest.skip("needs a real Android phone: none attached (pass --device SERIAL, HOST:PORT or all)")


@pytest.fixture(scope="session")
def handset(request: pytest.FixtureRequest):
    """A connected packager.device.handset.Handset (parametrized over --device / --virtual-device)."""
    target = request.param
    if target is None:
        pytest.skip("no handset: pass --device SERIAL|all|HOST:PORT or --virtual-device")
    session = request.config.stash[SESSION]
    if target not in session.handsets:
        from packager.device.handset import Handset  # noqa: PLC0415
        from packager.errors import PackagerError  # noqa: PLC0415

        address = target
        if target == VIRTUAL:
            from packager.device import virtual  # noqa: PLC0415

            address = virtual.start(request.config.add_cleanup).address
        problem = None
        try:
            session.handsets[target] = Handset.open(address)
        except PackagerError as exc:
            problem = exc.one_line()
        if problem:  # failed outside the except block: one clear line, no chained traceback
            pytest.fail(f"cannot use handset {target}: {one_line(problem)}", pytrace=False)
        request.config.add_cleanup(session.handsets[target].close)
    return session.handsets[target]


@pytest.fixture(scope="session")
def bundle(request: pytest.FixtureRequest):
    """A packager.bundle.reader.BundleRef (parametrized over --bundle)."""
    if request.param is None:
        pytest.skip("no bundle: pass --bundle dist/<name>")
    from packager.bundle.reader import load_bundle  # noqa: PLC0415
    from packager.errors import PackagerError  # noqa: PLC0415

    try:
        return load_bundle(request.param)
    except PackagerError as exc:
        problem = exc.one_line()
    pytest.fail(f"cannot use bundle {request.param}: {one_line(problem)}", pytrace=False)


@pytest.fixture(scope="session")
def accelerator(request: pytest.FixtureRequest) -> str:
    """An accelerator name (parametrized over --accelerator)."""
    return request.param


@pytest.fixture()
def device_run(request: pytest.FixtureRequest, handset, bundle, accelerator):
    """Run `bundle` on `handset` with `accelerator`; the DeviceRun, also kept for the session JSON."""
    from packager.device.bench import bench  # noqa: PLC0415
    from packager.errors import PackagerError  # noqa: PLC0415

    problem = None
    try:
        results = bench(handset, [bundle], [accelerator], runs=request.config.getoption("packager_runs"))
    except PackagerError as exc:  # a handset lost mid-run, a timeout: the failure is one line, not the plugin's traceback
        problem = exc.one_line()
    if problem is not None:
        pytest.fail(f"{bundle.name} on {handset.serial} ({accelerator}): {one_line(problem)}", pytrace=False)
    request.config.stash[SESSION].add(results)
    record = results.runs[0]
    if record.status == "fallback":
        limits = request.getfixturevalue("budgets").limits_for(record)
        # falling back is not success: a test of `gpu` that ran on xnnpack did not test the GPU. It
        # is skipped, saying so, unless the budgets measure fallbacks (allow_fallback) or fail them
        # (require_accelerator, reported by budgets.check with any other violation)
        if not (limits.allow_fallback or limits.require_accelerator):
            pytest.skip(f"{one_line(record.fallback_line())}; set allow_fallback = true in --budgets to measure the fallback")
    return record


class _BudgetChecker:
    def __init__(self, budgets, session: DeviceSession):
        self.budgets = budgets
        self.session = session

    def limits_for(self, run):
        """The limits that apply to `run` (no --budgets: the defaults)."""
        from packager.device.budgets import Limits  # noqa: PLC0415

        return Limits() if self.budgets is None else self.budgets.limits_for(run.bundle, run.accelerator_requested)

    def check(self, run) -> None:
        """Assert `run` (a DeviceRun) stays within budget; the message lists every violation."""
        if self.budgets is None:
            return
        problems = self.budgets.violations(run, self.session.apk_bytes(run))
        assert not problems, "over budget:\n  " + "\n  ".join(one_line(p) for p in problems)


@pytest.fixture(scope="session")
def budgets(request: pytest.FixtureRequest):
    """`budgets.check(device_run)` asserts the limits of --budgets (no limits: passes)."""
    path = request.config.getoption("packager_budgets")
    session = request.config.stash[SESSION]
    if not path:
        return _BudgetChecker(None, session)
    from packager.device.budgets import Budgets  # noqa: PLC0415
    from packager.errors import PackagerError  # noqa: PLC0415

    try:
        return _BudgetChecker(Budgets.load(path), session)
    except PackagerError as exc:
        problem = exc.one_line()
    pytest.fail(one_line(problem), pytrace=False)


def _worker_id(config: pytest.Config) -> str | None:
    return getattr(config, "workerinput", {}).get("workerid")


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = device_session(config)
    if state is None:
        return
    target = _results_path(config)
    worker = _worker_id(config)
    from packager.device.results import DeviceResults  # noqa: PLC0415

    if state.runs:
        state.written = _write_results(state, state.results(), target.with_name(f"{target.name}.{worker}.part") if worker else target)
    if worker is None:  # the controller (or a run without xdist) merges what workers wrote
        parts = sorted(target.parent.glob(f"{target.name}.*.part"))
        fresh = [p for p in parts if p.stat().st_mtime >= state.started - 1]  # not left by an interrupted session
        if fresh:
            merged = DeviceResults()
            for part in fresh:
                merged.extend(DeviceResults.load(part))
            state.written = _write_results(state, merged, target)
        for part in parts:
            os.unlink(part)


def _write_results(state: DeviceSession, results, target: Path) -> Path | None:
    """Write the session's results; when `target` cannot be written (a folder, a full or read-only
    disk) they go to a fresh temporary folder instead, and the summary says so in one line."""
    import tempfile  # noqa: PLC0415

    from packager.errors import PackagerError  # noqa: PLC0415

    try:
        return results.write(target)
    except PackagerError as exc:
        state.write_problem = exc.one_line()
    try:
        return results.write(Path(tempfile.mkdtemp(prefix="packager-device-results-")) / target.name)
    except (PackagerError, OSError):
        return None


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    state = device_session(config)
    if state and state.write_problem:
        terminalreporter.write_line(f"packager: {one_line(state.write_problem)}" + (f" Results kept in {state.written}" if state.written else ""),
                                    red=True)
    elif state and state.written and _worker_id(config) is None:
        terminalreporter.write_line(f"packager: device results in {state.written}")
