"""Which alignment scales the onnx engine should average: every scale set measured on the same pairs.

Each image of ../shared/data/faces and faces_east_asian is embedded once per aligned crop (scales 0.85 to 1.15,
each with its mirror; as a photo and as a simulated 102×126 chip, as in face_accuracy.py); a scale set's embedding
is the normalised mean of its crops, which is what ``OnnxFaceEngine`` computes for those scales. For each set the
threshold is recalibrated exactly as ``face_accuracy.py --calibrate`` does (worst group, FMR 1e-4), and the East
Asian chip FNMR is reported at FMR 1e-3, 1e-4 and at that threshold, with the fr_feature runs a pair costs.

    .venv/bin/python benchmarks/face_scales.py     # about 3 min cold, seconds with the cache

Writes benchmarks/results/face_scales.{json,md}. Not part of ``make bench``: it informs a design choice.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_accuracy import Scores, fnmr_at, pair_scores, threshold_at
from face_data import (
    EMBEDDING_VERSION,
    Embeddings,
    FaceSet,
    add_data_arguments,
    embed_set,
    load_sets,
    shared_data_missing,
    write_results,
)
from realname.adapters.vision.onnx_engine import ID_PHOTO_ALIGNMENT_SCALES, LIVE_ALIGNMENT_SCALES, OnnxFaceEngine
from realname.adapters.vision.onnx_models import FloatArray
from realname.bootstrap.vision import build_face_engine, load_onnx_models
from realname.domain.face import FaceAnalysis
from realname.domain.policy import Policy

SCALES = (0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15)
EMBEDDING = 512
# (ID-photo scales, live scales), each crop with its mirror unless the name says otherwise.
VARIANTS: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] = (
    ((1.0,), (1.0,)),
    ((0.9, 1.0, 1.1), (1.0,)),
    ((0.9, 1.0, 1.1), (0.9, 1.0, 1.1)),
    ((0.9, 1.1), (0.9, 1.1)),
    ((0.95, 1.05), (0.95, 1.05)),
    ((0.85, 1.15), (0.85, 1.15)),
    ((0.9, 1.0), (0.9, 1.0)),
    ((1.0, 1.1), (1.0, 1.1)),
    ((0.9, 1.05), (0.9, 1.05)),
    ((0.95, 1.1), (0.95, 1.1)),
    ((0.9, 1.1), (1.0,)),
    ((0.9, 1.1), (0.95, 1.05)),
    ((0.9, 1.0, 1.1), (0.9, 1.1)),
    ((0.85, 1.0, 1.15), (0.85, 1.0, 1.15)),
    ((0.9, 0.95, 1.05, 1.1), (0.9, 0.95, 1.05, 1.1)),
    (SCALES, SCALES),
)


class EveryCropEngine(OnnxFaceEngine):
    """The onnx engine, but its 'embedding' is every crop's embedding side by side (scale-major, mirror second)."""

    @property
    def name(self) -> str:
        return "onnx-every-crop"

    def _result(self, found: Any) -> FaceAnalysis:  # benchmark only: keeps the crops instead of their mean
        if found.face_count == 0:
            return FaceAnalysis(face_count=0)
        vector: FloatArray = np.concatenate(found.embeddings).astype(np.float32)
        return FaceAnalysis(face_count=found.face_count, quality=found.quality, embedding=vector)


def subset(stacked: np.ndarray, scales: tuple[float, ...]) -> np.ndarray:
    """The normalised mean of the chosen scales' crops and mirrors (rows of NaN stay NaN)."""
    columns = [2 * SCALES.index(scale) + mirror for scale in scales for mirror in (0, 1)]
    crops = stacked.reshape(len(stacked), len(SCALES) * 2, EMBEDDING)[:, columns].sum(axis=1)
    normalised: np.ndarray = crops / np.linalg.norm(crops, axis=1, keepdims=True)
    return normalised


