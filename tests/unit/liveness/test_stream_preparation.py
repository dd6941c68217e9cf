"""Which candidate pictures a streamed verification analyses for matching while the clip still arrives."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from realname.app.matching import DecodedImage
from realname.app.streamed_verification import LivenessStreams, PreparedFaces
from realname.domain.face import FaceAnalysis, ReferenceKind
from realname.domain.liveness import LivenessThresholds


class CountingEngine:
    name = "counting"

    def __init__(self) -> None:
        self.analysed: list[int] = []

    def threshold_for(self, kind: ReferenceKind) -> float:
        return 0.5

    def analyse(self, image: DecodedImage) -> FaceAnalysis:
        self.analysed.append(int(image.rgb[0, 0, 0]))
        return FaceAnalysis(face_count=0)

    def analyse_id_photo(self, image: DecodedImage) -> FaceAnalysis:
        raise AssertionError("the reference portrait was analysed at the opening")

    def analyse_all(
        self, id_photo: DecodedImage, live: Sequence[DecodedImage]
    ) -> tuple[FaceAnalysis, list[FaceAnalysis]]:
        raise AssertionError("only the live pictures not yet prepared are analysed")


class SettledClip:
    """Settled candidates with their provisional rating."""

    def __init__(self, candidates: list[tuple[float, Any]]) -> None:
        self.candidates = candidates

    def settled_candidates(self) -> list[tuple[float, Any]]:
        return list(self.candidates)


def picture(tag: int) -> Any:
    return np.full((4, 4, 3), tag, dtype=np.uint8)


def streams(best_frames: int = 3) -> LivenessStreams:
    liveness = SimpleNamespace(thresholds=LivenessThresholds(best_frames=best_frames))
    return LivenessStreams(
        verification=None,  # type: ignore[arg-type]
        liveness=lambda: liveness,  # type: ignore[arg-type,return-value]
        face_engine=CountingEngine,
        clock=None,  # type: ignore[arg-type]
        random=None,  # type: ignore[arg-type]
        policy=None,  # type: ignore[arg-type]
    )


def test_only_the_best_settled_candidates_are_analysed_and_each_once() -> None:
    engine = CountingEngine()
    clip = SettledClip([(0.5, picture(1)), (0.9, picture(2)), (0.2, picture(3)), (0.7, picture(4)), (0.6, picture(5))])
    stream = SimpleNamespace(clip=clip, faces=PreparedFaces(engine))
    chooser = streams()
    chooser._prepare_candidates(stream)  # type: ignore[arg-type]
    # best_frames = 3 of them, by rating.
    assert sorted(engine.analysed) == [2, 4, 5]
    chooser._prepare_candidates(stream)  # type: ignore[arg-type]
    assert sorted(engine.analysed) == [2, 4, 5]  # never analysed twice
    clip.candidates.append((0.8, picture(6)))  # a better one settles later: it is analysed too
    chooser._prepare_candidates(stream)  # type: ignore[arg-type]
    assert sorted(engine.analysed) == [2, 4, 5, 6]


def test_the_match_uses_prepared_analyses_and_analyses_only_the_rest() -> None:
    engine = CountingEngine()
    chip = FaceAnalysis(face_count=0)
    faces = PreparedFaces(engine, DecodedImage(picture(9)), chip)
    prepared, fresh = picture(1), picture(2)
    faces.prepare(prepared)
    reference, live = faces.analyse_all(faces._reference, [DecodedImage(prepared), DecodedImage(fresh)])  # type: ignore[arg-type]
    assert reference is chip and len(live) == 2
    assert engine.analysed == [1, 2]
