"""The card front as a second reference: the same-photograph check and live-vs-printed-portrait matching, on
simulated card fronts (``realname.adapters.vision.card_front_photo``) of ../shared/data faces.

Per image: a chip portrait (JPEG 2000 at 1,024 and at 1,536 bytes, the realistic range) and a document-camera image
of a card front whose printed portrait is the same photograph (358×441, framing jitter, colour cast, halftone, ink
blur, guilloche security print, rotation, camera blur, a glare patch, noise, JPEG; one seeded draw per image). The
product's own code then locates the printed portrait, brings it into the chip's domain, registers it and correlates
(``realname.adapters.vision.printed_portrait``), and the sface engine embeds it as a photo reference.

Measured, per set:

- the check: genuine cards refused (printed portrait made from the chip's photograph); another person's printed
  photo caught (random same-source people, and each card's most similar-looking other person by the engine's
  photo embedding); another photograph of the same person caught;
- matching: live (another photo of the person) vs printed portrait, vs chip, and the fusion rules (mean, max), FNMR
  at FMR 1e-3 / 1e-4 (each rule at its own threshold on its own impostors) and at the shipped printed-portrait
  threshold (the photo threshold where none is pinned).

The check's threshold is calibrated on the calibrate fold of faces_east_asian_calib (never on faces_east_asian, where
it is then measured), by the swaps it must catch: the higher of the 99.9th percentile of random other-person swaps and
the 99th percentile of other photos of the same person (either chip budget) plus 0.05 (``CALIBRATION_RULE``). The
genuine cards' 1st percentile is reported too ("check_at_own_1pct"): on this simulation it lets too many swaps through.

    .venv/bin/python benchmarks/card_front.py               # report (about half an hour cold on 2 cores)
    .venv/bin/python benchmarks/card_front.py --calibrate   # also pin the threshold in models.lock

Writes benchmarks/results/card_front.{json,md}.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_accuracy import fmr_at, fnmr_at, threshold_at, upper_bound_fmr
from face_data import (
    MAX_PIXELS,
    FaceSet,
    add_data_arguments,
    embed_set,
    load_calib_set,
    load_sets,
    sface_engine,
    shared_data_missing,
    write_results,
)
from realname.adapters.vision.card_front_photo import simulate_card_front
from realname.adapters.vision.chip_photo import JPEG2000_1024, JPEG2000_1536, ChipCompression, simulate_chip_photo
from realname.adapters.vision.images import PillowImageDecoder
from realname.adapters.vision.models import LOCK_FILE_NAME, default_lock_path, read_lock_document
from realname.adapters.vision.onnx_models import PRINTED_ANTIALIAS_SIGMA_PER_SHRINK, OnnxFaceModels
from realname.adapters.vision.printed_portrait import FoundFace, OnnxPrintedPortraitReader, scores_by_start
from realname.app.card_front import PrintedPortraitReader
from realname.app.matching import DecodedImage, FaceEngine, ImageDecoder
from realname.bootstrap.vision import build_printed_portrait_reader
from realname.domain.card_front import PortraitNotFound
from realname.domain.face import ImageRejected, ReferenceKind

CHIPS = (JPEG2000_1024, JPEG2000_1536)
PAIR_LIMIT = 3000
LOOKALIKES_PER_CARD = 1
GENUINE_REFUSED = 0.01
FMR_POINTS = (1e-3, 1e-4)
SEED = 20261206
# The check's scores recorded per pair: the shipped one (the best of the registration starts) and the landmark start
# alone (the only start before 2026-12-07), both band-pass correlations.
VARIANTS = ("best_start", "landmarks")
# Bump when the simulation or the check changes, to invalidate cached per-set results.
RESULT_VERSION = "v3"


@dataclass
class CheckPairs:
    """(chip image, card image) index pairs per kind of card."""

    genuine: list[tuple[int, int]]
    same_person: list[tuple[int, int]]
    random_impostor: list[tuple[int, int]]
    lookalike: list[tuple[int, int]]

    def by_card(self) -> dict[int, list[tuple[str, int]]]:
        grouped: dict[int, list[tuple[str, int]]] = {}
        for kind in ("genuine", "same_person", "random_impostor", "lookalike"):
            for chip, card in getattr(self, kind):
                grouped.setdefault(card, []).append((kind, chip))
        return grouped


@dataclass
class SetResult:
    located: np.ndarray  # per image: the card's portrait was found
    printed: np.ndarray  # per image: sface embedding of the printed portrait (NaN rows when not found)
    photo_kind: int = 0  # located portraits large enough to be a photo reference
    # scores[variant][chip condition][kind] -> list of similarities (NaN when unmeasurable)
    scores: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    seconds_per_check: float = 0.0


def check_pairs(face_set: FaceSet, photo: np.ndarray | None, rng: np.random.Generator, limit: int) -> CheckPairs:
    images = face_set.images
    n = len(images)
    genuine = [(i, i) for i in range(n)]
    same = [
        pair
        for i, j in itertools.combinations(range(n), 2)
        if images[i].identity == images[j].identity
        for pair in ((i, j), (j, i))
    ]
    same_limit = limit // 3
    if len(same) > same_limit:
        same = [same[k] for k in sorted(rng.choice(len(same), same_limit, replace=False))]
    candidates = [
        (i, j)
        for i in range(n)
        for j in range(n)
        if images[i].identity != images[j].identity and images[i].source == images[j].source
    ]
    chosen = rng.choice(len(candidates), min(limit, len(candidates)), replace=False)
    random_pairs = [candidates[k] for k in sorted(chosen)]
    if photo is None:
        return CheckPairs(genuine, same, random_pairs, [])
    normed = photo / np.linalg.norm(photo, axis=1, keepdims=True)
    similarity = np.nan_to_num(normed @ normed.T, nan=-2.0)
    lookalikes: list[tuple[int, int]] = []
    for card in range(n):
        others = [
            j
            for j in np.argsort(-similarity[card])
            if images[j].identity != images[card].identity and images[j].source == images[card].source
        ]
        lookalikes += [(chip, card) for chip in others[:LOOKALIKES_PER_CARD]]
    return CheckPairs(genuine, same, random_pairs, lookalikes)


def card_seed(path: Path) -> int:
    return int.from_bytes(hashlib.sha256(f"{SEED}|{path.name}".encode()).digest()[:8], "little")


def card_rng(path: Path) -> np.random.Generator:
    """The draw of the image's own card front: one per image, the same in every benchmark that simulates it."""
    return np.random.default_rng(card_seed(path))


