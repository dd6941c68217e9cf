"""Face matching rules: similarity and the threshold decision, the kind of reference portrait (which threshold
applies), quality gates with stable reason codes, frame selection and the multi-frame fusion rule, and the values a
comparison produces.

Pure: standard library and numpy only. Engines (adapters) measure; this module decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from realname.domain.errors import InvalidInput

Embedding = npt.NDArray[np.float32]

# A second-generation ID card's chip portrait is 102×126; a reader hands it over decoded at that size.
CHIP_PORTRAIT_WIDTH_PX = 102
CHIP_PORTRAIT_HEIGHT_PX = 126
# A reference up to this factor larger than the chip portrait in both directions is still treated as a chip
# (a reader or its bridge may rescale it a little); anything larger is a sharper photo.
CHIP_SIZE_TOLERANCE = 1.5


class ReferenceKind(StrEnum):
    """What the reference portrait (the "ID photo" side of a comparison) is; each kind has its own threshold.

    ``CHIP``: the card's chip portrait as a reader delivers it (102×126, wavelet-compressed to about 1 KB, soft).
    ``PHOTO``: anything sharper, e.g. an ordinary photo.
    ``PRINTED``: the card's printed portrait cut from a document-camera image of the card front (photo-sized, but
    printed: halftone, security print, glare); its own threshold where one is calibrated, else the photo one.
    The values are stable: they name the thresholds in ``models.lock`` and appear in audit records.
    """

    CHIP = "chip"
    PHOTO = "photo"
    PRINTED = "printed"


def reference_kind(width_px: int, height_px: int) -> ReferenceKind:
    """``CHIP`` when the decoded reference is at most 1.5× the chip portrait's width and height, else ``PHOTO``."""
    if width_px <= 0 or height_px <= 0:
        raise ValueError("an image has a positive width and height")
    chip_sized = (
        width_px <= CHIP_SIZE_TOLERANCE * CHIP_PORTRAIT_WIDTH_PX
        and height_px <= CHIP_SIZE_TOLERANCE * CHIP_PORTRAIT_HEIGHT_PX
    )
    return ReferenceKind.CHIP if chip_sized else ReferenceKind.PHOTO


@dataclass(frozen=True, slots=True)
class ReferenceThresholds:
    """An engine's calibrated cosine-similarity thresholds, one per reference kind (``printed``: None where the
    engine has none of its own, and a printed portrait is then held to the photo threshold)."""

    chip: float
    photo: float
    printed: float | None = None

    def for_kind(self, kind: ReferenceKind) -> float:
        if kind is ReferenceKind.CHIP:
            return self.chip
        if kind is ReferenceKind.PRINTED and self.printed is not None:
            return self.printed
        return self.photo


class FaceReason(StrEnum):
    """Why a capture cannot be matched (or an image not used). The values are stable, public codes."""

    NO_FACE = "face.none"
    MULTIPLE_FACES = "face.multiple"
    TOO_SMALL = "face.too_small"
    BLURRED = "face.blurred"
    TOO_DARK = "face.too_dark"
    TOO_BRIGHT = "face.too_bright"
    NOT_FRONTAL = "face.not_frontal"
    EYES_CLOSED = "face.eyes_closed"
    IMAGE_INVALID = "image.invalid"
    IMAGE_TOO_LARGE = "image.too_large"
    IMAGE_UNSUPPORTED_FORMAT = "image.unsupported_format"
    IMAGE_TOO_SMALL = "image.too_small"
    IMAGE_ASPECT_RATIO = "image.aspect_ratio"
    # A card front's printed portrait (realname.domain.card_front): not the chip portrait's photograph; not found.
    PORTRAIT_MISMATCH = "document.portrait_mismatch"
    PORTRAIT_NOT_FOUND = "document.portrait_not_found"


class ImageRejected(InvalidInput):
    """An image that cannot be used at all (unreadable, too large or small, odd shape, wrong format). ``code`` is
    an image.* reason."""

    code = FaceReason.IMAGE_INVALID.value

    @property
    def reason(self) -> FaceReason:
        return FaceReason(self.code)


@dataclass(frozen=True, slots=True)
class QualityGates:
    """Limits a live capture must meet before it is matched. Defaults suit a kiosk camera at 640×480 or more.

    ``min_sharpness`` is the variance of the Laplacian of the face crop scaled to 112 px high; brightness is
    the mean grey level (0–255) of the face crop; angles are degrees from the engine's pose estimate.
    The eye gate needs both eyes read closed with high probability: fr_eye reads narrow or downcast eyes as
    "closed" with 0.5–0.87 on real open-eyed captures, so a lower limit would reject people, not blinks.

    Limits set by measurement (benchmarks/face_gates.py, 2026-12-06, sface, 1,547 held-out East Asian photos,
    4,166 genuine and 829,174 same-source impostor pairs): no gate refused a single impostor pair that would have
    matched at the shipped threshold, so each gate is pure cost in genuine refusals. Yaw/pitch 25° → 35° (refused
    genuine pairs 24.7 % → 15.9 %), eyes closed 0.9 → 0.99 (a further −2 points; a closed-eye clip frame reads
    0.9988), face height 80 → 60 px (−0.9 points; a kiosk frame's face is 150–250 px). Sharpness and brightness
    cost under 0.1 point and stay; one face stays (who is verified is a rule, not a quality measure).
    """

    min_face_height_px: float = 60.0
    min_sharpness: float = 25.0
    min_brightness: float = 40.0
    max_brightness: float = 215.0
    max_abs_yaw_degrees: float = 35.0
    max_abs_pitch_degrees: float = 35.0
    max_eyes_closed_probability: float = 0.99


