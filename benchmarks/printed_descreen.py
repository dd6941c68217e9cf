"""How much to smooth a photo-kind reference before it is aligned: printed portraits (simulated card fronts) and
ordinary photos, against live photos, for several smoothing variants.

A photo-kind reference is smoothed before it is aligned, by σ = a σ per shrink × the alignment's shrink, then warped to
112×112 (``OnnxFaceModels.aligned_face``, ``antialias_sigma_per_shrink``: ``PRINTED_ANTIALIAS_SIGMA_PER_SHRINK`` for a
printed portrait, ``ANTIALIAS_SIGMA_PER_SHRINK`` for an ordinary photo). A variant is a σ per shrink, optionally with an extra Gaussian of σ = the reference's longer side / N before it. For each image of a set the
card front is simulated as benchmarks/card_front.py does (same seed per image), the portrait located by the product's
reader, then the portrait and the photo itself (as an ordinary photo-kind reference) are detected and landmarked
once, as ``OnnxFaceEngine`` does for an ID photo, and embedded (sface, the engine's networks for the kind — a printed
portrait by the printed student when one is pinned — live scales, mirrors) once per
variant; the shipped variant is checked against ``engine.analyse_id_photo`` on the first images of each shard. Live
side: ``engine.analyse`` of another photo of the person; impostors are same-source pairs.

Sets: ``calib`` (development: faces_east_asian_calib, both folds, the ``bbasian`` source — every identity there has
≥ 3 images; starface has one image per person) and ``faces_east_asian`` (evaluation).

    .venv/bin/python benchmarks/printed_descreen.py --sets calib --shard I/2      # I = 0, 1 (in parallel)
    .venv/bin/python benchmarks/printed_descreen.py --sets calib --shard 0/2 --report    # merge the shards, report
    .venv/bin/python benchmarks/printed_descreen.py --sets faces_east_asian --shard 0/2 --report --variants 0.5,0.9

Writes var/bench-cache/printed_descreen-SET-I-N.npz per shard and benchmarks/results/printed_descreen-SET.{json,md}.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import realname.adapters.vision.onnx_models as onnx_models_module
from card_front import card_rng, largest_face_box, printed_portrait_of
from face_accuracy import fmr_at, fnmr_at, threshold_at, upper_bound_fmr
from face_data import (
    MAX_PIXELS,
    REPO_ROOT,
    FaceSet,
    add_data_arguments,
    load_calib_set,
    load_sets,
    sface_engine,
    shared_data_missing,
    write_results,
)
from realname.adapters.vision.images import PillowImageDecoder
from realname.adapters.vision.onnx_engine import ID_PHOTO_MIN_HEIGHT_PX, MIN_DETECTION_CONFIDENCE, OnnxFaceEngine
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.adapters.vision.printed_portrait import OnnxPrintedPortraitReader
from realname.adapters.vision.quality import (
    PRINTED_DETECTION_SMOOTHING_PER_SIDE,
    main_face_index,
    pad_for_detection,
    print_suppressed,
    upscale_small,
)
from realname.app.matching import DecodedImage
from realname.domain.face import ImageRejected, ReferenceKind

FMR_POINTS = (1e-3, 1e-4)
DEFAULT_VARIANTS = "0.5,0.7,0.9,1.1,1.3,0.5+240"
REFERENCES = ("printed", "photo")
BOOTSTRAP_SEED = 20261207
BOOTSTRAP_DRAWS = 1000


@dataclass(frozen=True, slots=True)
class Variant:
    """``sigma_per_shrink``: the antialiasing constant; ``extra_per_side``: N of an extra Gaussian σ = longer side
    / N before it (0: none)."""

    sigma_per_shrink: float
    extra_per_side: float = 0.0

    @property
    def name(self) -> str:
        extra = f"+side/{self.extra_per_side:g}" if self.extra_per_side else ""
        return f"aa{self.sigma_per_shrink:g}{extra}"


def parse_variants(text: str) -> list[Variant]:
    variants = []
    for item in text.split(","):
        sigma, _, extra = item.partition("+")
        variants.append(Variant(float(sigma), float(extra) if extra else 0.0))
    return variants


def reference_embeddings(
    image: DecodedImage, engine: OnnxFaceEngine, models: OnnxFaceModels, variants: list[Variant]
) -> list[np.ndarray] | None:
    """One embedding per variant of a photo-kind reference (None: no face), detected and landmarked as
    ``OnnxFaceEngine._detect_and_align`` does for an ID photo, aligned and embedded per variant."""
    rgb = pad_for_detection(upscale_small(image.rgb, ID_PHOTO_MIN_HEIGHT_PX))
    seen = print_suppressed(rgb, max(image.rgb.shape[:2]) / PRINTED_DETECTION_SMOOTHING_PER_SIDE)
    boxes = models.detect(seen, min_confidence=MIN_DETECTION_CONFIDENCE)
    if not boxes:
        return None
    main = boxes[main_face_index([(b.x0, b.y0, b.x1, b.y1) for b in boxes], rgb.shape[1], rgb.shape[0])]
    landmarks = models.landmarks(rgb, main)
    # The networks the engine embeds this kind with (a printed portrait: the printed student's, when one is pinned).
    embedders = engine.embedders.printed if image.reference_kind is ReferenceKind.PRINTED else (engine.embedders.live,)
    side = max(upscale_small(image.rgb, ID_PHOTO_MIN_HEIGHT_PX).shape[:2])
    out = []
    for variant in variants:
        source = rgb
        if variant.extra_per_side:
            sigma = side / variant.extra_per_side
            source = np.asarray(cv2.GaussianBlur(rgb, (0, 0), sigma), dtype=np.uint8)
        crops = []
        for scale in engine.live_scales:
            aligned = models.aligned_face(source, landmarks, scale, antialias_sigma_per_shrink=variant.sigma_per_shrink)
            crops += [aligned, np.ascontiguousarray(aligned[:, ::-1])]
        # As the engine: each network's mean over the crops, normalised, then their normalised sum.
        fused = np.zeros(0, dtype=np.float64)
        for embedder in embedders:
            total = np.sum([embedder.embed_aligned(crop).astype(np.float64) for crop in crops], axis=0)
            mean = total / np.linalg.norm(total)
            fused = mean if fused.size == 0 else fused + mean
        out.append((fused / np.linalg.norm(fused)).astype(np.float32))
    return out


def face_set_for(name: str, shared: Path) -> FaceSet:
    if name == "calib":
        calib = load_calib_set(shared, fold=None)
        return FaceSet("faces_east_asian_calib_bbasian", tuple(i for i in calib.images if i.source == "bbasian"))
    return next(s for s in load_sets(shared) if s.name == name)


def shard_path(cache_dir: Path, set_name: str, shard: tuple[int, int]) -> Path:
    return cache_dir / f"printed_descreen-{set_name}-{shard[0]}-{shard[1]}.npz"


def measure_shard(
    face_set: FaceSet,
    engine: OnnxFaceEngine,
    models: OnnxFaceModels,
    variants: list[Variant],
    shard: tuple[int, int],
    out: Path,
) -> None:
    """Live, printed-portrait and ordinary-photo-reference embeddings of the shard's images (NaN rows: none)."""
    decoder = PillowImageDecoder()
    reader = OnnxPrintedPortraitReader(models, 0.0)
    n = len(face_set.images)
    dims = 128
    live = np.full((n, dims), np.nan, dtype=np.float32)
    refs = {kind: np.full((len(variants), n, dims), np.nan, dtype=np.float32) for kind in REFERENCES}
    located = np.zeros(n, dtype=bool)
    # Per kind of reference, the variant that is the engine's own path (printed portraits and ordinary photos are
    # smoothed differently), checked against the engine itself on the first references.
    shipped = {
        kind: next(
            (
                v
                for v, variant in enumerate(variants)
                if not variant.extra_per_side and variant.sigma_per_shrink == per_shrink
            ),
            None,
        )
        for kind, per_shrink in (
            ("printed", onnx_models_module.PRINTED_ANTIALIAS_SIGMA_PER_SHRINK),
            ("photo", onnx_models_module.ANTIALIAS_SIGMA_PER_SHRINK),
        )
    }
    checked = 0
    for index in range(shard[0], n, shard[1]):
        image = face_set.images[index]
        try:
            decoded = decoder.decode(image.path.read_bytes(), max_pixels=MAX_PIXELS)
        except ImageRejected:
            continue
        analysis = engine.analyse(decoded)
        if analysis.embedding is not None:
            live[index] = analysis.embedding
        references: dict[str, DecodedImage | None] = {"photo": None, "printed": None}
        if decoded.reference_kind is ReferenceKind.PHOTO:
            references["photo"] = decoded
        box = largest_face_box(models, decoded.rgb)
        if box is not None:
            references["printed"] = printed_portrait_of(decoded.rgb, box, card_rng(image.path), reader, decoder)
            located[index] = references["printed"] is not None
        for kind, reference in references.items():
            if reference is None or reference.reference_kind is ReferenceKind.CHIP:
                continue
            embeddings = reference_embeddings(reference, engine, models, variants)
            if embeddings is None:
                continue
            for v, embedding in enumerate(embeddings):
                refs[kind][v, index] = embedding
            engine_variant = shipped[kind]
            if checked < 3 and engine_variant is not None:
                product = engine.analyse_id_photo(reference).embedding
                agreement = float(np.dot(product, embeddings[engine_variant])) if product is not None else float("nan")
                if not agreement > 0.9999:
                    raise RuntimeError(f"the replicated reference path disagrees with the engine: {agreement}")
                checked += 1
        if index % 50 == shard[0]:
            print(f"  {face_set.name}: image {index}/{n}", file=sys.stderr, flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        live=live,
        located=located,
        variants=np.array([v.name for v in variants]),
        printed=refs["printed"],
        photo=refs["photo"],
    )


