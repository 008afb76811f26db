"""Write the demo app's generic sample images (app/src/main/assets/samples/*.png).

A few tiny, deterministic pictures: a color gradient, a checkerboard and a hand-drawn digit.
Each bundle also brings its own golden images (models/<name>/golden/images/), which the app lists
first. Run with `uv run python android_app/scripts/make_samples.py`; the output is committed.
"""

from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "app" / "src" / "main" / "assets" / "samples"

SEVEN = [
    "........",
    ".######.",
    "......#.",
    ".....#..",
    "....#...",
    "...#....",
    "...#....",
    "........",
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:32, 0:32]
    gradient = np.stack([x * 8, y * 8, 255 - (x + y) * 4], axis=-1).clip(0, 255).astype(np.uint8)
    checker = (((y // 4) + (x // 4)) % 2 * 255).astype(np.uint8)
    seven = np.array([[255 if c == "#" else 0 for c in row] for row in SEVEN], dtype=np.uint8)
    images = {
        "gradient.png": Image.fromarray(gradient, "RGB"),
        "checker.png": Image.fromarray(checker, "L").convert("RGB"),
        "seven.png": Image.fromarray(seven, "L").resize((32, 32), Image.NEAREST).convert("RGB"),
    }
    for name, image in images.items():
        image.save(OUT / name, optimize=True)
        print(f"{OUT / name}: {(OUT / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
