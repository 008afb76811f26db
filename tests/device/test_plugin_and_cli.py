"""The pytest plugin (as a user's few-line test file uses it) and the `packager device` commands."""

from __future__ import annotations

import json
import os
import re

import pytest
from click.testing import CliRunner

from packager.cli import main

pytest_plugins = ["pytester"]

USER_TEST = """
def test_model_on_device(device_run, budgets):
    budgets.check(device_run)
"""


def _run_user_suite(pytester, digits_bundle, *extra):
    pytester.makepyfile(test_user=USER_TEST)
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--virtual-device", "--bundle", str(digits_bundle), "--accelerator", "cpu,gpu",
        "--device-runs", "5", *extra,
    )


def test_plugin_runs_a_users_test_on_the_virtual_handset(pytester, digits_bundle):
    # max_abs_error: one step of the digits model's 1/256 output scale, by which the builtin `cpu` kernels may
    # round away from the golden outputs XNNPACK made on the host
    pytester.makefile(".toml", budgets="[default]\np90_ms = 1000.0\nmin_top1_agreement = 1.0\nmax_abs_error = 0.00390625\n"
                                       "[accelerator.gpu]\nallow_fallback = true\n")
    result = _run_user_suite(pytester, digits_bundle, "--budgets", "budgets.toml")
    result.assert_outcomes(passed=2)  # cpu, and gpu measured on its fallback because the budgets allow it
    data = json.loads((pytester.path / "device-results.json").read_text())
    assert {r["accelerator_requested"] for r in data["runs"]} == {"cpu", "gpu"}
    assert all(r["virtual"] and r["parity"]["top1_agreement"] == 1.0 for r in data["runs"])
    model_and_inputs = sum(f.stat().st_size for f in [digits_bundle / "digits.tflite", *(digits_bundle / "golden").glob("input_*.npy")])
    assert data["transfers"] == {"bytes_pushed": model_and_inputs, "bytes_skipped": model_and_inputs}  # the second test pushed nothing


def test_budgets_become_assertions(pytester, digits_bundle):
    pytester.makefile(".toml", budgets="[default]\np90_ms = 0.000001\n[accelerator.gpu]\nrequire_accelerator = true\n")
    result = _run_user_suite(pytester, digits_bundle, "--budgets", "budgets.toml")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*over budget*", "*p90 latency * ms > budget 1e-06 ms*", "*gpu was requested but*"])


def test_a_bad_budgets_file_is_one_clear_failure(pytester):
    pytester.makepyfile(test_user="def test_budgets_load(budgets):\n    pass\n")
    pytester.makefile(".toml", budgets="[default]\np90 = 5.0\n")  # a typo for p90_ms
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--budgets", "budgets.toml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*budgets file budgets.toml is not valid against packager/schemas/budgets.schema.json*p90*"])
    assert "Traceback" not in result.stdout.str() and "During handling" not in result.stdout.str()


def test_plugin_with_xdist_drives_each_handset_from_one_worker(pytester, digits_bundle, virtual_handset):
    """Two handsets (one started here, one by --virtual-device), plain `-n 2`: the plugin schedules by
    handset, so each handset's tests run in one worker, and the workers' results merge into one file.
    The virtual handsets have no GPU: a test parametrized `gpu` did not test the GPU, so without
    budgets allowing it, it is skipped, saying what ran instead, and its run is in the results file
    with status `fallback`."""
    stale = pytester.path / "device-results.json.gw7.part"  # left by an interrupted session: not merged
    stale.write_text("{}")
    os.utime(stale, (0, 0))
    result = _run_user_suite(pytester, digits_bundle, "--device", virtual_handset.address, "-n", "2", "-v", "-rs")
    result.assert_outcomes(passed=2, skipped=2)  # 2 handsets x (cpu, gpu); gpu falls back: skipped
    result.stdout.fnmatch_lines(["*SKIPPED*digits on Virtual Handset*gpu fell back to xnnpack*set allow_fallback = true*"])
    workers: dict[str, set[str]] = {}
    for line in result.stdout.lines:
        match = re.match(r"\[(gw\d+)\].* PASSED test_user\.py::test_model_on_device\[([^\]-]+(?::\d+)?)-", line)
        if match:
            workers.setdefault(match.group(2), set()).add(match.group(1))
    assert sorted(workers) == sorted([virtual_handset.address, "virtual"]), result.stdout.str()
    assert all(len(w) == 1 for w in workers.values()) and len(set().union(*workers.values())) == 2, workers
    data = json.loads((pytester.path / "device-results.json").read_text())
    assert len(data["runs"]) == 4 and len({r["device"]["serial"] for r in data["runs"]}) == 2
    assert sorted((r["accelerator_requested"], r["status"]) for r in data["runs"]) == [("cpu", "ok")] * 2 + [("gpu", "fallback")] * 2
    assert not list(pytester.path.glob("*.part"))