def worst_group_threshold(scores: dict[tuple[str, str], Scores], target_fmr: float) -> float:
    """One threshold for both conditions and sets: the highest per-group threshold for ``target_fmr`` (the
    calibration of 2026-12-06, before thresholds were kept per reference kind)."""
    return max(
        threshold_at(item.impostor[item.impostor_groups == group], target_fmr)
        for item in scores.values()
        for group in set(item.impostor_groups.tolist())
    )


def evaluate(
    sets: list[FaceSet], stacked: dict[str, Embeddings], id_scales: tuple[float, ...], live_scales: tuple[float, ...]
) -> dict[str, Any]:
    embeddings = {
        name: Embeddings(subset(e.photo, live_scales), subset(e.chip, id_scales)) for name, e in stacked.items()
    }
    scores: dict[tuple[str, str], Scores] = {
        (s.name, condition): pair_scores(s, embeddings[s.name], condition)
        for s in sets
        for condition in ("photo", "chip")
    }
    threshold = worst_group_threshold(scores, Policy().target_fmr)
    east_chip, east_photo = scores[("faces_east_asian", "chip")], scores[("faces_east_asian", "photo")]
    western_chip = scores[("faces", "chip")]

    def at(values: Scores, fmr: float) -> float:
        return round(100 * fnmr_at(values.genuine, threshold_at(values.impostor, fmr)), 1)

    return {
        "id_scales": list(id_scales),
        "live_scales": list(live_scales),
        "runs_per_pair": 2 * (len(id_scales) + len(live_scales)),
        "threshold": round(threshold, 4),
        "east_asian_chip_fnmr_1e-3": at(east_chip, 1e-3),
        "east_asian_chip_fnmr_1e-4": at(east_chip, 1e-4),
        "east_asian_chip_fnmr_at_threshold": round(100 * fnmr_at(east_chip.genuine, threshold), 1),
        "east_asian_photo_fnmr_at_threshold": round(100 * fnmr_at(east_photo.genuine, threshold), 1),
        "western_chip_fnmr_at_threshold": round(100 * fnmr_at(western_chip.genuine, threshold), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    args = parser.parse_args()
    if shared_data_missing(args.shared):
        return 2
    shipped = build_face_engine("onnx", args.models_dir, 1, Policy())
    assert isinstance(shipped, OnnxFaceEngine)
    engine = EveryCropEngine(shipped.models, shipped.thresholds, id_photo_scales=SCALES, live_scales=SCALES)
    EMBEDDING_VERSION[engine.name] = EMBEDDING_VERSION["onnx"]
    sets = load_sets(args.shared)
    detector = load_onnx_models(args.models_dir, 1)
    stacked = {s.name: embed_set(s, engine, detector, args.cache_dir) for s in sets}
    rows = [evaluate(sets, stacked, id_scales, live_scales) for id_scales, live_scales in VARIANTS]
    shipped_key = (list(ID_PHOTO_ALIGNMENT_SCALES), list(LIVE_ALIGNMENT_SCALES))
    lines = [
        "| ID-photo scales | live scales | runs/pair | threshold | EA chip FNMR @1e-3 | @1e-4 | at threshold |"
        " EA photo at threshold | Western chip at threshold |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        mark = " (shipped)" if (row["id_scales"], row["live_scales"]) == shipped_key else ""
        lines.append(
            f"| {'/'.join(f'{s:g}' for s in row['id_scales'])}{mark} | {'/'.join(f'{s:g}' for s in row['live_scales'])}"
            f" | {row['runs_per_pair']} | {row['threshold']:.4f} | {row['east_asian_chip_fnmr_1e-3']} % |"
            f" {row['east_asian_chip_fnmr_1e-4']} % | {row['east_asian_chip_fnmr_at_threshold']} % |"
            f" {row['east_asian_photo_fnmr_at_threshold']} % | {row['western_chip_fnmr_at_threshold']} % |"
        )
    write_results("face_scales", rows, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
