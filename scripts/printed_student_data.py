"""Aligned face crops for training and evaluating the SFace printed-portrait student, made by the product's code.

A printed portrait is the card front's printed photo as the card-front reader cuts it from a document-camera image
(``OnnxPrintedPortraitReader.locate``); the engine embeds it as a photo-kind reference (print-suppressed detection,
landmarks on the portrait, smoothed by ``PRINTED_ANTIALIAS_SIGMA_PER_SHRINK`` × the shrink, aligned at the live
scale 1.0). Every crop here is ``OnnxFaceEngine.aligned_crops`` of such a portrait (its un-mirrored crop), and the
clean crop is that of the photograph itself as a live capture — the teacher's target.

Card fronts are simulated by ``realname.adapters.vision.card_front_photo.simulate_card_front`` (halftone, ink blur,
guilloche, colour cast, rotation, camera blur, a glare patch, noise, JPEG) around the photo's largest face.

- ``train``: the calib ``train`` fold of ``faces_east_asian_calib`` and ``faces`` (``chip_student_data
  .training_items``: never ``faces_east_asian`` or the calib ``calibrate`` fold); ``--variants`` card fronts per
  image, each with its own seeded draw (seed, image, variant).
- ``eval``: ``faces_east_asian`` and the calib ``calibrate`` fold, one card front per image drawn with
  ``benchmarks/card_front.card_rng`` (the card-front benchmark's own draw).

Written as ``.npz`` under ``--out`` (default ``/work/scratch/train``; never the repository):
``printed-seedS.npz`` (keys as ``chip_student_data.py train``: ``clean``, ``chips`` [N, variants, 1, 112, 112, 3],
``ok``, ``identity`` …) and ``printed-eval.npz`` (``clean``, ``printed`` [N, 112, 112, 3], ``ok`` [N, 2] …).

    PYTHONPATH=src .venv/bin/python scripts/printed_student_data.py train --seed 0
    PYTHONPATH=src .venv/bin/python scripts/printed_student_data.py eval
"""

from __future__ import annotations

import argparse
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
sys.path.insert(0, str(REPO_ROOT / "src"))

from chip_student_data import DEFAULT_MODELS, DEFAULT_OUT, EMPTY, MAX_PIXELS, Item, training_items  # noqa: E402

from card_front import card_rng, largest_face_box, printed_portrait_of  # noqa: E402
from face_data import SHARED_DATA, load_calib_set, load_sets, sface_engine  # noqa: E402
from realname.adapters.vision.images import PillowImageDecoder  # noqa: E402
from realname.adapters.vision.onnx_engine import OnnxFaceEngine  # noqa: E402
from realname.adapters.vision.printed_portrait import OnnxPrintedPortraitReader  # noqa: E402
from realname.app.matching import DecodedImage  # noqa: E402
from realname.domain.face import ImageRejected, ReferenceKind  # noqa: E402

_engine: OnnxFaceEngine | None = None
_reader: OnnxPrintedPortraitReader | None = None


def _init(models_dir: str) -> None:
    global _engine, _reader
    engine, models = sface_engine(Path(models_dir), 1)
    if not isinstance(engine, OnnxFaceEngine):
        raise SystemExit("needs the sface engine")
    _engine, _reader = engine, OnnxPrintedPortraitReader(models, 0.0)


def _decoded(data: bytes) -> DecodedImage | None:
    try:
        return PillowImageDecoder().decode(data, max_pixels=MAX_PIXELS)
    except ImageRejected:
        return None


def photo_and_box(path: str) -> tuple[DecodedImage, np.ndarray, tuple[float, float, float, float]] | None:
    """The decoded photo, its clean crop (as a live capture, scale 1.0) and its largest face's box (as the card-front
    benchmark frames the printed portrait), or None."""
    assert _engine is not None
    photo = _decoded(Path(path).read_bytes())
    if photo is None:
        return None
    clean = _engine.aligned_crops(photo, reference=False)
    box = largest_face_box(_engine.models, photo.rgb)
    if not clean or box is None:
        return None
    return photo, clean[0], box