def largest_face_box(models: OnnxFaceModels, rgb: np.ndarray) -> tuple[float, float, float, float] | None:
    """The tallest detected face's box, which a simulated card front's printed photo is framed around (None: no
    face)."""
    found = models.detect(rgb)
    if not found:
        return None
    largest = max(found, key=lambda b: b.height)
    return largest.x0, largest.y0, largest.x1, largest.y1


def printed_portrait_of(
    rgb: np.ndarray,
    box: tuple[float, float, float, float],
    rng: np.random.Generator,
    reader: PrintedPortraitReader,
    decoder: ImageDecoder,
) -> DecodedImage | None:
    """The printed portrait the product's reader cuts from a card front simulated around ``box`` by ``rng``'s draw
    (:func:`card_rng` for the image's own card front); None when it is not found or the card front is unreadable."""
    card_front = simulate_card_front(rgb, box, rng)
    try:
        return reader.locate(decoder.decode(card_front, max_pixels=MAX_PIXELS))
    except (PortraitNotFound, ImageRejected):
        return None


def run_set(
    face_set: FaceSet,
    engine: FaceEngine,
    models: OnnxFaceModels,
    photo: np.ndarray | None,
    limit: int,
    shard: tuple[int, int] = (0, 1),
    budgets: tuple[ChipCompression, ...] = CHIPS,
) -> SetResult:
    """Simulate each image's card front, locate its portrait, run every check pair; with ``photo`` (embeddings) also
    embed the printed portraits and add the lookalike pairs. ``limit`` caps the random and same-person pairs."""
    with_matching = photo is not None
    decoder = PillowImageDecoder()
    reader = OnnxPrintedPortraitReader(models, 0.0)
    rng = np.random.default_rng(SEED)
    pairs = check_pairs(face_set, photo, rng, limit)
    in_shard = [i for i in range(len(face_set.images)) if i % shard[1] == shard[0]]
    grouped = pairs.by_card()
    n = len(face_set.images)
    photos: list[np.ndarray | None] = []
    boxes: list[tuple[float, float, float, float] | None] = []
    rgb: np.ndarray | None
    box: tuple[float, float, float, float] | None
    for image in face_set.images:
        try:
            rgb = decoder.decode(image.path.read_bytes(), max_pixels=MAX_PIXELS).rgb
        except ImageRejected:
            photos.append(None)
            boxes.append(None)
            continue
        photos.append(rgb)
        boxes.append(largest_face_box(models, rgb))
    # Chips and their faces (per budget; None: the chip's face was not found).
    chips: dict[str, list[tuple[np.ndarray, FoundFace | None] | None]] = {}
    needed = {chip for card in in_shard for _, chip in grouped.get(card, [])}
    for compression in budgets:
        entries: list[tuple[np.ndarray, FoundFace | None] | None] = []
        for index, (rgb, box) in enumerate(zip(photos, boxes, strict=True)):
            if rgb is None or box is None or index not in needed:
                entries.append(None)
                continue
            chip_rgb = decoder.decode(simulate_chip_photo(rgb, box, compression=compression), max_pixels=MAX_PIXELS).rgb
            entries.append((chip_rgb, reader.chip_face(chip_rgb)))
        chips[compression.name] = entries
    located = np.zeros(n, dtype=bool)
    printed = np.full((n, 128 if photo is None else photo.shape[1]), np.nan, dtype=np.float32)
    result = SetResult(located, printed)
    checks = 0
    started = time.perf_counter()
    for card in range(shard[0], n, shard[1]):
        rgb, box = photos[card], boxes[card]
        if rgb is None or box is None:
            continue
        portrait = printed_portrait_of(rgb, box, card_rng(face_set.images[card].path), reader, decoder)
        face = None if portrait is None else reader.face(portrait.rgb, portrait.rgb.shape[0], printed=True)
        if portrait is not None:
            located[card] = True
            if with_matching:
                analysis = engine.analyse_id_photo(portrait)
                if analysis.embedding is not None:
                    printed[card] = analysis.embedding
            result.photo_kind += portrait.reference_kind is ReferenceKind.PRINTED
        for kind, chip_index in grouped.get(card, []):
            for compression in budgets:
                chip_entry = chips[compression.name][chip_index]
                variants = {variant: float("nan") for variant in VARIANTS}
                if portrait is not None and chip_entry is not None:
                    by_start = scores_by_start(portrait.rgb, face, chip_entry[0], chip_entry[1])
                    variants = {"best_start": max(by_start.values()), "landmarks": by_start.get("landmarks", math.nan)}
                    checks += 1
                for variant, value in variants.items():
                    result.scores.setdefault(variant, {}).setdefault(compression.name, {}).setdefault(kind, []).append(
                        value
                    )
        if card % 50 == 0:
            print(f"  {face_set.name}: card {card}/{n}", file=sys.stderr)
    result.seconds_per_check = (time.perf_counter() - started) / max(checks, 1)
    return result


