"""Would a glare gate on the card front pay for itself? Glare over the printed face against printed-portrait FNMR.

A document camera's lamp reflects off the card's laminate; the simulated card fronts carry such a highlight on
every portrait (``card_front_photo``: strength 0.3–0.85 toward white, σ 12–30 % of the portrait's width). A gate
would refuse a card front whose printed face is washed out ("tilt the card and capture again") before matching.
This measures whether one earns its place, on the product's own path: each image's card front drawn as every
card-front benchmark draws it (``card_front.card_rng``) and a second, independent draw (the retake), the portrait
located by the product's reader, its face found by the reader (``face``, print-suppressed), and the portrait
embedded by ``engine.analyse_id_photo``; the live side is ``engine.analyse`` of the person's other photos.

Glare share: the fraction of the printed face box's pixels whose darkest channel is ≥ ``--level`` (a highlight
pushes every channel toward white; skin, hair and shadow keep one channel lower). For cuts at the 80th, 90th and 95th
percentile of the share: the cards refused, the FNMR of the cards kept against that of the cards refused, and the
FNMR when every refused card is captured once more (the retake's draw, whatever its glare). FNMR at the shipped
printed threshold and at the set's own FMR-1e-3 threshold (same-source impostors); per source as well, since the
sources differ in how their photographs survive printing.

    .venv/bin/python benchmarks/printed_glare.py [--sets faces_east_asian,calib]   # ≈ 5 min per set on 2 cores

Writes benchmarks/results/printed_glare.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from card_front import card_seed, largest_face_box, printed_portrait_of
from face_accuracy import fnmr_at, pair_scores, threshold_at
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
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.adapters.vision.printed_portrait import OnnxPrintedPortraitReader
from realname.app.matching import FaceEngine
from realname.domain.face import ImageRejected, ReferenceKind

DRAWS = 2  # the card front every benchmark draws, and one retake
CUT_QUANTILES = (0.8, 0.9, 0.95)
CONDITION = ReferenceKind.PRINTED.value

_worker: tuple[FaceEngine, OnnxFaceModels, OnnxPrintedPortraitReader, int] | None = None


def _init(models_dir: str, level: int) -> None:
    global _worker
    engine, models = sface_engine(Path(models_dir), 1)
    _worker = (engine, models, OnnxPrintedPortraitReader(models, 0.0), level)  # the threshold is not used here


def glare_share(rgb: np.ndarray, box: tuple[float, float, float, float], level: int) -> float:
    """The fraction of the box's pixels whose darkest channel is at least ``level``."""
    height, width = rgb.shape[:2]
    x0, y0 = max(round(box[0]), 0), max(round(box[1]), 0)
    x1, y1 = min(round(box[2]), width), min(round(box[3]), height)
    if x1 <= x0 or y1 <= y0:
        return float("nan")
    return float((rgb[y0:y1, x0:x1].min(axis=2) >= level).mean())


def measure(job: tuple[str, int]) -> tuple[np.ndarray | None, float]:
    """(the printed portrait's embedding or None, its face's glare share or NaN) for one draw of one image."""
    assert _worker is not None
    engine, models, reader, level = _worker
    path, draw = job
    decoder = PillowImageDecoder()
    try:
        photo = decoder.decode(Path(path).read_bytes(), max_pixels=MAX_PIXELS)
    except ImageRejected:
        return None, float("nan")
    box = largest_face_box(models, photo.rgb)
    if box is None:
        return None, float("nan")
    rng = np.random.default_rng(card_seed(Path(path)) + draw)
    portrait = printed_portrait_of(photo.rgb, box, rng, reader, decoder)
    if portrait is None:
        return None, float("nan")
    face = reader.face(portrait.rgb, portrait.rgb.shape[0], printed=True)
    share = glare_share(portrait.rgb, face.box, level) if face is not None else float("nan")
    return engine.analyse_id_photo(portrait).embedding, share


