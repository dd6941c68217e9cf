"""Aligned face crops for training and evaluating the SFace chip student, made by the product's own pipeline.

Every crop is what ``OnnxFaceEngine`` would feed SFace: the photo (a live capture) padded, detected (fr_detect),
68 points (fr_landmark) and aligned to 112×112 at scale 1.0; a chip portrait cut around the photo's largest
face (``chip_photo.chip_portrait``), compressed, decoded, then smoothed and enlarged ×2 (``upscale_small``),
padded, detected, landmarked and aligned at the engine's chip scales 0.9 and 1.1.

Two kinds of cache, written as ``.npz`` under ``--out`` (default ``/work/scratch/train``; never the repository,
the images are dev data that must not be copied into the product):

- ``train``: the calib ``train`` fold of ``faces_east_asian_calib`` (``benchmarks/face_data.calib_fold``),
  and ``faces`` — never ``faces_east_asian`` or the calib ``calibrate`` fold,
  which are the evaluation and calibration sets. Per image: the clean crop and ``--variants`` random chips
  (JPEG 2000 at a random budget of 0.8–1.8 KB, framing jitter and a mild colour change), each at both scales.
- ``eval``: ``faces_east_asian``, the calib ``calibrate`` fold and ``faces`` exactly as
  ``benchmarks/face_accuracy.py`` makes them: the clean crop and ``simulate_chip_photo`` chips at 1,024 and
  1,536 bytes (and JPEG q25), no jitter, at both scales.

    PYTHONPATH=src .venv/bin/python scripts/chip_student_data.py train --seed 0
    PYTHONPATH=src .venv/bin/python scripts/chip_student_data.py eval
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
sys.path.insert(0, str(REPO_ROOT / "src"))

from face_data import SHARED_DATA, load_calib_set, load_sets  # noqa: E402
from realname.adapters.vision.chip_photo import (  # noqa: E402
    CHIP_CONDITIONS,
    CHIP_HEIGHT_PX,
    CHIP_WIDTH_PX,
    chip_portrait,
    compress_chip,
)
from realname.adapters.vision.glare_veil import chip_sharpness as face_region_sharpness  # noqa: E402
from realname.adapters.vision.images import PillowImageDecoder  # noqa: E402
from realname.adapters.vision.onnx_engine import (  # noqa: E402
    ID_PHOTO_MIN_HEIGHT_PX,
    MIN_DETECTION_CONFIDENCE,
    SFACE_ID_PHOTO_ALIGNMENT_SCALES,
)
from realname.adapters.vision.onnx_models import OnnxFaceModels  # noqa: E402
from realname.adapters.vision.quality import main_face_index, pad_for_detection, upscale_small  # noqa: E402
from realname.domain.face import ImageRejected  # noqa: E402

MAX_PIXELS = 40_000_000
DEFAULT_OUT = Path("/work/scratch/train")
DEFAULT_MODELS = Path("/work/main/var/models")
RAW_BYTES = CHIP_WIDTH_PX * CHIP_HEIGHT_PX * 3
BUDGET_RANGE = (800, 1800)  # bytes of the random training chips (real chips sit around 1.0-1.5 KB)
WIDE_BUDGET_RANGE = (800, 3200)  # ``--wide``: sharper chips too, so the student keeps what the base knows of them
WIDE_JPEG_SHARE = 0.25  # ``--wide``: this share of the chips is JPEG at quality 20-50 instead of JPEG 2000
WIDE_JPEG_QUALITY = (20, 50)
CHIP_SCALES = SFACE_ID_PHOTO_ALIGNMENT_SCALES  # (0.9, 1.1)
EMPTY = np.zeros((112, 112, 3), dtype=np.uint8)


@dataclass(frozen=True)
class Item:
    path: str
    identity: str
    source: str
    group: str
    set_name: str


_models: OnnxFaceModels | None = None


def _init(models_dir: str) -> None:
    global _models
    _models = OnnxFaceModels.load(Path(models_dir), threads=1)


def aligned(models: OnnxFaceModels, rgb: np.ndarray, *, chip: bool, scales: tuple[float, ...]) -> list[np.ndarray]:
    """The engine's aligned crops (``OnnxFaceEngine._detect_and_align``), or [] without a face."""
    image = pad_for_detection(upscale_small(rgb, ID_PHOTO_MIN_HEIGHT_PX) if chip else rgb)
    boxes = models.detect(image, min_confidence=MIN_DETECTION_CONFIDENCE)
    if not boxes:
        return []
    main = boxes[main_face_index([(b.x0, b.y0, b.x1, b.y1) for b in boxes], image.shape[1], image.shape[0])]
    landmarks = models.landmarks(image, main)
    return [models.aligned_face(image, landmarks, scale) for scale in scales]