def merge_shards(parts: list[SetResult]) -> SetResult:
    """One set's result from its shards (each measured a disjoint part of the cards)."""
    located = np.any([p.located for p in parts], axis=0)
    printed = parts[0].printed.copy()
    for part in parts[1:]:
        rows = ~np.isnan(part.printed).all(axis=1)
        printed[rows] = part.printed[rows]
    merged = SetResult(located, printed, photo_kind=sum(p.photo_kind for p in parts))
    for part in parts:
        for variant, by_chip in part.scores.items():
            for chip, kinds in by_chip.items():
                for kind, values in kinds.items():
                    merged.scores.setdefault(variant, {}).setdefault(chip, {}).setdefault(kind, []).extend(values)
    merged.seconds_per_check = float(np.mean([p.seconds_per_check for p in parts]))
    return merged


CALIBRATION_RULE = (
    "the higher of the 99.9th percentile of random other-person swaps and the 99th percentile of other photos of the "
    "same person on the calib fold (either chip budget), plus a margin of 0.05 for the thin tails, rounded up to 0.01"
)
RANDOM_SWAP_PERCENTILE = 99.9
SWAP_MARGIN = 0.05


def swap_threshold(by_chip: dict[str, dict[str, list[float]]]) -> float:
    """The check's threshold from a calibration set's swap scores (:data:`CALIBRATION_RULE`): set by the swaps it
    must catch, not by the genuine cards (refusing a genuine card costs a retake or a chip-only retry; accepting a
    swap is the hole the check exists to close)."""
    tail = max(
        max(
            float(np.nanpercentile(kinds["random_impostor"], RANDOM_SWAP_PERCENTILE)),
            float(np.nanpercentile(kinds["same_person"], 99.0)),
        )
        for kinds in by_chip.values()
    )
    return math.ceil((tail + SWAP_MARGIN) * 100) / 100


