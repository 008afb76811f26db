"""The demo app's GameLoopActivity on the virtual handset, as the Kotlin app does it (android_app
core's GameLoop): Test Lab's `am start -a com.google.intent.action.TEST_LOOP -n <pkg>/.GameLoopActivity
--ei scenario N -d file:///<results file>`. The scenario is looked up in the installed APK's
assets (packager/game-loop-scenarios.json), the bundle's model and golden inputs are copied out of
its assets/models/<bundle>/ into the app's files, one contract-2 request is run by the app process,
and then the result goes to the results file and the outputs to OUTPUTS_DIR/scenario_<N>/.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from packager.device.contract import LOG_TAG
from packager.device.farm.firebase import ACTION, OUTPUTS_DIR, SCENARIOS_ASSET

if TYPE_CHECKING:  # pragma: no cover
    from packager.device.virtual.parts import Device

__all__ = ["ACTION", "prepare"]


def prepare(handset: Device, package: str, apk: str, scenario_text: str | None, data: str | None
            ) -> tuple[list[str], Callable[[], None]] | None:
    """(request paths, what to do once they ran), or None when the intent cannot be served (logged, as
    the app logs it: Test Lab then finds no results file)."""
    log = handset.log
    try:
        number = int(scenario_text or "0")
    except ValueError:
        number = 0
    if not data or not data.startswith("file://"):
        log("E", LOG_TAG, f"GameLoopActivity: no results file in the intent (data {data!r})")
        return None
    results = data[len("file://"):]
    sandbox = handset.sandbox
    with zipfile.ZipFile(sandbox.host(apk, user="root")) as z:
        try:
            scenarios = {int(s["scenario"]): s for s in json.loads(z.read(f"assets/{SCENARIOS_ASSET}"))["scenarios"]}
        except (KeyError, ValueError):
            log("E", LOG_TAG, f"GameLoopActivity: the app carries no {SCENARIOS_ASSET}")
            return None
        scenario = scenarios.get(number)
        if scenario is None:
            log("E", LOG_TAG, f"GameLoopActivity: scenario {number} is not in {SCENARIOS_ASSET} ({sorted(scenarios)})")
            return None
        base = f"assets/models/{scenario['bundle']}"
        manifest = json.loads(z.read(f"{base}/manifest.json"))
        work = f"{handset.packages.data_dir(package)}/files/packager/game-loop/scenario_{number}"
        host_work = sandbox.host(work, user="root", write=True)
        shutil.rmtree(host_work, ignore_errors=True)
        host_work.mkdir(parents=True)
        files = [manifest["model"]["file"], *(g["file"] for g in manifest["golden"]["inputs"])]
        for name in files:
            target = host_work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(f"{base}/{name}"))
    request = {
        "schema_version": 1, "request_id": f"game-loop-scenario-{number}", "bundle": scenario["bundle"],
        "model_path": f"{work}/{files[0]}", "model_sha256": scenario["model_sha256"], "accelerator": scenario["accelerator"],
        "threads": scenario["threads"], "warmup_runs": scenario["warmup_runs"], "measured_runs": scenario["measured_runs"],
        "input_files": [f"{work}/{f}" for f in files[1:]], "output_dir": f"{work}/out", "save_outputs": True,
        "result_path": f"{work}/result.json",
    }
    (host_work / "request.json").write_text(json.dumps(request))
    log("I", LOG_TAG, f"GameLoopActivity: scenario {number}: {scenario['bundle']} on {scenario['accelerator']}")

    def deliver() -> None:
        result = host_work / "result.json"
        if not result.is_file():
            log("E", LOG_TAG, f"GameLoopActivity: scenario {number} wrote no result")
            return
        target = sandbox.host(results, user="root", write=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result, target)
        outputs = sandbox.host(f"{OUTPUTS_DIR}/scenario_{number}", user="root", write=True)
        shutil.rmtree(outputs, ignore_errors=True)
        outputs.mkdir(parents=True)
        for produced in sorted((host_work / "out").glob("output_*.npy")):
            shutil.copyfile(produced, outputs / produced.name)
        log("I", LOG_TAG, f"GameLoopActivity: scenario {number} done, results in {results}")

    return [f"{work}/request.json"], deliver
