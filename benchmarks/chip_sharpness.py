"""How sharp the simulated ID-card chips are, next to real chips: the variance of the Laplacian of the face region
(rows 30–100, columns 25–77 of the 102×126 decoded portrait, greyscale), the measure two real decoded chip
portraits were measured with (218 and 485; issue 13 — the files are not in this repository).

    .venv/bin/python benchmarks/chip_sharpness.py [--faces 40]     # about a minute

For the first ``--faces`` images of ../shared/data/faces_east_asian (one per identity), the face box from the ONNX
detector, the portrait cut as ``chip_photo.simulate_chip_photo`` cuts it, compressed at every condition of
``chip_photo.CHIP_CONDITIONS`` (plus JPEG 2000 at 2,048 bytes and the uncompressed portrait for reference).
Writes benchmarks/results/chip_sharpness.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_data import MAX_PIXELS, add_data_arguments, load_sets, shared_data_missing, write_results
from realname.adapters.vision.chip_photo import CHIP_CONDITIONS, ChipCompression, chip_portrait, compress_chip
from realname.adapters.vision.glare_veil import chip_sharpness as face_region_sharpness
from realname.adapters.vision.images import PillowImageDecoder
from realname.bootstrap.vision import load_onnx_models

REAL_CHIPS = (218.0, 485.0)  # two real decoded chip portraits (issue 13)
EXTRA = (ChipCompression("j2k2048", budget_bytes=2048),)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=40)
    add_data_arguments(parser, cache=False)
    args = parser.parse_args()
    if shared_data_missing(args.shared):
        return 2
    east_asian = next(s for s in load_sets(args.shared) if s.name == "faces_east_asian")
    seen: set[str] = set()
    images = []
    for image in east_asian.images:
        if image.identity not in seen:
            seen.add(image.identity)
            images.append(image)
    detector = load_onnx_models(args.models_dir, 1)
    decoder = PillowImageDecoder()
    conditions = [*CHIP_CONDITIONS, *EXTRA]
    values: dict[str, list[float]] = {"uncompressed": [], **{c.name: [] for c in conditions}}
    for image in images:
        if len(values["uncompressed"]) >= args.faces:
            break
        rgb = decoder.decode(image.path.read_bytes(), max_pixels=MAX_PIXELS).rgb
        boxes = detector.detect(rgb)
        if not boxes:
            continue
        box = max(boxes, key=lambda b: b.height)
        portrait = chip_portrait(rgb, (box.x0, box.y0, box.x1, box.y1))
        values["uncompressed"].append(face_region_sharpness(portrait))
        for condition in conditions:
            values[condition.name].append(face_region_sharpness(compress_chip(portrait, condition)))
    rows = [
        {
            "condition": name,
            "faces": len(found),
            "median": float(np.median(found)),
            "p25": float(np.percentile(found, 25)),
            "p75": float(np.percentile(found, 75)),
        }
        for name, found in values.items()
    ]
    report = {"date": time.strftime("%Y-%m-%d", time.gmtime()), "real_chips": REAL_CHIPS, "rows": rows}
    lines = [
        f"# Chip sharpness ({report['date']}; face-region Laplacian variance; real chips {REAL_CHIPS[0]:.0f} and "
        f"{REAL_CHIPS[1]:.0f})",
        "",
        "| condition | faces | median | 25th–75th percentile |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {r['condition']} | {r['faces']} | {r['median']:.0f} | {r['p25']:.0f}–{r['p75']:.0f} |" for r in rows]
    markdown = "\n".join(lines) + "\n"
    write_results("chip_sharpness", report, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