def check_report(result: SetResult, threshold: float | None) -> dict[str, Any]:
    """Per variant and chip: genuine refused and each swap caught at ``threshold`` (None: at the threshold that
    refuses 1 % of this set's genuine cards)."""
    report: dict[str, Any] = {}
    for variant, by_chip in result.scores.items():
        report[variant] = {}
        for chip, kinds in by_chip.items():
            genuine = np.array(kinds["genuine"])
            at = threshold if threshold is not None else float(np.nanpercentile(genuine, 100 * GENUINE_REFUSED))
            row: dict[str, Any] = {"threshold": round(at, 4)}
            valid = genuine[~np.isnan(genuine)]
            row["genuine_median"] = round(float(np.median(valid)), 4)
            row["genuine_p01"] = round(float(np.percentile(valid, 1)), 4)
            row["genuine_refused"] = _rate(~(genuine >= at))
            for kind in ("random_impostor", "lookalike", "same_person"):
                if kind not in kinds:
                    continue
                values = np.array(kinds[kind])
                accepted = int(np.sum(values >= at))
                row[kind] = {
                    "pairs": len(values),
                    "accepted": accepted,
                    "caught": round(1.0 - accepted / max(len(values), 1), 5),
                    "accepted_upper_95": round(upper_bound_fmr(accepted, len(values)), 5),
                    "max": round(float(np.nanmax(values)), 4),
                }
            report[variant][chip] = row
    return report


def _rate(mask: np.ndarray) -> dict[str, Any]:
    return {"count": int(mask.sum()), "of": len(mask), "rate": round(float(mask.mean()), 5)}


