"""Typed fakes of the matching ports: an engine that reads pre-set analyses, a decoder keyed by bytes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from realname.app.matching import DecodedImage, analyse_in_turn
from realname.domain.face import FaceAnalysis, FaceQuality, FaceReason, ImageRejected, ReferenceKind

GOOD_QUALITY = FaceQuality(
    face_height_px=200.0,
    sharpness=300.0,
    brightness=120.0,
    yaw_degrees=0.0,
    pitch_degrees=0.0,
    eyes_closed_probability=0.0,
)


def unit_vector(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def face(embedding: np.ndarray, quality: FaceQuality = GOOD_QUALITY, count: int = 1) -> FaceAnalysis:
    return FaceAnalysis(face_count=count, quality=quality, embedding=embedding)


class MarkedDecoder:
    """Decodes ``b"img:<name>"`` into an image whose first pixel encodes the name's index (4×4, a chip-sized
    reference, unless ``sizes`` gives the name's width and height); other bytes raise the image.* error named in
    ``errors``."""

    def __init__(
        self,
        names: list[str],
        errors: dict[bytes, FaceReason] | None = None,
        sizes: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        self._names = names
        self._errors = errors or {}
        self._sizes = sizes or {}
        self.max_pixels_seen: list[int] = []

    def decode(self, data: bytes, *, max_pixels: int) -> DecodedImage:
        self.max_pixels_seen.append(max_pixels)
        if data in self._errors:
            raise ImageRejected("rejected by the fake", code=self._errors[data])
        name = data.decode().removeprefix("img:")
        width, height = self._sizes.get(name, (4, 4))
        rgb = np.zeros((height, width, 3), dtype=np.uint8)
        rgb[0, 0, 0] = self._names.index(name)
        return DecodedImage(rgb)


class FakeFaceEngine:
    """Returns the analysis registered for the image's marker; records calls. ``threshold`` is for chip
    references, ``photo_threshold`` (default: the same) for photo references."""

    def __init__(
        self,
        names: list[str],
        analyses: dict[str, FaceAnalysis],
        threshold: float = 0.5,
        photo_threshold: float | None = None,
    ) -> None:
        self._names = names
        self._analyses = analyses
        self._thresholds = {
            ReferenceKind.CHIP: threshold,
            ReferenceKind.PHOTO: threshold if photo_threshold is None else photo_threshold,
        }
        self.calls: list[tuple[str, str]] = []

    @property
    def name(self) -> str:
        return "fake"

    def threshold_for(self, kind: ReferenceKind) -> float:
        return self._thresholds[kind]

    def _lookup(self, image: DecodedImage) -> FaceAnalysis:
        return self._analyses[self._names[int(image.rgb[0, 0, 0])]]

    def analyse(self, image: DecodedImage) -> FaceAnalysis:
        self.calls.append(("live", self._names[int(image.rgb[0, 0, 0])]))
        return self._lookup(image)

    def analyse_id_photo(self, image: DecodedImage) -> FaceAnalysis:
        self.calls.append(("id", self._names[int(image.rgb[0, 0, 0])]))
        return self._lookup(image)

    def analyse_all(
        self, id_photo: DecodedImage, live: Sequence[DecodedImage]
    ) -> tuple[FaceAnalysis, list[FaceAnalysis]]:
        return analyse_in_turn(self, id_photo, live)
