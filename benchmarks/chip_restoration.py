"""Does restoring the chip before matching pay? Classical restoration of the decoded chip against the shipped path.

Issue 13 asks for the chip-robust embedding to be compared with other levers, chip restoration among them. A card
reader hands over the decoded JPEG 2000 portrait (102×126, wavelet blur and ringing); the engine smooths it lightly
(Gaussian σ ``quality.CHIP_SMOOTHING_SIGMA_PX`` = 0.6 px, tuned on JPEG q25 chips to hide block edges), enlarges it
×2 (bicubic), then detects, aligns and embeds it. Variants:

- ``shipped``: the product path as it is;
- ``smoothing σ S``: the engine's own smoothing at S px instead of 0.6 (0: none);
- ``denoise NLM h H``: OpenCV's non-local-means colour denoising of the decoded chip (strength H), then the product
  path — removes ringing and mosquito noise while keeping edges;
- ``bilateral``: an edge-preserving bilateral filter (5 px, colour σ 20, space σ 3), then the product path;
- ``unsharp A``: unsharp masking of the decoded chip (amount A, σ 1 px), then the product path — restores some
  contrast the wavelet budget took.

For every variant: the chip of each faces_east_asian image (as ``face_accuracy.py`` simulates it) embedded by the
engine, against the other photos of the same set (``face_accuracy.pair_scores``: both orders, same-source
impostors), FNMR at FMR 1e-3 and 1e-4 and at the shipped chip threshold. The live side is the shipped engine's
(cached by ``face_data.embed_photos``).

    .venv/bin/python benchmarks/chip_restoration.py [--chips j2k1024,j2k1536]    # ≈ 1 min per variant and chip, quiet machine

Writes benchmarks/results/chip_restoration.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_accuracy import fnmr_at, git_commit, pair_scores, threshold_at
from face_data import (
    MAX_PIXELS,
    Embeddings,
    add_data_arguments,
    embed_photos,
    load_sets,
    sface_engine,
    shared_data_missing,
    simulated_chip,
    stack_embeddings,
    write_results,
)
from realname.adapters.vision import quality
from realname.adapters.vision.chip_photo import CHIP_CONDITIONS
from realname.adapters.vision.images import PillowImageDecoder
from realname.app.matching import DecodedImage
from realname.domain.face import ReferenceKind

Restoration = Callable[[np.ndarray], np.ndarray]


def _unsharp(amount: float) -> Restoration:
    def restore(rgb: np.ndarray) -> np.ndarray:
        blurred = cv2.GaussianBlur(rgb, (0, 0), 1.0)
        return np.asarray(cv2.addWeighted(rgb, 1 + amount, blurred, -amount, 0), dtype=np.uint8)

    return restore


def _denoise(strength: float) -> Restoration:
    def restore(rgb: np.ndarray) -> np.ndarray:
        return np.asarray(cv2.fastNlMeansDenoisingColored(rgb, None, strength, strength, 3, 9), dtype=np.uint8)

    return restore


def _bilateral(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(cv2.bilateralFilter(rgb, 5, 20, 3), dtype=np.uint8)


# name → (restoration of the decoded chip or None, the engine's chip smoothing σ in px)
VARIANTS: dict[str, tuple[Restoration | None, float]] = {
    "shipped": (None, quality.CHIP_SMOOTHING_SIGMA_PX),
    "smoothing σ 0": (None, 0.0),
    "smoothing σ 0.4": (None, 0.4),
    "smoothing σ 0.9": (None, 0.9),
    "denoise NLM h 3": (_denoise(3.0), quality.CHIP_SMOOTHING_SIGMA_PX),
    "bilateral": (_bilateral, quality.CHIP_SMOOTHING_SIGMA_PX),
    "unsharp 0.5": (_unsharp(0.5), quality.CHIP_SMOOTHING_SIGMA_PX),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chips", default="j2k1024,j2k1536")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    add_data_arguments(parser)
    args = parser.parse_args()
    if shared_data_missing(args.shared):
        return 2
    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    face_set = next(s for s in load_sets(args.shared) if s.name == "faces_east_asian")
    engine, detector = sface_engine(args.models_dir, 1)
    threshold = engine.threshold_for(ReferenceKind.CHIP)
    photo, photo_quality = embed_photos(face_set, engine, args.cache_dir)
    decoder = PillowImageDecoder()
    decoded = [decoder.decode(image.path.read_bytes(), max_pixels=MAX_PIXELS) for image in face_set.images]
    conditions = {c.name: c for c in CHIP_CONDITIONS if c.name in args.chips.split(",")}
    chips = {name: [simulated_chip(d, detector, decoder, c) for d in decoded] for name, c in conditions.items()}
    rows: list[dict[str, Any]] = []
    shipped_sigma = quality.CHIP_SMOOTHING_SIGMA_PX
    try:
        for variant in args.variants.split(","):
            restore, sigma = VARIANTS[variant]
            quality.CHIP_SMOOTHING_SIGMA_PX = sigma  # read by quality.upscale_small at every call
            for condition, images in chips.items():
                embedded: list[np.ndarray | None] = []
                for chip in images:
                    if chip is None:
                        embedded.append(None)
                        continue
                    given = chip if restore is None else DecodedImage(np.ascontiguousarray(restore(chip.rgb)))
                    embedded.append(engine.analyse_id_photo(given).embedding)
                scores = pair_scores(face_set, Embeddings(photo, stack_embeddings(embedded), photo_quality), condition)
                row = {
                    "variant": variant,
                    "chip": condition,
                    "genuine_pairs": len(scores.genuine),
                    "impostor_pairs": len(scores.impostor),
                    "fnmr_at_fmr_1e-3": round(fnmr_at(scores.genuine, threshold_at(scores.impostor, 1e-3)), 4),
                    "fnmr_at_fmr_1e-4": round(fnmr_at(scores.genuine, threshold_at(scores.impostor, 1e-4)), 4),
                    "fnmr_at_shipped": round(fnmr_at(scores.genuine, threshold), 4),
                }
                rows.append(row)
                print(row, file=sys.stderr, flush=True)
    finally:
        quality.CHIP_SMOOTHING_SIGMA_PX = shipped_sigma
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": git_commit(),
        "command": " ".join(["benchmarks/chip_restoration.py", *sys.argv[1:]]),
        "chip_threshold": threshold,
        "rows": rows,
    }
    write_results("chip_restoration", report, markdown(report))
    print(markdown(report))
    return 0


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Chip restoration before matching (faces_east_asian, sface)",
        "",
        f"`{report['command']}` on {report['date']}, commit {report['commit']}; shipped chip threshold "
        f"{report['chip_threshold']}.",
        "",
        "| variant | chip | genuine | impostors | FNMR @1e-3 | FNMR @1e-4 | FNMR at shipped |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['variant']} | {row['chip']} | {row['genuine_pairs']} | {row['impostor_pairs']} | "
            f"{row['fnmr_at_fmr_1e-3']:.1%} | {row['fnmr_at_fmr_1e-4']:.1%} | {row['fnmr_at_shipped']:.1%} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
