"""1:1 face matching use cases and the ports they need: ``FaceEngine`` and ``ImageDecoder``.

``compare_faces`` matches one live photo to an ID photo; ``match_frames`` matches the best frames of a live
capture (e.g. the liveness challenge clip) to it. Both return a :class:`FaceComparison` — a mismatch or a
failed quality gate is an outcome with reasons, not an error. The threshold that decides is the engine's for the
kind of reference portrait (:func:`realname.domain.face.reference_kind` of the decoded ID photo's size): a soft
chip portrait and a sharp photo are calibrated separately.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from realname.domain.face import (
    FaceAnalysis,
    FaceMatch,
    FaceReason,
    ImageRejected,
    QualityGates,
    ReferenceKind,
    combine_reasons,
    cosine_similarity,
    fuse_similarities,
    id_photo_reasons,
    is_match,
    live_capture_reasons,
    reference_kind,
    select_frames,
)
from realname.domain.policy import Policy


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """Pixels of one image: ``rgb`` is H×W×3 uint8, upright (EXIF orientation applied), no alpha. ``printed``: a
    portrait cut from a photographed print (an ID card's front), whose halftone and security print an engine may
    smooth away before embedding."""

    rgb: npt.NDArray[np.uint8]
    printed: bool = False

    def __post_init__(self) -> None:
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
            raise ValueError("DecodedImage.rgb must be an HxWx3 uint8 array")

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def reference_kind(self) -> ReferenceKind:
        """What this image is when it is the reference portrait: a chip-sized portrait, or a sharper photo — a
        printed portrait when it was cut from a card front."""
        kind = reference_kind(self.width, self.height)
        return ReferenceKind.PRINTED if self.printed and kind is ReferenceKind.PHOTO else kind


class ImageDecoder(Protocol):
    def decode(self, data: bytes, *, max_pixels: int) -> DecodedImage:
        """Decode JPEG/PNG/WebP bytes.

        Raises:
            ImageRejected: code ``image.invalid``, ``image.too_large`` or ``image.unsupported_format``.
        """
        ...


class FaceEngine(Protocol):
    """Finds faces, measures the quality of the main one and embeds it. Thread-safe."""

    @property
    def name(self) -> str: ...

    def threshold_for(self, kind: ReferenceKind) -> float:
        """The cosine-similarity threshold calibrated for references of ``kind`` (``similarity >= threshold``)."""
        ...

    def analyse(self, image: DecodedImage) -> FaceAnalysis:
        """Count the faces; measure and embed the largest one."""
        ...

    def analyse_id_photo(self, image: DecodedImage) -> FaceAnalysis:
        """Like :meth:`analyse`, for a small compressed ID-card photo (upscaled as the engine needs)."""
        ...

    def analyse_all(
        self, id_photo: DecodedImage, live: Sequence[DecodedImage]
    ) -> tuple[FaceAnalysis, list[FaceAnalysis]]:
        """``analyse_id_photo(id_photo)`` and ``analyse`` of each live image, with the same results; an engine
        may work on them concurrently."""
        ...


def analyse_in_turn(
    engine: FaceEngine, id_photo: DecodedImage, live: Sequence[DecodedImage]
) -> tuple[FaceAnalysis, list[FaceAnalysis]]:
    """:meth:`FaceEngine.analyse_all` for an engine that analyses one image after the other."""
    return engine.analyse_id_photo(id_photo), [engine.analyse(image) for image in live]


@dataclass(frozen=True, slots=True)
class FaceComparison:
    """The outcome of a comparison; ``id_reasons`` and ``live_reasons`` say which side failed."""

    match: FaceMatch
    id_reasons: tuple[FaceReason, ...] = ()
    live_reasons: tuple[FaceReason, ...] = ()


def decode_or_reason(
    decoder: ImageDecoder, data: bytes, policy: Policy
) -> tuple[DecodedImage | None, tuple[FaceReason, ...]]:
    """Decode, turning an unusable image into its reason instead of an error."""
    try:
        return decoder.decode(data, max_pixels=policy.max_image_pixels), ()
    except ImageRejected as exc:
        return None, (exc.reason,)


def compare_faces(
    id_photo_bytes: bytes,
    live_photo_bytes: bytes,
    engine: FaceEngine,
    policy: Policy,
    decoder: ImageDecoder,
    gates: QualityGates | None = None,
) -> FaceComparison:
    """Match one live photo to an ID photo.

    Args:
        id_photo_bytes: the ID-card photo (JPEG/PNG/WebP; chip resolution is fine).
        live_photo_bytes: the live capture.
        engine: the face engine; its threshold for the ID photo's reference kind decides.
        policy: limits (``max_image_pixels``).
        decoder: turns bytes into pixels.
        gates: quality limits for the live capture (defaults when None).

    Returns:
        A comparison whose ``match.matched`` is True only if both images are usable, the live capture
        passes every gate and the similarity reaches the engine's threshold. An undecodable ID photo counts as
        a chip (the stricter reading is irrelevant then: nothing matches without it).
    """
    id_image, id_reasons = decode_or_reason(decoder, id_photo_bytes, policy)
    live_image, live_reasons = decode_or_reason(decoder, live_photo_bytes, policy)
    id_analysis: FaceAnalysis | None = None
    live_analysis: FaceAnalysis | None = None
    if id_image is not None and live_image is not None:
        id_analysis, (live_analysis,) = engine.analyse_all(id_image, [live_image])
    elif id_image is not None:
        id_analysis = engine.analyse_id_photo(id_image)
    elif live_image is not None:
        live_analysis = engine.analyse(live_image)
    kind = id_image.reference_kind if id_image is not None else ReferenceKind.CHIP
    return decide_comparison(
        id_analysis, live_analysis, engine, gates or QualityGates(), kind, id_reasons, live_reasons
    )


def decide_comparison(
    id_analysis: FaceAnalysis | None,
    live_analysis: FaceAnalysis | None,
    engine: FaceEngine,
    gates: QualityGates,
    reference: ReferenceKind,
    id_reasons: tuple[FaceReason, ...] = (),
    live_reasons: tuple[FaceReason, ...] = (),
) -> FaceComparison:
    """The decision on two analyses already made (used by batch runs that analyse each image once);
    ``reference`` is the kind of the decoded ID photo, which picks the threshold."""
    if id_analysis is not None:
        id_reasons = combine_reasons(id_reasons, id_photo_reasons(id_analysis))
    if live_analysis is not None:
        live_reasons = combine_reasons(live_reasons, live_capture_reasons(live_analysis, gates))
    similarity: float | None = None
    if (
        id_analysis is not None
        and live_analysis is not None
        and id_analysis.embedding is not None
        and live_analysis.embedding is not None
    ):
        similarity = cosine_similarity(id_analysis.embedding, live_analysis.embedding)
    reasons = combine_reasons(id_reasons, live_reasons)
    threshold = engine.threshold_for(reference)
    matched = similarity is not None and not reasons and is_match(similarity, threshold)
    return FaceComparison(
        FaceMatch(matched, similarity, threshold, engine.name, reasons, reference=reference), id_reasons, live_reasons
    )


def match_frames(
    id_photo: DecodedImage,
    frames: Sequence[DecodedImage],
    engine: FaceEngine,
    k: int = 3,
    gates: QualityGates | None = None,
) -> FaceComparison:
    """Match the best ``k`` usable frames of a live capture to the ID photo and fuse their similarities.

    Frames with no face, several faces or a failed gate are not used. The usable frames are ranked by
    :func:`realname.domain.face.quality_rank`; the similarities of the best ``k`` are fused by
    :func:`realname.domain.face.fuse_similarities` (mean) and compared with the engine's threshold for the ID
    photo's reference kind.
    When no frame is usable, the reasons of the frame that came closest (a face, fewest reasons) are returned.
    """
    if not frames:
        raise ValueError("match_frames needs at least one frame")
    gates = gates or QualityGates()
    reference = id_photo.reference_kind
    threshold = engine.threshold_for(reference)
    id_analysis, analyses = engine.analyse_all(id_photo, frames)
    id_reasons = id_photo_reasons(id_analysis)
    usable = [a for a in analyses if not live_capture_reasons(a, gates)]
    if not usable:
        closest = min(analyses, key=lambda a: (a.face_count == 0, len(live_capture_reasons(a, gates))))
        live_reasons = live_capture_reasons(closest, gates)
        reasons = combine_reasons(id_reasons, live_reasons)
        failed = FaceMatch(False, None, threshold, engine.name, reasons, frames_used=0, reference=reference)
        return FaceComparison(failed, id_reasons, live_reasons)
    qualities = [a.quality for a in usable if a.quality is not None]
    chosen = [usable[i] for i in select_frames(qualities, k)]
    if id_analysis.embedding is None:
        failed = FaceMatch(False, None, threshold, engine.name, id_reasons, frames_used=0, reference=reference)
        return FaceComparison(failed, id_reasons, ())
    similarities = [cosine_similarity(id_analysis.embedding, a.embedding) for a in chosen if a.embedding is not None]
    fused = fuse_similarities(similarities)
    matched = not id_reasons and is_match(fused, threshold)
    result = FaceMatch(
        matched, fused, threshold, engine.name, id_reasons, frames_used=len(similarities), reference=reference
    )
    return FaceComparison(result, id_reasons, ())
