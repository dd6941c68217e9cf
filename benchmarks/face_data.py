"""Shared loading for the face benchmarks: the labelled sets, embeddings per engine (cached), pairs.

Each image is embedded per engine as a photo (``FaceEngine.analyse``) and as a simulated ID-card chip photo
(face-centred 102×126 portrait, compressed as the given ``ChipCompression`` — JPEG q25 by default — decoded, then
``analyse_id_photo``). The chip crop uses the ONNX detector's box for every engine so that they see the same chip.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from realname.adapters.vision.chip_photo import JPEG_Q25, ChipCompression, simulate_chip_photo
from realname.adapters.vision.images import PillowImageDecoder
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.app.matching import DecodedImage, FaceEngine
from realname.bootstrap.vision import build_face_engine, load_onnx_models
from realname.domain.face import FaceAnalysis, ImageRejected
from realname.domain.policy import Policy

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
RESULTS = REPO_ROOT / "benchmarks" / "results"
MODELS_DIR = REPO_ROOT / "var" / "models"
MAX_PIXELS = 40_000_000
# Bump when an engine's embedding changes, to invalidate its cached embeddings.
EMBEDDING_VERSION = {"sface": "v2", "onnx": "v13", "dlib": "v8"}


def add_data_arguments(parser: argparse.ArgumentParser, *, cache: bool = True) -> None:
    """``--models-dir``, ``--shared`` and (with ``cache``) ``--cache-dir``, as every face benchmark takes them."""
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    if cache:
        parser.add_argument("--cache-dir", type=Path, default=REPO_ROOT / "var" / "bench-cache")
    parser.add_argument("--shared", type=Path, default=SHARED_DATA)


def shared_data_missing(shared: Path) -> bool:
    """True (after saying so on stderr) when the shared face sets are not at ``shared``."""
    if (shared / "faces").is_dir() and (shared / "faces_east_asian").is_dir():
        return False
    print(f"needs the shared face sets in {shared}", file=sys.stderr)
    return True


def sface_engine(models_dir: Path, threads: int) -> tuple[FaceEngine, OnnxFaceModels]:
    """The product's sface engine (default policy) and the faceplugin sessions it shares, for the detector and the
    card-front reader of a benchmark."""
    models = load_onnx_models(models_dir)
    return build_face_engine("sface", models_dir, threads, Policy(), onnx_models=lambda: models), models


def write_results(stem: str, report: Any, markdown: str | None = None) -> None:
    """``benchmarks/results/STEM.json`` (and ``STEM.md`` when given)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if markdown is not None:
        (RESULTS / f"{stem}.md").write_text(markdown, encoding="utf-8")


@dataclass(frozen=True, slots=True)
class FaceImage:
    path: Path
    identity: str
    source: str
    group: str


@dataclass(frozen=True, slots=True)
class FaceSet:
    name: str
    images: tuple[FaceImage, ...]


def calib_fold(identity: str) -> str:
    """``"train"`` or ``"calibrate"``: the fixed identity split of ``faces_east_asian_calib``.

    Training (scripts/train_chip_student.py) may use only the ``train`` fold; thresholds and every accuracy figure
    use the ``calibrate`` fold (and ``faces_east_asian``, which training never sees). Identities, not images, are
    split, so no person is on both sides; a person in both sources of the set has one label and one fold."""
    return "train" if hashlib.sha256(identity.encode("utf-8")).digest()[0] % 2 == 0 else "calibrate"