def analyse_set(
    face_set: FaceSet, live: np.ndarray, printed: np.ndarray, share: np.ndarray, threshold: float
) -> dict[str, Any]:
    """``printed`` [draws, n, d] and ``share`` [draws, n]: the gate's cuts with and without one retake. Pairs, the
    FMR-1e-3 threshold and FNMR as ``face_accuracy.py`` scores a chip condition."""
    draws = [pair_scores(face_set, Embeddings(live, printed[d]), CONDITION) for d in range(DRAWS)]
    identity = np.array([image.identity for image in face_set.images])
    source = np.array([image.source for image in face_set.images])
    # The card (printed portrait) of each genuine pair, in pair_scores' order (row-major over printed × live).
    cards = np.nonzero((identity[:, None] == identity[None, :]) & ~np.eye(len(identity), dtype=bool))[0]
    at_1e3 = threshold_at(draws[0].impostor, 1e-3)
    first, retake = draws[0].genuine, draws[1].genuine
    report: dict[str, Any] = {
        "set": face_set.name,
        "genuine_pairs": len(first),
        "impostor_pairs": len(draws[0].impostor),
        "threshold_fmr_1e-3": round(at_1e3, 4),
        "threshold_shipped": threshold,
        "fnmr_at_1e-3": round(fnmr_at(first, at_1e3), 4),
        "fnmr_at_shipped": round(fnmr_at(first, threshold), 4),
        "retake_draw_fnmr_at_1e-3": round(fnmr_at(retake, at_1e3), 4),
        "glare_share_quantiles": {
            str(q): round(float(np.nanquantile(share[0], q)), 4) for q in (0.5, 0.8, 0.9, 0.95, 0.99)
        },
        "by_source": [
            {
                "source": str(name),
                "genuine_pairs": int(np.sum(source[cards] == name)),
                "fnmr_at_1e-3": round(fnmr_at(first[source[cards] == name], at_1e3), 4),
                "fnmr_at_shipped": round(fnmr_at(first[source[cards] == name], threshold), 4),
            }
            for name in np.unique(source)
        ],
        "cuts": [],
    }
    for quantile in CUT_QUANTILES:
        cut = float(np.nanquantile(share[0], quantile))
        refused = share[0] > cut
        kept_pairs = ~refused[cards]
        retaken = np.where(refused[cards], retake, first)
        report["cuts"].append(
            {
                "quantile": quantile,
                "glare_share_above": round(cut, 4),
                "cards_refused": round(float(np.mean(refused)), 4),
                "fnmr_kept_at_1e-3": round(fnmr_at(first[kept_pairs], at_1e3), 4),
                "fnmr_refused_at_1e-3": round(fnmr_at(first[~kept_pairs], at_1e3), 4),
                "fnmr_with_retake_at_1e-3": round(fnmr_at(retaken, at_1e3), 4),
                "fnmr_with_retake_at_shipped": round(fnmr_at(retaken, threshold), 4),
            }
        )
    return report


def markdown(reports: list[dict[str, Any]], level: int) -> str:
    lines = [f"Glare share = fraction of the printed face's pixels whose darkest channel is ≥ {level}.", ""]
    for report in reports:
        lines += [
            f"**{report['set']}** ({report['genuine_pairs']} genuine / {report['impostor_pairs']} impostor pairs): "
            f"FNMR @1e-3 {report['fnmr_at_1e-3']:.2%} (the retake's draw alone {report['retake_draw_fnmr_at_1e-3']:.2%}), "
            f"at the shipped {report['threshold_shipped']} {report['fnmr_at_shipped']:.2%}; by source: "
            + ", ".join(
                f"{row['source']} {row['fnmr_at_1e-3']:.2%} @1e-3 ({row['genuine_pairs']} pairs)"
                for row in report["by_source"]
            ),
            "",
            "| cut (share above) | cards refused | FNMR @1e-3 kept / refused | with one retake @1e-3 | at the shipped threshold |",
            "| --- | --- | --- | --- | --- |",
        ]
        for cut in report["cuts"]:
            lines.append(
                f"| q{cut['quantile']:g} ({cut['glare_share_above']:.3f}) | {cut['cards_refused']:.1%} | "
                f"{cut['fnmr_kept_at_1e-3']:.2%} / {cut['fnmr_refused_at_1e-3']:.2%} | "
                f"{cut['fnmr_with_retake_at_1e-3']:.2%} | {cut['fnmr_with_retake_at_shipped']:.2%} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--sets", default="faces_east_asian", help="faces_east_asian and/or calib (the calibrate fold)")
    parser.add_argument("--level", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shared_data_missing(args.shared):
        return 2
    cache_dir: Path = args.cache_dir if args.cache_dir is not None else REPO_ROOT / "var" / "bench-cache"
    engine, _models = sface_engine(args.models_dir, 2)
    threshold = round(engine.threshold_for(ReferenceKind.PRINTED), 4)
    by_name = {s.name: s for s in load_sets(args.shared)}
    reports = []
    for name in args.sets.split(","):
        face_set = load_calib_set(args.shared) if name == "calib" else by_name[name]
        live, _quality = embed_photos(face_set, engine, cache_dir)
        paths = [str(image.path) for image in face_set.images]
        with Pool(args.workers, initializer=_init, initargs=(str(args.models_dir), args.level)) as pool:
            rows = pool.map(measure, [(path, draw) for draw in range(DRAWS) for path in paths], chunksize=8)
        dims = live.shape[1]
        printed = np.array(
            [row[0] if row[0] is not None else np.full(dims, np.nan) for row in rows], dtype=np.float32
        ).reshape(DRAWS, len(paths), dims)
        share = np.array([row[1] for row in rows], dtype=np.float64).reshape(DRAWS, len(paths))
        reports.append(analyse_set(face_set, live, printed, share, threshold))
        print(f"{name}: done", file=sys.stderr)
    text = markdown(reports, args.level)
    write_results("printed_glare", {"level": args.level, "draws": DRAWS, "sets": reports}, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