def test_without_device_options_device_tests_skip_with_the_reason(pytester, digits_bundle):
    pytester.makepyfile(test_user=USER_TEST + """
import pytest

@pytest.mark.phone
def test_on_a_real_phone(handset):
    assert handset.props().virtual is False

def test_unrelated():
    assert 1 + 1 == 2
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=1, skipped=3)  # device_run x 2 default accelerators, and the phone test
    result.stdout.fnmatch_lines(["*no handset: pass --device*", "*needs a real Android phone: none attached*"])


def test_device_bench_command(digits_bundle, tmp_path):
    out = tmp_path / "results.json"
    result = CliRunner().invoke(main, ["device", "bench", str(digits_bundle), "--virtual", "-a", "cpu,nnapi", "--runs", "5",
                                       "--allow-fallback", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "nnapi→" in result.stdout and "100%/0" in result.stdout and "transferred" in result.stdout
    data = json.loads(out.read_text())
    assert [(r["accelerator_requested"], r["status"]) for r in data["runs"]] == [("cpu", "ok"), ("nnapi", "fallback")]
    # without --allow-fallback a fallback is not success: exit 2, one line saying what ran instead
    refused = CliRunner().invoke(main, ["device", "bench", str(digits_bundle), "--virtual", "-a", "nnapi", "--runs", "3", "--json"])
    assert refused.exit_code == 2, refused.output
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "nnapi fell back to xnnpack" in lines[0] and "--allow-fallback" in lines[0], lines
    assert json.loads(refused.stdout)["runs"][0]["status"] == "fallback"
    as_json = CliRunner().invoke(main, ["device", "bench", str(digits_bundle), "--virtual", "-a", "cpu", "--runs", "3", "--json"])
    assert json.loads(as_json.stdout)["runs"][0]["status"] == "ok"


@pytest.mark.parametrize(
    "args, needle",
    [
        (["device", "bench", "/no/such/bundle", "--virtual"], "does not exist"),
        (["device", "bench", "{bundle}"], "no device to run on"),
        (["device", "bench", "{bundle}", "--virtual", "-a", "tpu"], "unknown accelerator"),
        (["device", "bench", "{bundle}", "--device", "127.0.0.1:1"], "cannot reach"),
    ],
)
def test_device_bench_bad_input(args, needle, digits_bundle):
    result = CliRunner().invoke(main, [a.replace("{bundle}", str(digits_bundle)) for a in args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in result.output


def test_device_list_without_a_server(monkeypatch):
    monkeypatch.setenv("ADB_SERVER_SOCKET", "tcp:127.0.0.1:1")
    result = CliRunner().invoke(main, ["device", "list", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == {"adb_server": False, "devices": []}


def test_device_list_through_the_adb_server(adb, virtual_handset):
    import time

    adb("connect", virtual_handset.address)
    deadline = time.time() + 10
    while time.time() < deadline and "\tdevice" not in adb("devices").stdout:
        time.sleep(0.1)
    result = CliRunner().invoke(main, ["device", "list", "--json"])
    devices = json.loads(result.stdout)["devices"]
    assert devices[0]["serial"] == virtual_handset.address and devices[0]["model"] == "Virtual Handset" and devices[0]["sdk"] == 34


def test_device_bench_on_two_handsets_at_once(digits_bundle, virtual_handset, monkeypatch, tmp_path):
    """Two handsets (one named, one --virtual) in parallel, each with its own progress bar."""
    from packager import progress

    monkeypatch.setattr(progress, "_enabled", True)  # the bars, as on a terminal
    out = tmp_path / "two.json"
    result = CliRunner().invoke(main, ["device", "bench", str(digits_bundle), "--device", virtual_handset.address, "--virtual",
                                       "-a", "cpu", "--runs", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Virtual Handset (127.0.0.1:") == 2  # a table per handset
    runs = json.loads(out.read_text())["runs"]
    assert len(runs) == 2 and virtual_handset.address in {r["device"]["serial"] for r in runs}
    assert len({r["device"]["serial"] for r in runs}) == 2 and all(r["status"] == "ok" for r in runs)


def test_device_bench_with_failed_runs_exits_2_also_with_json(digits_bundle, tmp_path):
    """A run that failed (here: benchmark_model could not open the model) is in the JSON, and the
    exit code says so. (A shell script stands in for benchmark_model: see test_kit.py.)"""
    script = tmp_path / "benchmark_model"
    script.write_text("#!/system/bin/sh\necho 'ERROR: Could not open model.'\necho 'ERROR: Failed to initialize the interpreter'\nexit 1\n")
    result = CliRunner().invoke(main, ["device", "bench", str(digits_bundle), "--virtual", "-a", "cpu", "--benchmark-model", str(script), "--json"])
    assert result.exit_code == 2, result.output
    run = json.loads(result.stdout)["runs"][0]
    assert run["status"] == "error" and run["runner"] == "benchmark_model" and "Could not open" in run["errors"][0]
    assert "some runs failed" in result.stderr and "Traceback" not in result.output


def test_device_clean_command(digits_bundle, virtual_handset):
    bench = CliRunner().invoke(main, ["device", "bench", str(digits_bundle), "--device", virtual_handset.address, "-a", "cpu", "--runs", "2"])
    assert bench.exit_code == 0, bench.output
    result = CliRunner().invoke(main, ["device", "clean", "--device", virtual_handset.address, "--json"])
    assert result.exit_code == 0, result.output
    cleaned = json.loads(result.stdout)["cleaned"][0]
    assert cleaned["serial"] == virtual_handset.address and cleaned["staged_files"] >= 2 and cleaned["staged_bytes"] > 0
    again = CliRunner().invoke(main, ["device", "clean", "--device", virtual_handset.address])
    assert again.exit_code == 0 and "removed 0 staged file(s)" in again.stdout
    missing = CliRunner().invoke(main, ["device", "clean"])
    assert missing.exit_code == 2 and "--device" in missing.output


# --- issue 26 -----------------------------------------------------------------------------------------------
def test_device_results_pointing_at_a_folder_is_one_line(pytester, digits_bundle):
    (pytester.path / "out").mkdir()
    result = _run_user_suite(pytester, digits_bundle, "--device-results", "out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text and "Traceback" not in text
    result.stderr.fnmatch_lines(["*--device-results *out is a folder; pass a file name*"])


def test_results_that_cannot_be_written_are_kept_elsewhere(tmp_path):
    """The session's results are not lost when their file cannot be written (here its parent is a file)."""
    from packager.manifest import DeviceResults
    from packager.pytest_plugin import DeviceSession, _write_results

    (tmp_path / "file").write_text("x")
    state = DeviceSession()
    written = _write_results(state, DeviceResults(), tmp_path / "file" / "device-results.json")
    assert "cannot write the device results" in state.write_problem
    assert written is not None and written.name == "device-results.json" and json.loads(written.read_text())["runs"] == []


def test_a_lost_handset_is_one_failure_line(pytester, digits_bundle, tmp_path):
    from packager.device.virtual import VirtualHandset
    from packager.device.virtual.handset import Faults

    pytester.makepyfile(test_user=USER_TEST)
    with VirtualHandset(root=tmp_path / "device", faults=Faults(disconnect_after_bytes=1000, disconnect_once=False)) as handset:
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--device", handset.address, "--bundle", str(digits_bundle),
                                               "--accelerator", "cpu", "--device-runs", "3")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 1, outcomes
    text = result.stdout.str()
    assert "Traceback" not in text and "pytest_plugin.py" not in text and "transport.py" not in text, text
    result.stdout.fnmatch_lines(["*digits on * (cpu): *connection*"])


@pytest.mark.parametrize("problem", ["folder", "ENOSPC"])
def test_device_bench_out_that_cannot_be_written(problem, digits_bundle, tmp_path, monkeypatch):
    import errno

    from packager import fileio

    out = tmp_path / "results.json"
    if problem == "folder":
        out.mkdir()
    else:
        def full(path, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        monkeypatch.setattr(fileio, "write_atomic", full)
    result = CliRunner().invoke(main, ["device", "bench", str(digits_bundle), "--virtual", "-a", "cpu", "--runs", "3", "-o", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot write the device results" in lines[0], result.stderr