def random_chip(portrait: np.ndarray, rng: np.random.Generator, *, wide: bool = False) -> np.ndarray:
    """A random realistic chip: mild colour change, JPEG 2000 at a random byte budget (one encode at the rate
    that budget needs), decoded. ``wide``: budgets up to 3.2 KB, and a quarter of the chips JPEG at q20-50."""
    image = Image.fromarray(portrait)
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.9, 1.1))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.85, 1.15))
    image = ImageEnhance.Color(image).enhance(rng.uniform(0.8, 1.2))
    low, high = WIDE_BUDGET_RANGE if wide else BUDGET_RANGE
    budget = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    buffer = io.BytesIO()
    if wide and rng.random() < WIDE_JPEG_SHARE:
        image.save(buffer, format="JPEG", quality=int(rng.integers(WIDE_JPEG_QUALITY[0], WIDE_JPEG_QUALITY[1] + 1)))
        with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
            return np.asarray(decoded.convert("RGB"), dtype=np.uint8)
    image.save(
        buffer,
        format="JPEG2000",
        codec="j2k",
        irreversible=True,
        quality_mode="rates",
        quality_layers=[RAW_BYTES / budget],
    )
    with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8)


def _decode(path: str) -> np.ndarray | None:
    try:
        return PillowImageDecoder().decode(Path(path).read_bytes(), max_pixels=MAX_PIXELS).rgb
    except ImageRejected:
        return None


def _largest_box(models: OnnxFaceModels, rgb: np.ndarray) -> tuple[float, float, float, float] | None:
    boxes = models.detect(rgb)  # as benchmarks/face_data.simulated_chip picks the chip's face
    if not boxes:
        return None
    box = max(boxes, key=lambda b: b.height)
    return (box.x0, box.y0, box.x1, box.y1)


def train_job(args: tuple[int, str, int, int, bool]) -> tuple[int, np.ndarray, np.ndarray, bool]:
    """(index, clean crop, chips [variants, scales, 112, 112, 3], ok)."""
    index, path, variants, seed, wide = args
    assert _models is not None
    rng = np.random.default_rng([seed, index])
    chips = np.zeros((variants, len(CHIP_SCALES), 112, 112, 3), dtype=np.uint8)
    rgb = _decode(path)
    box = None if rgb is None else _largest_box(_models, rgb)
    clean = [] if rgb is None else aligned(_models, rgb, chip=False, scales=(1.0,))
    if rgb is None or box is None or not clean:
        return index, EMPTY, chips, False
    done = 0
    for _attempt in range(variants * 2):
        if done == variants:
            break
        shift = (float(rng.uniform(-0.04, 0.04)), float(rng.uniform(-0.04, 0.04)))
        portrait = chip_portrait(rgb, box, shift=shift, zoom=float(rng.uniform(0.9, 1.1)))
        crops = aligned(_models, random_chip(portrait, rng, wide=wide), chip=True, scales=CHIP_SCALES)
        if crops:
            chips[done] = np.stack(crops)
            done += 1
    return index, clean[0], chips, done == variants


