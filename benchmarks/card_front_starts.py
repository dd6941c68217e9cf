"""How far apart the same-photograph check's registration starts are, and what each scores, on simulated card fronts:
whether a start close to one already run could be skipped, and what a check and its printed face cost.

Per card (``--images`` images of faces_east_asian, evenly spaced; the card front simulated as benchmarks/card_front.py
does, same seed per image) the portrait is located, then checked against the chip of the same photograph (genuine)
and of the image half the list away (a swap), at both chip budgets. Per check: the starts
(``printed_portrait.registration_starts``), each start's score and time, and per pair of starts how far apart they
put the chip frame: the largest distance, in chip pixels, between where the two maps take the printed pixels that
land on the chip frame's corners (an affine map's largest move over a rectangle is at a corner). A skip rule (run
the starts in the order landmarks, face boxes, standard framing; skip one within ``d`` pixels of one run) is read
off for several ``d``: starts saved, the skipped starts' score against the one kept, and checks whose similarity
(the best start) would change. Also timed: finding the printed portrait's face (print-suppressed copy, fr_detect,
landmarks), which the engine does again when it embeds the portrait.

    PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/card_front_starts.py [--images 60]

Writes benchmarks/results/card_front_starts.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from card_front import card_rng, largest_face_box, printed_portrait_of
from face_data import MAX_PIXELS, add_data_arguments, load_sets, write_results
from realname.adapters.vision.chip_photo import (
    CHIP_HEIGHT_PX,
    CHIP_WIDTH_PX,
    JPEG2000_1024,
    JPEG2000_1536,
    simulate_chip_photo,
)
from realname.adapters.vision.images import PillowImageDecoder
from realname.adapters.vision.printed_portrait import (
    OnnxPrintedPortraitReader,
    band_pass_correlation,
    registration_starts,
    to_chip_domain,
)
from realname.bootstrap.vision import load_onnx_models

ORDER = ("landmarks", "face_boxes", "standard_framing")
SKIP_DISTANCES_PX = (0.5, 1.0, 1.5, 2.0, 3.0)
_CORNERS = np.array(
    [[0.0, CHIP_WIDTH_PX, 0.0, CHIP_WIDTH_PX], [0.0, 0.0, CHIP_HEIGHT_PX, CHIP_HEIGHT_PX], [1.0, 1.0, 1.0, 1.0]]
)


def apart_px(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    """The largest move, over the chip frame, between where maps ``a`` and ``b`` (printed → chip) put a pixel."""
    a3, b3 = np.vstack([a, [0.0, 0.0, 1.0]]), np.vstack([b, [0.0, 0.0, 1.0]])
    moved = b3 @ np.linalg.inv(a3) @ _CORNERS
    return float(np.max(np.linalg.norm(moved[:2] - _CORNERS[:2], axis=0)))


def skip_rule(checks: list[dict[str, Any]], distance_px: float) -> dict[str, Any]:
    run = skipped = 0
    differences: list[float] = []
    changed: list[float] = []
    for check in checks:
        kept: list[str] = []
        for name in (n for n in ORDER if n in check["scores"]):
            near = [k for k in kept if check["apart_px"][frozenset((k, name))] <= distance_px]
            if near:
                skipped += 1
                differences += [abs(check["scores"][name] - check["scores"][k]) for k in near]
                continue
            kept.append(name)
        run += len(kept)
        before, after = max(check["scores"].values()), max(check["scores"][k] for k in kept)
        if after != before:
            changed.append(round(before - after, 4))
    return {
        "distance_px": distance_px,
        "starts_run": run,
        "starts_skipped": skipped,
        "skipped_score_difference_max": round(max(differences), 4) if differences else None,
        "checks_whose_similarity_changes": len(changed),
        "similarity_lost": changed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser, cache=False)
    parser.add_argument("--images", type=int, default=60)
    args = parser.parse_args()
    models = load_onnx_models(args.models_dir)
    reader = OnnxPrintedPortraitReader(models, 0.0)
    decoder = PillowImageDecoder()
    (east,) = [s for s in load_sets(args.shared) if s.name == "faces_east_asian"]
    images = east.images[:: max(len(east.images) // args.images, 1)][: args.images]
    faces = []
    for image in images:
        rgb = decoder.decode(image.path.read_bytes(), max_pixels=MAX_PIXELS).rgb
        box = largest_face_box(models, rgb)
        if box is not None:
            faces.append((image.path, rgb, box))
    checks: list[dict[str, Any]] = []
    load_before = os.getloadavg()[0]
    for k, (path, rgb, box) in enumerate(faces):
        located = printed_portrait_of(rgb, box, card_rng(path), reader, decoder)
        if located is None:
            continue
        portrait = located.rgb
        other = faces[(k + len(faces) // 2) % len(faces)]
        for kind, (source, source_box) in (("genuine", (rgb, box)), ("swap", (other[1], other[2]))):
            for budget in (JPEG2000_1024, JPEG2000_1536):
                chip = decoder.decode(
                    simulate_chip_photo(source, source_box, compression=budget), max_pixels=MAX_PIXELS
                ).rgb
                began = time.perf_counter()
                printed = reader.face(portrait, portrait.shape[0], printed=True)
                printed_face_ms = 1000 * (time.perf_counter() - began)
                chip_face = reader.chip_face(chip)
                starts = registration_starts(portrait, printed, chip_face)
                faces_ms = 1000 * (time.perf_counter() - began)
                scores, start_ms = {}, {}
                for name, to_chip in starts.items():
                    began = time.perf_counter()
                    scores[name] = band_pass_correlation(chip, to_chip_domain(portrait, to_chip))
                    start_ms[name] = 1000 * (time.perf_counter() - began)
                names = list(starts)
                checks.append(
                    {
                        "kind": kind,
                        "budget": budget.name,
                        "scores": scores,
                        "printed_face_ms": printed_face_ms,
                        "check_ms": faces_ms + sum(start_ms.values()),
                        "start_ms": start_ms,
                        "apart_px": {
                            frozenset((a, b)): apart_px(starts[a], starts[b])
                            for i, a in enumerate(names)
                            for b in names[i + 1 :]
                        },
                    }
                )
        print(f"  card {k + 1}/{len(faces)}", file=sys.stderr)
    pairs: dict[str, list[float]] = {}
    for check in checks:
        for pair, distance in check["apart_px"].items():
            pairs.setdefault("|".join(n for n in ORDER if n in pair), []).append(distance)
    report = {
        "images": len(faces),
        "checks": len(checks),
        "starts": sum(len(c["scores"]) for c in checks),
        "apart_px_percentiles_0_5_10_25_50": {
            pair: np.round(np.percentile(values, [0, 5, 10, 25, 50]), 2).tolist() for pair, values in pairs.items()
        },
        "skip_rules": [skip_rule(checks, d) for d in SKIP_DISTANCES_PX],
        "ms_median": {
            "check": round(statistics.median(c["check_ms"] for c in checks), 1),
            "start": round(statistics.median(ms for c in checks for ms in c["start_ms"].values()), 1),
            "printed_face": round(statistics.median(c["printed_face_ms"] for c in checks), 1),
        },
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    write_results("card_front_starts", report)
    print(report)


if __name__ == "__main__":
    main()