def merged(face_set: FaceSet, cache_dir: Path, shards: int) -> dict[str, Any]:
    parts = [np.load(shard_path(cache_dir, face_set.name, (i, shards))) for i in range(shards)]
    data: dict[str, Any] = {"variants": [str(v) for v in parts[0]["variants"]]}
    n = len(face_set.images)
    for i, part in enumerate(parts):
        if [str(v) for v in part["variants"]] != data["variants"]:
            raise SystemExit("shards measured different variants")
        rows = np.arange(i, n, shards)
        for key in ("live", "located", *REFERENCES):
            if key not in data:
                data[key] = part[key].copy()
            elif key in REFERENCES:
                data[key][:, rows] = part[key][:, rows]
            else:
                data[key][rows] = part[key][rows]
    return data


def pairs(face_set: FaceSet) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Ordered (reference, live) pairs: genuine (same identity, other image) and same-source impostors."""
    images = face_set.images
    genuine, impostor = [], []
    for i, j in itertools.combinations(range(len(images)), 2):
        if images[i].identity == images[j].identity:
            genuine += [(i, j), (j, i)]
        elif images[i].source == images[j].source:
            impostor += [(i, j), (j, i)]
    return genuine, impostor


def report(face_set: FaceSet, data: dict[str, Any], photo_threshold: float) -> dict[str, Any]:
    genuine_pairs, impostor_pairs = pairs(face_set)
    images = face_set.images
    live = data["live"]
    have_live = ~np.isnan(live).any(axis=1)
    # A pair whose live photo has no face is not the reference's failure: left out. A reference without a face
    # stays in (NaN: refused, never a false match).
    genuine = np.array([p for p in genuine_pairs if have_live[p[1]]])
    impostor = np.array([p for p in impostor_pairs if have_live[p[1]]])
    result: dict[str, Any] = {
        "set": face_set.name,
        "images": len(face_set.images),
        "portraits_located": int(data["located"].sum()),
        "photo_threshold": photo_threshold,
        "references": {},
    }
    for kind in REFERENCES:
        emb = data[kind]
        usable = ~np.isnan(emb[0]).all(axis=1)
        kind_genuine = genuine[usable[genuine[:, 0]] | (kind == "printed")]
        kind_impostor = impostor[usable[impostor[:, 0]] | (kind == "printed")]
        rows: dict[str, Any] = {}
        if len(kind_genuine) == 0 or len(kind_impostor) == 0:
            result["references"][kind] = rows
            continue
        owners = np.array([images[i].identity for i in kind_genuine[:, 0]])
        people = sorted(set(owners))
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        draws = [rng.choice(len(people), len(people)) for _ in range(BOOTSTRAP_DRAWS)]
        members = [np.flatnonzero(owners == person) for person in people]
        first_refused: dict[float, np.ndarray] = {}
        for v, name in enumerate(data["variants"]):
            g = np.sum(emb[v][kind_genuine[:, 0]] * live[kind_genuine[:, 1]], axis=1)
            i = np.sum(emb[v][kind_impostor[:, 0]] * live[kind_impostor[:, 1]], axis=1)
            row: dict[str, Any] = {"genuine_pairs": len(g), "impostor_pairs": len(i)}
            for point in FMR_POINTS:
                threshold = threshold_at(i, point)
                row[f"threshold_at_{point:g}"] = round(threshold, 4)
                row[f"fnmr_at_{point:g}"] = round(fnmr_at(g, threshold), 4)
                # The change against the first variant, each at its own threshold, with an identity-bootstrap
                # 95 % interval (thresholds held; genuine pairs resampled by the reference's identity).
                refused = ~(g >= threshold)
                first_refused.setdefault(point, refused)
                diffs = []
                for draw in draws:
                    picked = np.concatenate([members[k] for k in draw])
                    diffs.append(refused[picked].mean() - first_refused[point][picked].mean())
                low, high = np.percentile(diffs, [2.5, 97.5])
                row[f"change_vs_first_at_{point:g}"] = [
                    round(float(refused.mean() - first_refused[point].mean()), 4),
                    round(float(low), 4),
                    round(float(high), 4),
                ]
            _rate, hits, total = fmr_at(i, photo_threshold)
            row["fnmr_at_photo_threshold"] = round(fnmr_at(g, photo_threshold), 4)
            row["impostors_accepted_at_photo_threshold"] = hits
            row["fmr_upper_95_at_photo_threshold"] = upper_bound_fmr(hits, total)
            row["genuine_median"] = round(float(np.nanmedian(g)), 4)
            row["impostor_max"] = round(float(np.nanmax(i)), 4)
            rows[name] = row
        result["references"][kind] = rows
    return result


def _change(values: list[float]) -> str:
    return f"{100 * values[0]:+.2f} ({100 * values[1]:+.2f} … {100 * values[2]:+.2f})"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Photo-kind reference smoothing: {result['set']}",
        "",
        f"{result['images']} images, portraits located on {result['portraits_located']}; photo threshold "
        f"{result['photo_threshold']}.",
    ]
    for kind, rows in result["references"].items():
        if not rows:
            continue
        first = next(iter(rows.values()))
        lines += [
            "",
            f"## {kind} reference vs live ({first['genuine_pairs']} genuine, {first['impostor_pairs']} impostor pairs)",
            "",
            "| variant | FNMR @1e-3 | change (95 % CI) | FNMR @1e-4 | change (95 % CI) | FNMR at photo threshold "
            "| impostors accepted there | genuine median |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, row in rows.items():
            lines.append(
                f"| {name} | {100 * row['fnmr_at_0.001']:.2f} % | {_change(row['change_vs_first_at_0.001'])} | "
                f"{100 * row['fnmr_at_0.0001']:.2f} % | {_change(row['change_vs_first_at_0.0001'])} | "
                f"{100 * row['fnmr_at_photo_threshold']:.2f} % | {row['impostors_accepted_at_photo_threshold']} | "
                f"{row['genuine_median']} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--sets", default="calib", help="calib or faces_east_asian")
    parser.add_argument(
        "--variants",
        default=DEFAULT_VARIANTS,
        help="comma-separated SIGMA_PER_SHRINK[+N]; with --report, the measured variants to report (first: baseline)",
    )
    parser.add_argument("--shard", default="0/1", help="I/N: measure the images whose index is I modulo N")
    parser.add_argument("--report", action="store_true", help="merge the N shards of --shard and report")
    args = parser.parse_args()
    if shared_data_missing(args.shared):
        return 2
    shard_index, shard_count = (int(x) for x in args.shard.split("/"))
    cache_dir: Path = args.cache_dir if args.cache_dir is not None else REPO_ROOT / "var" / "bench-cache"
    engine, models = sface_engine(args.models_dir, 1)
    if not isinstance(engine, OnnxFaceEngine):
        raise SystemExit("needs the sface engine")
    face_set = face_set_for(args.sets, args.shared)
    if args.report:
        data = merged(face_set, cache_dir, shard_count)
        wanted = [v.name for v in parse_variants(args.variants)]
        if missing := [name for name in wanted if name not in data["variants"]]:
            raise SystemExit(f"not measured: {missing}")
        keep = [data["variants"].index(name) for name in wanted]
        data.update({kind: data[kind][keep] for kind in REFERENCES}, variants=wanted)
        result = report(face_set, data, engine.threshold_for(ReferenceKind.PHOTO))
        text = markdown(result)
        write_results(f"printed_descreen-{args.sets}", result, text)
        print(text)
        return 0
    measure_shard(
        face_set,
        engine,
        models,
        parse_variants(args.variants),
        (shard_index, shard_count),
        shard_path(cache_dir, face_set.name, (shard_index, shard_count)),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