def eval_job(args: tuple[int, str]) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(index, clean crop, chips [conditions, scales, 112, 112, 3], ok [1 + conditions], face-region sharpness of
    each decoded chip [conditions] (``glare_veil.chip_sharpness``; NaN without a face box))."""
    index, path = args
    assert _models is not None
    chips = np.zeros((len(CHIP_CONDITIONS), len(CHIP_SCALES), 112, 112, 3), dtype=np.uint8)
    ok = np.zeros(1 + len(CHIP_CONDITIONS), dtype=bool)
    sharpness = np.full(len(CHIP_CONDITIONS), np.nan)
    rgb = _decode(path)
    if rgb is None:
        return index, EMPTY, chips, ok, sharpness
    clean = aligned(_models, rgb, chip=False, scales=(1.0,))
    ok[0] = bool(clean)
    box = _largest_box(_models, rgb)
    if box is not None:
        portrait = chip_portrait(rgb, box)
        for c, compression in enumerate(CHIP_CONDITIONS):
            # the PNG round trip of simulate_chip_photo is lossless, so the decoded chip is the same array
            decoded = compress_chip(portrait, compression)
            sharpness[c] = face_region_sharpness(decoded)
            crops = aligned(_models, decoded, chip=True, scales=CHIP_SCALES)
            if crops:
                chips[c] = np.stack(crops)
                ok[1 + c] = True
    return index, clean[0] if clean else EMPTY, chips, ok, sharpness


def training_items(shared: Path) -> list[Item]:
    """The calib train fold and faces (Western): never an evaluation identity. (antispoof's real faces are
    mostly frames of one person's video, unlabelled: not used.)"""
    items = [
        Item(str(i.path), i.identity, i.source, i.group, "calib_train")
        for i in load_calib_set(shared, fold="train").images
    ]
    faces = next(s for s in load_sets(shared) if s.name == "faces")
    items += [Item(str(i.path), "faces:" + i.identity, i.source, i.group, "faces") for i in faces.images]
    return items


def evaluation_items(shared: Path) -> list[Item]:
    sets = [*load_sets(shared), load_calib_set(shared, fold="calibrate")]
    return [Item(str(i.path), i.identity, i.source, i.group, s.name) for s in sets for i in s.images]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("train", "eval"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS)
    parser.add_argument("--shared", type=Path, default=SHARED_DATA)
    parser.add_argument("--wide", action="store_true", help="train chips up to 3.2 KB and some JPEG (train-seedS-wide)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    items = training_items(args.shared) if args.kind == "train" else evaluation_items(args.shared)
    print(f"{args.kind}: {len(items)} images", file=sys.stderr)
    n = len(items)
    clean = np.zeros((n, 112, 112, 3), dtype=np.uint8)
    if args.kind == "train":
        chips = np.zeros((n, args.variants, len(CHIP_SCALES), 112, 112, 3), dtype=np.uint8)
        ok = np.zeros(n, dtype=bool)
        jobs_train = [(i, item.path, args.variants, args.seed, args.wide) for i, item in enumerate(items)]
        with Pool(args.workers, initializer=_init, initargs=(str(args.models_dir),)) as pool:
            for count, (i, crop, chip, good) in enumerate(pool.imap_unordered(train_job, jobs_train, chunksize=4)):
                clean[i], chips[i], ok[i] = crop, chip, good
                if count % 100 == 0:
                    print(f"  {count}/{n}", file=sys.stderr, flush=True)
    else:
        chips = np.zeros((n, len(CHIP_CONDITIONS), len(CHIP_SCALES), 112, 112, 3), dtype=np.uint8)
        ok = np.zeros((n, 1 + len(CHIP_CONDITIONS)), dtype=bool)
        sharpness = np.full((n, len(CHIP_CONDITIONS)), np.nan)
        jobs_eval = [(i, item.path) for i, item in enumerate(items)]
        with Pool(args.workers, initializer=_init, initargs=(str(args.models_dir),)) as pool:
            for count, (i, crop, chip, good, sharp) in enumerate(pool.imap_unordered(eval_job, jobs_eval, chunksize=4)):
                clean[i], chips[i], ok[i], sharpness[i] = crop, chip, good, sharp
                if count % 100 == 0:
                    print(f"  {count}/{n}", file=sys.stderr, flush=True)
    name = f"train-seed{args.seed}{'-wide' if args.wide else ''}.npz" if args.kind == "train" else "eval.npz"
    np.savez(
        args.out / name,
        clean=clean,
        chips=chips,
        ok=ok,
        identity=np.array([i.identity for i in items]),
        source=np.array([i.source for i in items]),
        group=np.array([i.group for i in items]),
        set_name=np.array([i.set_name for i in items]),
        path=np.array([i.path for i in items]),
        conditions=np.array([c.name for c in CHIP_CONDITIONS]),
        **({} if args.kind == "train" else {"sharpness": sharpness}),
    )
    print(f"wrote {args.out / name}: {int(np.asarray(ok).reshape(n, -1)[:, 0].sum())}/{n} with a face", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