@dataclass(frozen=True, slots=True)
class FaceQuality:
    """What an engine measured on the main face of one image. ``None`` means the engine cannot measure it."""

    face_height_px: float
    sharpness: float
    brightness: float
    yaw_degrees: float | None = None
    pitch_degrees: float | None = None
    eyes_closed_probability: float | None = None
    detection_confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class FaceAnalysis:
    """One image as an engine saw it: how many faces, and quality and embedding of the largest one."""

    face_count: int
    quality: FaceQuality | None = None
    embedding: Embedding | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.face_count < 0:
            raise ValueError("face_count cannot be negative")
        if self.face_count > 0 and (self.quality is None or self.embedding is None):
            raise ValueError("an analysis with a face needs its quality and embedding")


@dataclass(frozen=True, slots=True)
class FaceMatch:
    """The result of matching a live capture to an ID photo. ``similarity`` is None when not computable.

    ``matched`` is True only when the similarity reaches the threshold AND no reason was raised. ``threshold`` is the
    one used: the engine's threshold for the ``reference`` kind.
    """

    matched: bool
    similarity: float | None
    threshold: float
    engine: str
    reasons: tuple[FaceReason, ...] = ()
    frames_used: int = 1
    reference: ReferenceKind = field(kw_only=True)

    @property
    def reason_codes(self) -> list[str]:
        return [reason.value for reason in self.reasons]


def cosine_similarity(a: Embedding, b: Embedding) -> float:
    """Cosine of the angle between two embeddings (1 = same direction). Higher means more alike."""
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("embeddings must be 1-D vectors of the same length")
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norm == 0.0:
        raise ValueError("an embedding is the zero vector")
    return float(np.dot(a.astype(np.float64), b.astype(np.float64)) / norm)


def is_match(similarity: float, threshold: float) -> bool:
    """The decision rule: accept when ``similarity >= threshold``."""
    return similarity >= threshold


def quality_reasons(quality: FaceQuality, gates: QualityGates) -> tuple[FaceReason, ...]:
    """Every gate the face fails, in a fixed order (all violations, not the first)."""
    reasons: list[FaceReason] = []
    if quality.face_height_px < gates.min_face_height_px:
        reasons.append(FaceReason.TOO_SMALL)
    if quality.sharpness < gates.min_sharpness:
        reasons.append(FaceReason.BLURRED)
    if quality.brightness < gates.min_brightness:
        reasons.append(FaceReason.TOO_DARK)
    if quality.brightness > gates.max_brightness:
        reasons.append(FaceReason.TOO_BRIGHT)
    yaw_off = quality.yaw_degrees is not None and abs(quality.yaw_degrees) > gates.max_abs_yaw_degrees
    pitch_off = quality.pitch_degrees is not None and abs(quality.pitch_degrees) > gates.max_abs_pitch_degrees
    if yaw_off or pitch_off:
        reasons.append(FaceReason.NOT_FRONTAL)
    if (
        quality.eyes_closed_probability is not None
        and quality.eyes_closed_probability > gates.max_eyes_closed_probability
    ):
        reasons.append(FaceReason.EYES_CLOSED)
    return tuple(reasons)


def live_capture_reasons(analysis: FaceAnalysis, gates: QualityGates) -> tuple[FaceReason, ...]:
    """Reasons a live capture cannot be matched: exactly one face, and that face passes every gate."""
    if analysis.face_count == 0 or analysis.quality is None:
        return (FaceReason.NO_FACE,)
    if analysis.face_count > 1:
        return (FaceReason.MULTIPLE_FACES, *quality_reasons(analysis.quality, gates))
    return quality_reasons(analysis.quality, gates)


def id_photo_reasons(analysis: FaceAnalysis) -> tuple[FaceReason, ...]:
    """An ID photo is taken as it is (chip resolution, compressed); it only needs a face."""
    if analysis.face_count == 0 or analysis.embedding is None:
        return (FaceReason.NO_FACE,)
    return ()


def quality_rank(quality: FaceQuality) -> float:
    """Orders usable frames, best first: frontal, sharp, eyes open, large. Unitless; only the order matters."""
    yaw = abs(quality.yaw_degrees) if quality.yaw_degrees is not None else 0.0
    pitch = abs(quality.pitch_degrees) if quality.pitch_degrees is not None else 0.0
    eyes = quality.eyes_closed_probability or 0.0
    sharpness = float(np.log1p(max(quality.sharpness, 0.0)))
    size = float(np.log1p(max(quality.face_height_px, 0.0)))
    return sharpness + 0.5 * size - yaw / 10.0 - pitch / 15.0 - 2.0 * eyes


def select_frames(qualities: Sequence[FaceQuality], k: int) -> list[int]:
    """Indices of the ``k`` best frames by :func:`quality_rank` (ties keep capture order)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    order = sorted(range(len(qualities)), key=lambda i: (-quality_rank(qualities[i]), i))
    return order[:k]


def fuse_similarities(similarities: Iterable[float]) -> float:
    """The multi-frame rule: the MEAN of the similarities of the selected frames to the ID photo.

    The mean keeps the single-frame threshold meaningful: averaging frames of one impostor does not raise the
    impostor's similarity the way taking the maximum would, so the calibrated threshold still applies, while
    a genuine person's unlucky frame (blur, expression) is outweighed by the others.
    """
    values = [float(v) for v in similarities]
    if not values:
        raise ValueError("no similarities to fuse")
    return float(np.mean(values))


def combine_reasons(*groups: Iterable[FaceReason]) -> tuple[FaceReason, ...]:
    """All reasons of several groups, each once, in first-seen order."""
    seen: dict[FaceReason, None] = {}
    for group in groups:
        for reason in group:
            seen.setdefault(reason, None)
    return tuple(seen)