def printed_crop(photo: DecodedImage, box: tuple[float, float, float, float], rng: np.random.Generator) -> np.ndarray:
    """The engine's un-mirrored crop of the printed portrait on one simulated card front (EMPTY: not found)."""
    assert _engine is not None and _reader is not None
    portrait = printed_portrait_of(photo.rgb, box, rng, _reader, PillowImageDecoder())
    if portrait is None or portrait.reference_kind is not ReferenceKind.PRINTED:
        return EMPTY
    crops = _engine.aligned_crops(portrait, reference=True)
    return crops[0] if crops else EMPTY


def train_job(args: tuple[int, str, int, int]) -> tuple[int, np.ndarray, np.ndarray, bool]:
    """(index, clean crop, printed crops [variants, 1, 112, 112, 3], ok)."""
    index, path, variants, seed = args
    printed = np.zeros((variants, 1, 112, 112, 3), dtype=np.uint8)
    found = photo_and_box(path)
    if found is None:
        return index, EMPTY, printed, False
    photo, clean, box = found
    done = 0
    for attempt in range(variants * 2):
        if done == variants:
            break
        crop = printed_crop(photo, box, np.random.default_rng([seed, index, attempt]))
        if crop is not EMPTY:
            printed[done, 0] = crop
            done += 1
    return index, clean, printed, done == variants


def eval_job(args: tuple[int, str]) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(index, clean crop, printed crop, ok [clean, printed])."""
    index, path = args
    ok = np.zeros(2, dtype=bool)
    found = photo_and_box(path)
    if found is None:
        return index, EMPTY, EMPTY, ok
    photo, clean, box = found
    crop = printed_crop(photo, box, card_rng(Path(path)))
    ok[:] = True, crop is not EMPTY
    return index, clean, crop, ok


def evaluation_items(shared: Path) -> list[Item]:
    sets = [s for s in load_sets(shared) if s.name == "faces_east_asian"] + [load_calib_set(shared, fold="calibrate")]
    return [Item(str(i.path), i.identity, i.source, i.group, s.name) for s in sets for i in s.images]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("train", "eval"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS)
    parser.add_argument("--shared", type=Path, default=SHARED_DATA)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    items = training_items(args.shared) if args.kind == "train" else evaluation_items(args.shared)
    n = len(items)
    print(f"{args.kind}: {n} images", file=sys.stderr)
    clean = np.zeros((n, 112, 112, 3), dtype=np.uint8)
    columns: dict[str, np.ndarray] = {}
    with Pool(args.workers, initializer=_init, initargs=(str(args.models_dir),)) as pool:
        if args.kind == "train":
            chips = np.zeros((n, args.variants, 1, 112, 112, 3), dtype=np.uint8)
            ok = np.zeros(n, dtype=bool)
            jobs = [(i, item.path, args.variants, args.seed) for i, item in enumerate(items)]
            for count, (i, crop, printed, good) in enumerate(pool.imap_unordered(train_job, jobs, chunksize=4)):
                clean[i], chips[i], ok[i] = crop, printed, good
                if count % 100 == 0:
                    print(f"  {count}/{n}", file=sys.stderr, flush=True)
            columns = {"chips": chips, "ok": ok}
            name = f"printed-seed{args.seed}.npz"
        else:
            portraits = np.zeros((n, 112, 112, 3), dtype=np.uint8)
            oks = np.zeros((n, 2), dtype=bool)
            for count, (i, crop, printed_one, good_two) in enumerate(
                pool.imap_unordered(eval_job, [(i, item.path) for i, item in enumerate(items)], chunksize=4)
            ):
                clean[i], portraits[i], oks[i] = crop, printed_one, good_two
                if count % 100 == 0:
                    print(f"  {count}/{n}", file=sys.stderr, flush=True)
            columns = {"printed": portraits, "ok": oks}
            name = "printed-eval.npz"
    np.savez(
        args.out / name,
        clean=clean,
        identity=np.array([i.identity for i in items]),
        source=np.array([i.source for i in items]),
        group=np.array([i.group for i in items]),
        set_name=np.array([i.set_name for i in items]),
        path=np.array([i.path for i in items]),
        **columns,
    )
    ok_rows = np.asarray(columns["ok"]).reshape(n, -1)
    print(f"wrote {args.out / name}: {int(ok_rows.all(axis=1).sum())}/{n} complete", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
