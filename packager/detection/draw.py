"""Detections drawn on the golden sample images: the float model's beside the bundled model's."""

from __future__ import annotations

import io
from pathlib import Path

TILE = 160
PAIRS_PER_ROW = 4
FLOAT_COLOUR, CHOSEN_COLOUR = (30, 110, 230), (225, 40, 40)


def _tile(image, detections, colour):
    from PIL import ImageDraw  # noqa: PLC0415

    tile = image.convert("RGB").resize((TILE, TILE))
    draw = ImageDraw.Draw(tile)
    for d in detections:
        ymin, xmin, ymax, xmax = (v * TILE for v in d.box)
        draw.rectangle([xmin, ymin, xmax, ymax], outline=colour, width=2)
        text = f"{d.label or d.class_index} {d.score:.2f}"
        draw.rectangle([xmin, max(ymin - 11, 0), xmin + 6 * len(text) + 2, max(ymin - 11, 0) + 11], fill=colour)
        draw.text((xmin + 1, max(ymin - 11, 0)), text, fill=(255, 255, 255))
    return tile


def comparison(samples: list, bundle_dir: Path, images: list[str], chosen_name: str) -> bytes | None:
    """One PNG: for each golden sample, the float model's detections (blue) and `chosen_name`'s (red)."""
    from PIL import Image, ImageDraw  # noqa: PLC0415

    pairs = []
    for sample in samples:
        if sample.golden_index >= len(images) or not (bundle_dir / images[sample.golden_index]).is_file():
            continue
        with Image.open(bundle_dir / images[sample.golden_index]) as image:
            pairs.append((_tile(image, sample.float, FLOAT_COLOUR), _tile(image, sample.chosen, CHOSEN_COLOUR)))
    if not pairs:
        return None
    rows = (len(pairs) + PAIRS_PER_ROW - 1) // PAIRS_PER_ROW
    gap, head = 8, 16
    width = min(len(pairs), PAIRS_PER_ROW) * (2 * TILE + gap) - gap
    sheet = Image.new("RGB", (width, head + rows * (TILE + gap)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    draw.text((0, 2), "float (blue) | " + chosen_name + " (red), per sample", fill=(0, 0, 0))
    for k, (left, right) in enumerate(pairs):
        x, y = (k % PAIRS_PER_ROW) * (2 * TILE + gap), head + (k // PAIRS_PER_ROW) * (TILE + gap)
        sheet.paste(left, (x, y))
        sheet.paste(right, (x + TILE, y))
    out = io.BytesIO()
    sheet.save(out, format="PNG")
    return out.getvalue()
