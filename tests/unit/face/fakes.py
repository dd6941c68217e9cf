"""Typed fakes of the matching ports: an engine that reads pre-set analyses, a decoder keyed by bytes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from realname.app.matching import DecodedImage, analyse_in_turn
from realname.domain.card_front import PortraitNotFound
from realname.domain.face import (
    FaceAnalysis,
    FaceQuality,
    FaceReason,
    ImageRejected,
    ReferenceKind,
    ReferenceThresholds,
)

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
    references, ``photo_threshold`` (default: the same) for photo references, ``printed_threshold`` (default: the
    photo one) for printed portraits."""

    def __init__(
        self,
        names: list[str],
        analyses: dict[str, FaceAnalysis],
        threshold: float = 0.5,
        photo_threshold: float | None = None,
        printed_threshold: float | None = None,
    ) -> None:
        self._names = names
        self._analyses = analyses
        self._thresholds = ReferenceThresholds(
            chip=threshold, photo=threshold if photo_threshold is None else photo_threshold, printed=printed_threshold
        )
        self.calls: list[tuple[str, str]] = []

    @property
    def name(self) -> str:
        return "fake"

    def threshold_for(self, kind: ReferenceKind) -> float:
        return self._thresholds.for_kind(kind)

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


class FakePrintedPortraitReader:
    """Locates the printed portrait registered for a card-front image's marker (``portraits``: card name → portrait
    name; a card missing there has no portrait) and returns the same-photograph similarity registered for
    (portrait, chip) (``similarities``; missing pairs: None, unmeasurable). Records calls."""

    def __init__(
        self,
        names: list[str],
        portraits: dict[str, str],
        similarities: dict[tuple[str, str], float],
        threshold: float = 0.9,
        sizes: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        self._names = names
        self._portraits = portraits
        self._similarities = similarities
        self._threshold = threshold
        self._decoder = MarkedDecoder(names, sizes=sizes)
        self.calls: list[tuple[str, ...]] = []

    @property
    def same_photograph_threshold(self) -> float:
        return self._threshold

    def _name(self, image: DecodedImage) -> str:
        return self._names[int(image.rgb[0, 0, 0])]

    def locate(self, card_front: DecodedImage) -> DecodedImage:
        card = self._name(card_front)
        self.calls.append(("locate", card))
        if card not in self._portraits:
            raise PortraitNotFound("the fake finds no portrait")
        return self._decoder.decode(f"img:{self._portraits[card]}".encode(), max_pixels=10**6)

    def same_photograph_similarity(self, printed_portrait: DecodedImage, chip: DecodedImage) -> float | None:
        pair = (self._name(printed_portrait), self._name(chip))
        self.calls.append(("check", *pair))
        return self._similarities.get(pair)
