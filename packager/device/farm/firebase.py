"""Firebase Test Lab game loops: the app as its own test, one scenario per bundle x accelerator.

Test Lab starts the app's game-loop activity with the intent action `com.google.intent.action.TEST_LOOP`,
the scenario number as the int extra `scenario` and a results file as the intent's data URI; the
app writes there what the scenario measured and finishes. Here a scenario is one benchmark request
(contract 2): the app reads `assets/packager/game-loop-scenarios.json` (written by
`packager device farm game-loop`), runs the bundle installed in its assets (`packager bundle`) on
the accelerator, writes the result (bench-result.schema.json) to the results file and the outputs to
OUTPUTS_DIR, which gcloud pulls (`--directories-to-pull`).

A downloaded results folder has one folder per device (gcloud names them
`<model>-<version>-<locale>-<orientation>`), each with `game_loop_results/results_scenario_<N>.json`
and, under the pulled directories, `.../scenario_<N>/output_<k>.npy`; `ingest` reads it into the
kit's device results (parity computed here, from the outputs and the bundle's golden outputs).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from packager.device.contract import ACCELERATORS, APP_PACKAGE
from packager.errors import PackagerError
from packager.fileio import DocumentError, read_json

ACTION = "com.google.intent.action.TEST_LOOP"
GAME_LOOP_ACTIVITY = f"{APP_PACKAGE}/.GameLoopActivity"
SCENARIOS_ASSET = "packager/game-loop-scenarios.json"  # under the app's assets/
KIND = "packager-game-loop-scenarios"
OUTPUTS_DIR = f"/sdcard/Android/data/{APP_PACKAGE}/files/packager-game-loop"  # scenario_<N>/output_<k>.npy
RESULTS_FOLDER = "game_loop_results"
RESULT_FILE = re.compile(r"results_scenario_(\d+)\.json")  # fullmatch: no trailing newline


@dataclass(frozen=True)
class Scenario:
    scenario: int
    bundle: str
    model_sha256: str
    accelerator: str
    threads: int = 1
    warmup_runs: int = 3
    measured_runs: int = 20

    def to_dict(self) -> dict:
        return {"scenario": self.scenario, "bundle": self.bundle, "model_sha256": self.model_sha256, "accelerator": self.accelerator,
                "threads": self.threads, "warmup_runs": self.warmup_runs, "measured_runs": self.measured_runs}


def scenarios_for(bundles: list, accelerators: list[str], runs: int = 20, warmup: int = 3, threads: int = 1) -> list[Scenario]:
    """Scenario numbers from 1, bundle by bundle, accelerator by accelerator."""
    unknown = [a for a in accelerators if a not in ACCELERATORS]
    if unknown or not accelerators:
        raise PackagerError(f"unknown accelerator {', '.join(unknown) or '(none)'}", f"use {', '.join(ACCELERATORS)}")
    if not bundles:
        raise PackagerError("no bundles for the game loop", "pass one or more dist/<name>/ folders made by `packager build`")
    pairs = [(b, a) for b in bundles for a in accelerators]
    return [Scenario(i, b.name, b.model_sha256, a, threads, warmup, runs) for i, (b, a) in enumerate(pairs, start=1)]


def scenarios_json(scenarios: list[Scenario]) -> str:
    return json.dumps({"schema_version": 1, "kind": KIND, "scenarios": [s.to_dict() for s in scenarios]}, indent=2) + "\n"


def read_scenarios(path: Path) -> dict[int, Scenario]:
    try:
        data = read_json(path)
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise DocumentError("not a game-loop scenarios file")
        return {int(s["scenario"]): Scenario(**s) for s in data["scenarios"]}
    except (OSError, DocumentError, KeyError, TypeError, ValueError) as exc:
        raise PackagerError(f"{path} is not a game-loop scenarios file ({exc})",
                            "pass the file `packager device farm game-loop` wrote into the app's assets") from None


def gcloud_line(app: str, scenarios: list[Scenario], devices: list[str], timeout: str = "15m") -> str:
    """The `gcloud firebase test android run` line for these scenarios on these devices (not run here)."""
    if not devices:
        raise PackagerError("no Test Lab devices given", "pass --device model=MODEL,version=API (see `gcloud firebase test android models list`)")
    bad = [d for d in devices if not re.fullmatch(r"(model|version|locale|orientation)=[\w.-]+(,(model|version|locale|orientation)=[\w.-]+)*", d)]
    if bad:
        raise PackagerError(f"Test Lab device {bad[0]!r} is not KEY=VALUE[,KEY=VALUE...] with keys model, version, locale, orientation",
                            "write it as gcloud takes it, e.g. model=oriole,version=33")
    args = ["gcloud", "firebase", "test", "android", "run", "--type", "game-loop", "--app", app,
            "--scenario-numbers", ",".join(str(s.scenario) for s in scenarios)]
    for device in devices:
        args += ["--device", device]
    args += ["--directories-to-pull", OUTPUTS_DIR, "--timeout", timeout]
    return " ".join(shlex.quote(a) for a in args)


@dataclass(frozen=True)
class DeviceFolder:
    name: str  # gcloud's <model>-<version>-<locale>-<orientation>
    results: dict[int, Path]  # scenario -> results_scenario_N.json
    root: Path

    def outputs(self, scenario: int) -> list[Path]:
        found = sorted(self.root.rglob(f"scenario_{scenario}/output_*.npy"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
        return found


def device_folders(folder: Path) -> list[DeviceFolder]:
    """The device folders of a downloaded Test Lab results folder; a folder laid out otherwise is refused."""
    if not folder.is_dir():
        raise PackagerError(f"Test Lab results folder {folder} does not exist", "download it with `gsutil -m cp -r gs://BUCKET/DIR .`")
    found = []
    for device in sorted(p for p in folder.iterdir() if p.is_dir()):
        results_dir = device / RESULTS_FOLDER
        if not results_dir.is_dir():
            continue
        results = {int(m.group(1)): p for p in results_dir.iterdir() if (m := RESULT_FILE.fullmatch(p.name))}
        if results:
            found.append(DeviceFolder(device.name, dict(sorted(results.items())), device))
    if not found:
        raise PackagerError(f"{folder} is not a Test Lab game-loop results folder: no <device>/{RESULTS_FOLDER}/results_scenario_<N>.json in it",
                            "pass the folder gcloud's results directory was downloaded to (one folder per device)")
    return found


def ingest(folder: Path, scenarios_file: Path, bundle_dirs: list[Path]):
    """A downloaded results folder -> DeviceResults (one run per device x scenario), parity from the
    pulled outputs against each bundle's golden outputs."""
    # numpy and the kit only when a folder is ingested: the virtual handset's game loop imports this module for its constants
    from packager.bundle.reader import load_bundle  # noqa: PLC0415
    from packager.data import arrays  # noqa: PLC0415
    from packager.device.bench import bundle_parity, run_record  # noqa: PLC0415
    from packager.manifest import BenchResult, DeviceResults  # noqa: PLC0415

    devices = device_folders(folder)
    scenarios = read_scenarios(scenarios_file)
    refs = {r.name: r for r in (load_bundle(b) for b in bundle_dirs)}
    results = DeviceResults()
    for device in devices:
        for number, path in device.results.items():
            scenario = scenarios.get(number)
            if scenario is None:
                raise PackagerError(f"{path}: scenario {number} is not in {scenarios_file}", "pass the scenarios file of the run that made it")
            ref = refs.get(scenario.bundle)
            if ref is None or ref.model_sha256 != scenario.model_sha256:
                raise PackagerError(f"scenario {number} ran bundle {scenario.bundle} ({scenario.model_sha256[:12]}...), which is not among the "
                                    "bundles given", f"pass --bundle dist/{scenario.bundle} as it was built for the run")
            try:
                result = BenchResult.from_json(path.read_text(encoding="utf-8"), what=str(path))
            except (OSError, ValueError) as exc:
                raise PackagerError(f"{path} is not a benchmark result ({exc})", "check the app's game-loop logs in Test Lab") from None
            if result.accelerator.requested != scenario.accelerator:
                raise PackagerError(f"{path} answers a {result.accelerator.requested} request, scenario {number} is {scenario.accelerator}",
                                    "pass the scenarios file of the run that made it")
            agreement = None
            outputs = device.outputs(number)
            if result.status == "ok" and outputs:
                agreement = bundle_parity(ref, [arrays.load_array(p, f"output of scenario {number} on {device.name}") for p in outputs])
            results.runs.append(run_record(result, ref.name, ref.model_sha256, ref.manifest.recipe.name, agreement, serial=device.name))
    return results
