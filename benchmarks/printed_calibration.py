"""The printed-portrait threshold: live faces against the card front's printed portrait, on every East Asian set.

A printed portrait (``ReferenceKind.PRINTED``: cut by the card-front reader from a document-camera image) is softer
than an ordinary photo — halftone, ink blur, security print, glare, and the engine's smoothing against them — so
its impostor scores sit lower than photo-vs-photo ones, and the photo threshold, calibrated on photo pairs, refuses
more genuine customers than the target false-match rate needs. This measures the printed portrait as the product
embeds it and calibrates its own threshold by the rule the chip and photo thresholds follow
(``benchmarks/face_accuracy.py``): for each East Asian group of faces_east_asian and of the calibrate fold of
faces_east_asian_calib, the threshold for FMR 1e-4 on its same-source impostor pairs (empirical quantile with at
least 10 impostors above it, else an exponential fit to the group's 25 highest: ``face_metrics.threshold_for_fmr``,
never the single highest impostor), and the highest of them.

Per image: the card front simulated as ``benchmarks/card_front.py`` draws it (``card_rng``), the portrait located
by the product's reader and embedded by ``engine.analyse_id_photo``; the live side is ``engine.analyse`` of the
other photos of the person (``face_data.embed_photos``). Pairs: printed portrait of image a against image b (same
person, a ≠ b, both orders), impostors of the same source; a portrait not found is a refused genuine pair.

    .venv/bin/python benchmarks/printed_calibration.py              # report (≈ 15 min cold on 2 cores)
    .venv/bin/python benchmarks/printed_calibration.py --calibrate  # also pin thresholds.sface.printed

Writes benchmarks/results/printed_calibration.{json,md}; embeddings cached in var/bench-cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from card_front import card_rng, largest_face_box, printed_portrait_of
from face_accuracy import (
    EAST_ASIAN_SETS,
    FMR_POINTS,
    calibrate_groups,
    fnmr_at,
    git_commit,
    group_fmr_rows,
    group_fnmr_rows,
    pair_scores,
    threshold_at,
)
from face_data import (
    MAX_PIXELS,
    REPO_ROOT,
    Embeddings,
    FaceSet,
    add_data_arguments,
    embed_photos,
    load_calib_set,
    load_sets,
    sface_engine,
    shared_data_missing,
    write_results,
)
from realname.adapters.vision.images import PillowImageDecoder
from realname.adapters.vision.models import LOCK_FILE_NAME, read_lock, read_lock_document
from realname.adapters.vision.onnx_models import PRINTED_ANTIALIAS_SIGMA_PER_SHRINK, OnnxFaceModels
from realname.app.card_front import PrintedPortraitReader
from realname.app.matching import FaceEngine
from realname.bootstrap.vision import build_printed_portrait_reader
from realname.domain.face import ImageRejected, ReferenceKind

TARGET_FMR = 1e-4
CONDITION = ReferenceKind.PRINTED.value
# Bump when the card simulation or the reader changes.
RESULT_VERSION = "v1"

_worker: tuple[FaceEngine, OnnxFaceModels, PrintedPortraitReader] | None = None


def _init(models_dir: str) -> None:
    global _worker
    engine, models = sface_engine(Path(models_dir), 1)
    _worker = (engine, models, build_printed_portrait_reader(models))


def printed_embedding(path: str) -> np.ndarray | None:
    """The printed portrait's embedding on the image's simulated card front (None: no face or no portrait)."""
    assert _worker is not None
    engine, models, reader = _worker
    decoder = PillowImageDecoder()
    try:
        photo = decoder.decode(Path(path).read_bytes(), max_pixels=MAX_PIXELS)
    except ImageRejected:
        return None
    box = largest_face_box(models, photo.rgb)
    portrait = None if box is None else printed_portrait_of(photo.rgb, box, card_rng(Path(path)), reader, decoder)
    if portrait is None:
        return None
    embedding: np.ndarray | None = engine.analyse_id_photo(portrait).embedding
    return embedding


def printed_fingerprint() -> str:
    """What the printed embeddings depend on besides the images: the networks that embed them and the smoothing."""
    sface = read_lock().sface
    parts = [f.installed_sha256 for f in sface.files]
    if sface.printed_student is not None:
        parts += [sface.printed_student.installed_sha256, str(sface.fuse_printed_with_base)]
    parts.append(str(PRINTED_ANTIALIAS_SIGMA_PER_SHRINK))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def embed_printed(face_set: FaceSet, models_dir: Path, cache_dir: Path, workers: int) -> np.ndarray:
    paths = [str(image.path) for image in face_set.images]
    key = hashlib.sha256(("|".join(paths) + RESULT_VERSION + printed_fingerprint()).encode()).hexdigest()[:16]
    cache = cache_dir / f"printed-{face_set.name}-{key}.npz"
    if cache.is_file():
        stored: np.ndarray = np.load(cache)["printed"]
        return stored
    with Pool(workers, initializer=_init, initargs=(str(models_dir),)) as pool:
        rows = pool.map(printed_embedding, paths, chunksize=8)
    dims = next(len(row) for row in rows if row is not None)
    printed = np.array([row if row is not None else np.full(dims, np.nan) for row in rows], dtype=np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, printed=printed)
    return printed


def write_lock_threshold(threshold: float, worst: dict[str, Any], sets: list[str]) -> Path:
    """Pin ``thresholds.sface.printed`` (the package-data file; the repository root links to it)."""
    path = REPO_ROOT / "src" / "realname" / LOCK_FILE_NAME
    document = read_lock_document(path)
    document["thresholds"]["sface"][CONDITION] = {
        "threshold": round(threshold, 4),
        "target_fmr": TARGET_FMR,
        "calibration": (
            f"benchmarks/printed_calibration.py --calibrate on {time.strftime('%Y-%m-%d')} (commit {git_commit()}): "
            f"highest per-group threshold for FMR <= {TARGET_FMR:g} over same-source printed-portrait-vs-photo "
            f"impostor pairs (simulated card fronts, the portrait located and embedded by the product) of every group "
            f"of {' and '.join(sets)} (quantile with >= 10 impostors above, else an exponential fit to the group's 25 "
            f"highest impostors); worst group: {worst['set']}/{worst['group']} ({worst['impostor_pairs']} impostor "
            f"pairs, {worst['method']})"
        ),
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Printed-portrait threshold (live vs the card front's printed portrait)",
        "",
        f"Shipped printed threshold {report['shipped']}; calibrated {report['calibrated']} (worst group "
        f"{report['worst']['set']}/{report['worst']['group']}, {report['worst']['method']}); photo threshold "
        f"{report['photo_threshold']}.",
        "",
        "| set | genuine | impostors | FNMR @1e-3 | FNMR @1e-4 | at the photo threshold | at the calibrated "
        "| at the shipped |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["results"]:
        lines.append(
            f"| {row['set']} | {row['genuine_pairs']} | {row['impostor_pairs']} | "
            f"{100 * row['fnmr_at_fmr_0.001']:.1f} % | {100 * row['fnmr_at_fmr_0.0001']:.1f} % | "
            f"{100 * row['fnmr_at_photo_threshold']:.1f} % | {100 * row['fnmr_at_calibrated']:.1f} % | "
            f"{100 * row['fnmr_at_shipped']:.1f} % |"
        )
    lines += [
        "",
        "FMR per group at the shipped threshold (identity-bootstrap 95 % interval; Clopper–Pearson upper bound):",
        "",
        "| set | group | impostor pairs | false matches | FMR | 95 % CI | upper 95 % |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["group_fmr_at_shipped"]:
        low, high = row["fmr_ci95"]
        lines.append(
            f"| {row['set']} | {row['group']} | {row['impostor_pairs']} | {row['false_matches']} | {row['fmr']:.2g} "
            f"| {low:.2g}–{high:.2g} | {row['fmr_upper_95']:.2g} |"
        )
    lines += ["", "FNMR per group at the shipped threshold:", "", "| set | group | genuine | FNMR | 95 % CI |"]
    lines.append("| --- | --- | --- | --- | --- |")
    for row in report["group_fnmr_at_shipped"]:
        low, high = row["fnmr_ci95"]
        lines.append(
            f"| {row['set']} | {row['group']} | {row['genuine_pairs']} | {100 * row['fnmr']:.1f} % "
            f"| {100 * low:.1f}–{100 * high:.1f} % |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--calibrate", action="store_true", help=f"pin thresholds.sface.printed in {LOCK_FILE_NAME}")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shared_data_missing(args.shared):
        return 2
    cache_dir: Path = args.cache_dir if args.cache_dir is not None else REPO_ROOT / "var" / "bench-cache"
    engine, _models = sface_engine(args.models_dir, 2)
    sets = [s for s in load_sets(args.shared) if s.name == "faces_east_asian"] + [load_calib_set(args.shared)]
    scores = {}
    for face_set in sets:
        started = time.perf_counter()
        live, _quality = embed_photos(face_set, engine, cache_dir)
        printed = embed_printed(face_set, args.models_dir, cache_dir, args.workers)
        print(
            f"{face_set.name}: {len(face_set.images)} images in {time.perf_counter() - started:.0f} s", file=sys.stderr
        )
        scores[(face_set.name, CONDITION)] = pair_scores(face_set, Embeddings(live, printed), CONDITION)
    calibrated, groups = calibrate_groups(scores, TARGET_FMR)
    worst = max(groups, key=lambda r: r["threshold"])
    shipped = calibrated if args.calibrate else engine.threshold_for(ReferenceKind.PRINTED)
    photo_threshold = engine.threshold_for(ReferenceKind.PHOTO)
    report: dict[str, Any] = {
        "engine": engine.name,
        "sets": [s.name for s in sets if s.name in EAST_ASIAN_SETS],
        "photo_threshold": photo_threshold,
        "calibrated": round(calibrated, 4),
        "worst": worst,
        "shipped": round(shipped, 4),
        "groups": groups,
        "results": [],
        "group_fmr_at_shipped": [],
        "group_fnmr_at_shipped": [],
    }
    for (set_name, condition), pair in scores.items():
        row: dict[str, Any] = {
            "set": set_name,
            "genuine_pairs": len(pair.genuine),
            "impostor_pairs": len(pair.impostor),
            "fnmr_at_photo_threshold": round(fnmr_at(pair.genuine, photo_threshold), 4),
            "fnmr_at_calibrated": round(fnmr_at(pair.genuine, calibrated), 4),
            "fnmr_at_shipped": round(fnmr_at(pair.genuine, shipped), 4),
        }
        for target in FMR_POINTS:
            row[f"fnmr_at_fmr_{target:g}"] = round(fnmr_at(pair.genuine, threshold_at(pair.impostor, target)), 4)
        report["results"].append(row)
        report["group_fmr_at_shipped"] += group_fmr_rows(set_name, condition, pair, shipped)
        report["group_fnmr_at_shipped"] += group_fnmr_rows(set_name, condition, pair, shipped)
    text = markdown(report)
    write_results("printed_calibration", report, text)
    if args.calibrate:
        print(f"threshold written to {write_lock_threshold(calibrated, worst, report['sets'])}", file=sys.stderr)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