def matching_report(
    face_set: FaceSet,
    result: SetResult,
    photo: np.ndarray,
    chip_embeddings: dict[str, np.ndarray],
    printed_threshold: float,
) -> dict[str, Any]:
    """Live (another photo) against each reference and the fusion rules; impostors are same-source pairs."""
    images = face_set.images
    genuine_pairs = [
        pair
        for i, j in itertools.combinations(range(len(images)), 2)
        if images[i].identity == images[j].identity
        for pair in ((i, j), (j, i))
    ]
    impostor_pairs = [
        pair
        for i, j in itertools.combinations(range(len(images)), 2)
        if images[i].identity != images[j].identity and images[i].source == images[j].source
        for pair in ((i, j), (j, i))
    ]

    def cosine(a: np.ndarray, b: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
        ref = np.array([a[i] for i, _ in pairs])
        live = np.array([b[j] for _, j in pairs])
        values: np.ndarray = np.sum(ref * live, axis=1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(live, axis=1))
        return values

    rows: dict[str, Any] = {}
    printed_genuine = cosine(result.printed, photo, genuine_pairs)
    printed_impostor = cosine(result.printed, photo, impostor_pairs)
    rules: dict[str, tuple[np.ndarray, np.ndarray]] = {"printed": (printed_genuine, printed_impostor)}
    for chip, embeddings in chip_embeddings.items():
        chip_genuine = cosine(embeddings, photo, genuine_pairs)
        chip_impostor = cosine(embeddings, photo, impostor_pairs)
        rules[f"chip_{chip}"] = (chip_genuine, chip_impostor)
        rules[f"mean_{chip}"] = ((chip_genuine + printed_genuine) / 2, (chip_impostor + printed_impostor) / 2)
        rules[f"max_{chip}"] = (np.fmax(chip_genuine, printed_genuine), np.fmax(chip_impostor, printed_impostor))
    for name, (genuine, impostor) in rules.items():
        row: dict[str, Any] = {"genuine_pairs": len(genuine), "impostor_pairs": len(impostor)}
        for point in FMR_POINTS:
            row[f"fnmr_at_{point:g}"] = round(fnmr_at(genuine, threshold_at(impostor, point)), 4)
        if name == "printed":
            rate, hits, pairs = fmr_at(impostor, printed_threshold)
            row["printed_threshold"] = printed_threshold
            row["fnmr_at_printed_threshold"] = round(fnmr_at(genuine, printed_threshold), 4)
            row["fmr_at_printed_threshold"] = {
                "rate": rate,
                "hits": hits,
                "pairs": pairs,
                "upper_95": upper_bound_fmr(hits, pairs),
            }
        rows[name] = row
    return rows


def markdown(report: dict[str, Any]) -> str:
    """The report's tables: the check at the calibrated threshold, and matching rules."""
    lines = ["# Card front (benchmarks/card_front.py)", ""]
    calibrated = report.get("calibrated", {})
    rule = report.get("calibration_rule", "")
    lines.append(f"Calibrated thresholds ({rule}): {calibrated}")
    lines += [
        "",
        "| set | score | chip | threshold | genuine refused | another person caught (random) | lookalikes caught "
        "| same person, other photo caught | genuine median / 1st pct |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in report["sets"].items():
        rows = entry.get("check_at_calibrated") or entry["check_at_own_1pct"]
        for variant, by_chip in rows.items():
            for chip, row in by_chip.items():
                cells = []
                for kind in ("random_impostor", "lookalike", "same_person"):
                    if kind in row:
                        k = row[kind]
                        cells.append(f"{100 * k['caught']:.2f} % ({k['pairs'] - k['accepted']}/{k['pairs']})")
                    else:
                        cells.append("—")
                refused = row["genuine_refused"]
                lines.append(
                    f"| {name} | {variant} | {chip} | {row['threshold']} | {100 * refused['rate']:.2f} % "
                    f"({refused['count']}/{refused['of']}) | {cells[0]} | {cells[1]} | {cells[2]} "
                    f"| {row['genuine_median']} / {row['genuine_p01']} |"
                )
    for name, entry in report["sets"].items():
        if "matching" not in entry:
            continue
        lines += ["", f"Matching on {name} (live = another photo of the person; impostors same-source):", ""]
        lines += ["| rule | FNMR @1e-3 | FNMR @1e-4 | genuine / impostor pairs |", "| --- | --- | --- | --- |"]
        for rule, row in entry["matching"].items():
            lines.append(
                f"| {rule} | {100 * row['fnmr_at_0.001']:.1f} % | {100 * row['fnmr_at_0.0001']:.1f} % "
                f"| {row['genuine_pairs']} / {row['impostor_pairs']} |"
            )
        printed = entry["matching"]["printed"]
        fmr = printed["fmr_at_printed_threshold"]
        lines.append(
            f"\nPrinted portrait at the shipped printed-portrait threshold {printed['printed_threshold']}: FNMR "
            f"{100 * printed['fnmr_at_printed_threshold']:.1f} %, FMR {fmr['hits']}/{fmr['pairs']} "
            f"(95 % upper bound {fmr['upper_95']:.2g})"
        )
    return "\n".join(lines) + "\n"


def write_lock_threshold(threshold: float, detail: dict[str, Any]) -> list[Path]:
    path = default_lock_path()
    document = read_lock_document(path)
    document["card_front"] = {
        "same_photograph": {
            "threshold": round(threshold, 4),
            "calibration": detail,
        }
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [path]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--calibrate", action="store_true", help=f"pin the check's threshold in {LOCK_FILE_NAME}")
    parser.add_argument("--sets", default="calib,faces_east_asian", help="comma-separated: calib, faces_east_asian")
    parser.add_argument(
        "--check-only",
        default="calib",
        help="sets measured for the check alone (no embeddings, matching or lookalikes; comma-separated)",
    )
    parser.add_argument(
        "--pair-limit",
        type=int,
        default=PAIR_LIMIT,
        help="random other-person pairs per set (a third as many same-person pairs)",
    )
    parser.add_argument("--identities", type=int, default=0, help="faces_east_asian: a seeded sample of N identities")
    parser.add_argument("--chips", default="j2k1024,j2k1536", help="chip budgets for the check (comma-separated)")
    parser.add_argument("--shard", default="0/1", help="I/N: measure only the cards whose index is I modulo N")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse a set's cached result made with other --pair-limit/--calib-images"
    )
    parser.add_argument(
        "--calib-images", type=int, default=0, help="use a seeded sample of this many calib-fold images (0: all)"
    )
    args = parser.parse_args()
    if shared_data_missing(args.shared):
        return 2
    engine, models = sface_engine(args.models_dir, 2)
    printed_threshold = engine.threshold_for(ReferenceKind.PRINTED)
    shipped_check = build_printed_portrait_reader(models).same_photograph_threshold
    wanted = args.sets.split(",")
    sets: list[FaceSet] = []
    if "calib" in wanted:
        calib = load_calib_set(args.shared)
        if 0 < args.calib_images < len(calib.images):
            chosen = np.random.default_rng(SEED).choice(len(calib.images), args.calib_images, replace=False)
            calib = FaceSet(calib.name, tuple(calib.images[i] for i in sorted(chosen)))
        sets.append(calib)
    full_sets: dict[str, tuple[FaceSet, list[int]]] = {}
    for face_set in load_sets(args.shared):
        if face_set.name not in wanted:
            continue
        rows = list(range(len(face_set.images)))
        if args.identities:
            people = sorted({image.identity for image in face_set.images})
            kept = set(np.random.default_rng(SEED).choice(people, min(args.identities, len(people)), replace=False))
            rows = [i for i in rows if face_set.images[i].identity in kept]
        full_sets[face_set.name] = (face_set, rows)
        sets.append(FaceSet(face_set.name, tuple(face_set.images[i] for i in rows)))
    chips = tuple(c for c in CHIPS if c.name in args.chips.split(","))
    report: dict[str, Any] = {"engine": engine.name, "sets": {}}
    results: dict[str, SetResult] = {}
    for face_set in sets:
        print(f"{face_set.name}: {len(face_set.images)} images", file=sys.stderr)
        check_only = face_set.name.startswith("faces_east_asian_calib") and "calib" in args.check_only.split(",")
        check_only = check_only or face_set.name in args.check_only.split(",")
        full, rows = full_sets.get(face_set.name, (face_set, list(range(len(face_set.images)))))
        chip_embeddings = {
            c.name: embed_set(full, engine, models, args.cache_dir, c) for c in (() if check_only else CHIPS)
        }
        photo = None if check_only else chip_embeddings[JPEG2000_1024.name].photo[rows]
        # The printed portraits' embeddings depend on their smoothing: part of the key where they are measured.
        smoothing = "" if check_only else f"-printed{PRINTED_ANTIALIAS_SIGMA_PER_SHRINK}"
        cache = args.cache_dir / (
            f"card_front-{face_set.name}-{len(face_set.images)}-{RESULT_VERSION}-{args.pair_limit}-{int(check_only)}"
            f"{smoothing}.pkl"
        )
        shard_index, shard_count = (int(x) for x in args.shard.split("/"))
        cache = cache.with_name(cache.stem + f"-shard{shard_index}of{shard_count}.pkl")
        shards = sorted(args.cache_dir.glob(f"card_front-{face_set.name}-*-{RESULT_VERSION}-*{smoothing}-shard*.pkl"))
        if args.reuse and shards:
            print(f"  merging {[p.name for p in shards]}", file=sys.stderr)
            result = merge_shards([pickle.loads(p.read_bytes()) for p in shards])  # our own cache files
        elif cache.is_file():
            result = pickle.loads(cache.read_bytes())
        else:
            result = run_set(face_set, engine, models, photo, args.pair_limit, (shard_index, shard_count), chips)
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_bytes(pickle.dumps(result))
        results[face_set.name] = result
        entry: dict[str, Any] = {
            "images": len(face_set.images),
            "portrait_located": int(result.located.sum()),
            "photo_kind": result.photo_kind,
            "ms_per_check": round(1000 * result.seconds_per_check, 1),
            "check_at_own_1pct": check_report(result, None),
            "check_at_shipped": check_report(result, shipped_check),
        }
        if photo is not None:
            entry["matching"] = matching_report(
                face_set, result, photo, {c: e.chip[rows] for c, e in chip_embeddings.items()}, printed_threshold
            )
        report["sets"][face_set.name] = entry
    calib_name = "faces_east_asian_calib_calibrate"
    if calib_name in results:
        thresholds = {variant: swap_threshold(by_chip) for variant, by_chip in results[calib_name].scores.items()}
        report["calibrated"] = {variant: round(value, 4) for variant, value in thresholds.items()}
        report["calibration_rule"] = CALIBRATION_RULE
        for name, result in results.items():
            report["sets"][name]["check_at_calibrated"] = {
                variant: check_report(
                    SetResult(result.located, result.printed, scores={variant: by_chip}), thresholds[variant]
                )[variant]
                for variant, by_chip in result.scores.items()
            }
    if len(results) > 1 or args.calibrate:
        write_results("card_front", report, markdown(report))
    print(json.dumps(report, indent=2))
    if args.calibrate and "calibrated" in report:
        shipped = report["calibrated"]["best_start"]
        write_lock_threshold(
            shipped,
            {
                "by": "benchmarks/card_front.py --calibrate",
                "set": calib_name,
                "rule": CALIBRATION_RULE,
                "score": "band-pass correlation, best registration start",
                "sample": f"{len(results[calib_name].located)} images (--calib-images {args.calib_images}), "
                f"--pair-limit {args.pair_limit}",
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