def load_calib_set(shared: Path = SHARED_DATA, fold: str | None = "calibrate") -> FaceSet:
    """``faces_east_asian_calib`` (bbasian thumbnails and starface photos), restricted to one fold of
    :func:`calib_fold` (all of it when ``fold`` is None). Groups: ``chinese_bbasian``, ``japanese_bbasian``,
    ``korean_bbasian`` and ``starface`` (nationality not stated; the 75 people also in bbasian keep theirs)."""
    images: list[FaceImage] = []
    root = shared / "faces_east_asian_calib"
    with (root / "identities.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if fold is not None and calib_fold(row["identity"]) != fold:
                continue
            nationality = row["group"].split(" ")[0].lower()
            known = nationality in {"chinese", "japanese", "korean"}
            group = f"{nationality}_{row['source']}" if known and row["source"] == "bbasian" else row["source"]
            images.append(FaceImage(root / row["file"], row["identity"], row["source"], group))
    return FaceSet(f"faces_east_asian_calib_{fold or 'all'}", tuple(images))


def load_sets(shared: Path = SHARED_DATA) -> list[FaceSet]:
    """``faces`` (Western, 5 sources) and ``faces_east_asian`` (LFW East Asian + NUAA webcam frames)."""
    western: list[FaceImage] = []
    with (shared / "faces" / "identities.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            source = row["source_repo"].split("/")[-1]
            group = "bbt" if source in {"face-recognition.js", "face-api.js"} else "western_" + source
            western.append(FaceImage(shared / "faces" / row["file"], row["identity"], source, group))
    east: list[FaceImage] = []
    with (shared / "faces_east_asian" / "images.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            raw_group = row["group"].split(" ")[0].split("(")[0].strip().lower()
            group = "chinese_nuaa_webcam" if row["source"] != "lfw" else f"{raw_group}_lfw"
            east.append(
                FaceImage(shared / "faces_east_asian" / "images" / row["file"], row["identity"], row["source"], group)
            )
    return [FaceSet("faces", tuple(western)), FaceSet("faces_east_asian", tuple(east))]


QUALITY_FIELDS = (
    "face_count",
    "face_height_px",
    "sharpness",
    "brightness",
    "yaw_degrees",
    "pitch_degrees",
    "eyes_closed_probability",
)


@dataclass(frozen=True, slots=True)
class Embeddings:
    """Per image: photo embedding and chip embedding (rows of NaN when no face was found), and what the engine
    measured on the photo (``photo_quality``: one column per :data:`QUALITY_FIELDS`, NaN when not measured)."""

    photo: np.ndarray
    chip: np.ndarray
    photo_quality: np.ndarray | None = None


def simulated_chip(
    photo: DecodedImage,
    detector: OnnxFaceModels,
    decoder: PillowImageDecoder,
    compression: ChipCompression = JPEG_Q25,
) -> DecodedImage | None:
    """The photo's largest face as a simulated 102×126 ID-chip photo (``compression``), decoded; None without a
    face. The ONNX detector picks the face for every engine, so that they see the same chip."""
    boxes = detector.detect(photo.rgb)
    if not boxes:
        return None
    box = max(boxes, key=lambda b: b.height)
    chip = simulate_chip_photo(photo.rgb, (box.x0, box.y0, box.x1, box.y1), compression=compression)
    return decoder.decode(chip, max_pixels=MAX_PIXELS)


def quality_row(analysis: FaceAnalysis) -> list[float]:
    """One row of ``Embeddings.photo_quality`` for an analysis."""
    quality = analysis.quality
    row = [float(analysis.face_count)]
    for name in QUALITY_FIELDS[1:]:
        value = getattr(quality, name) if quality is not None else None
        row.append(float("nan") if value is None else float(value))
    return row


def _cache_key(face_set: FaceSet, engine: FaceEngine, suffix: str) -> str:
    text = "|".join(str(i.path) for i in face_set.images) + engine.name + EMBEDDING_VERSION.get(engine.name, "")
    return hashlib.sha256((text + suffix).encode()).hexdigest()[:16]


def stack_embeddings(rows: list[np.ndarray | None]) -> np.ndarray:
    """One row per image: its embedding, or NaN where the image had no face (never a match)."""
    dims = next(len(e) for e in rows if e is not None)
    return np.array([e if e is not None else np.full(dims, np.nan) for e in rows], dtype=np.float32)


def embed_photos(face_set: FaceSet, engine: FaceEngine, cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Photo embeddings (``FaceEngine.analyse``) and their quality rows, cached per set and engine."""
    cache = (
        cache_dir / f"{face_set.name}-{engine.name}-photo-{_cache_key(face_set, engine, 'photo')}.npz"
        if (cache_dir)
        else None
    )
    if cache is not None and cache.is_file():
        stored = np.load(cache)
        return stored["photo"], stored["quality"]
    decoder = PillowImageDecoder()
    photos: list[np.ndarray | None] = []
    qualities: list[list[float]] = []
    for image in face_set.images:
        try:
            decoded = decoder.decode(image.path.read_bytes(), max_pixels=MAX_PIXELS)
        except ImageRejected:
            photos.append(None)
            qualities.append([0.0] + [float("nan")] * (len(QUALITY_FIELDS) - 1))
            continue
        analysis = engine.analyse(decoded)
        photos.append(analysis.embedding)
        qualities.append(quality_row(analysis))
    photo, quality = stack_embeddings(photos), np.array(qualities, dtype=np.float32)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, photo=photo, quality=quality)
    return photo, quality


def embed_set(
    face_set: FaceSet,
    engine: FaceEngine,
    detector: OnnxFaceModels,
    cache_dir: Path | None,
    compression: ChipCompression = JPEG_Q25,
) -> Embeddings:
    """Photo embeddings (cached once per set and engine) and chip embeddings at ``compression`` (cached per
    chip condition)."""
    photo, quality = embed_photos(face_set, engine, cache_dir)
    key = _cache_key(face_set, engine, "chip-" + compression.name)
    cache = cache_dir / f"{face_set.name}-{engine.name}-{compression.name}-{key}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        return Embeddings(photo, np.load(cache)["chip"], quality)
    decoder = PillowImageDecoder()
    chips: list[np.ndarray | None] = []
    for image in face_set.images:
        try:
            decoded = decoder.decode(image.path.read_bytes(), max_pixels=MAX_PIXELS)
        except ImageRejected:
            chips.append(None)
            continue
        chip_image = simulated_chip(decoded, detector, decoder, compression)
        chips.append(None if chip_image is None else engine.analyse_id_photo(chip_image).embedding)
    chip = stack_embeddings(chips)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, chip=chip)
    return Embeddings(photo, chip, quality)


def genuine_pairs(face_set: FaceSet) -> Iterator[tuple[int, int]]:
    for i, j in itertools.combinations(range(len(face_set.images)), 2):
        if face_set.images[i].identity == face_set.images[j].identity:
            yield i, j


def impostor_pairs(face_set: FaceSet) -> Iterator[tuple[int, int]]:
    """Pairs of different people from the same source (pairs across sources are trivially rejected)."""
    for i, j in itertools.combinations(range(len(face_set.images)), 2):
        a, b = face_set.images[i], face_set.images[j]
        if a.identity != b.identity and a.source == b.source:
            yield i, j


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity; NaN (no face on a side) stays NaN."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
