"""Use cases compare_faces and match_frames, with a fake engine and decoder."""

from __future__ import annotations

from dataclasses import replace

import pytest

from realname.app.matching import compare_faces, decide_comparison, match_frames
from realname.domain.face import FaceAnalysis, FaceReason, QualityGates, ReferenceKind
from realname.domain.policy import Policy
from tests.unit.face.fakes import GOOD_QUALITY, FakeFaceEngine, MarkedDecoder, face, unit_vector

NAMES = ["id", "same", "other", "blurred", "nobody", "crowd", "near", "far", "closed", "printed"]
ANALYSES: dict[str, FaceAnalysis] = {
    "id": face(unit_vector(1, 0, 0)),
    "same": face(unit_vector(1, 0.2, 0)),  # cos ≈ 0.98
    "other": face(unit_vector(0, 1, 0)),  # cos 0
    "blurred": face(unit_vector(1, 0.1, 0), replace(GOOD_QUALITY, sharpness=1.0)),
    "nobody": FaceAnalysis(face_count=0),
    "crowd": face(unit_vector(1, 0.1, 0), count=2),
    "near": face(unit_vector(1, 0.9, 0)),  # cos ≈ 0.74
    "far": face(unit_vector(1, 2.0, 0)),  # cos ≈ 0.45
    "closed": face(unit_vector(1, 0, 0), replace(GOOD_QUALITY, eyes_closed_probability=0.999)),
    "printed": face(unit_vector(1, 0, 0)),  # the same face as "id", decoded at a printed portrait's size
}
SIZES = {"printed": (358, 441)}
POLICY = Policy(max_image_pixels=1234)


def run(id_name: str, live_name: str, threshold: float = 0.5, photo_threshold: float | None = None):  # type: ignore[no-untyped-def]
    engine = FakeFaceEngine(NAMES, ANALYSES, threshold, photo_threshold)
    decoder = MarkedDecoder(
        NAMES, {b"broken": FaceReason.IMAGE_INVALID, b"huge": FaceReason.IMAGE_TOO_LARGE}, sizes=SIZES
    )
    id_bytes = id_name.encode() if id_name in {"broken", "huge"} else f"img:{id_name}".encode()
    live_bytes = live_name.encode() if live_name in {"broken", "huge"} else f"img:{live_name}".encode()
    return compare_faces(id_bytes, live_bytes, engine, POLICY, decoder), engine, decoder


def test_same_person_matches_with_similarity_threshold_and_engine() -> None:
    comparison, engine, _ = run("id", "same")
    assert comparison.match.matched
    assert comparison.match.similarity == pytest.approx(0.98, abs=0.01)
    assert comparison.match.threshold == 0.5
    assert comparison.match.engine == "fake"
    assert comparison.match.reasons == ()
    assert engine.calls == [("id", "id"), ("live", "same")]


def test_different_person_does_not_match_and_is_not_an_error() -> None:
    comparison, _, _ = run("id", "other")
    assert not comparison.match.matched
    assert comparison.match.similarity == pytest.approx(0.0, abs=1e-6)
    assert comparison.match.reasons == ()


def test_failed_gate_blocks_a_match_even_above_threshold() -> None:
    comparison, _, _ = run("id", "blurred")
    assert comparison.match.similarity is not None and comparison.match.similarity > 0.9
    assert not comparison.match.matched
    assert comparison.live_reasons == (FaceReason.BLURRED,)


@pytest.mark.parametrize(
    ("live", "reason"),
    [("nobody", FaceReason.NO_FACE), ("crowd", FaceReason.MULTIPLE_FACES), ("closed", FaceReason.EYES_CLOSED)],
)
def test_live_capture_reasons_reach_the_result(live: str, reason: FaceReason) -> None:
    comparison, _, _ = run("id", live)
    assert not comparison.match.matched
    assert reason in comparison.match.reasons
    assert comparison.id_reasons == ()


def test_unusable_images_become_reasons_on_their_side() -> None:
    comparison, _, decoder = run("broken", "huge")
    assert comparison.match.similarity is None
    assert comparison.id_reasons == (FaceReason.IMAGE_INVALID,)
    assert comparison.live_reasons == (FaceReason.IMAGE_TOO_LARGE,)
    assert comparison.match.reason_codes == ["image.invalid", "image.too_large"]
    assert decoder.max_pixels_seen == [1234, 1234]


def test_id_photo_without_face() -> None:
    comparison, _, _ = run("nobody", "same")
    assert comparison.id_reasons == (FaceReason.NO_FACE,)
    assert comparison.match.similarity is None


def test_threshold_comes_from_the_engine() -> None:
    assert run("id", "near", threshold=0.7)[0].match.matched
    assert not run("id", "near", threshold=0.8)[0].match.matched


def test_a_chip_sized_reference_is_decided_by_the_chip_threshold() -> None:
    comparison, _, _ = run("id", "near", threshold=0.7, photo_threshold=0.8)
    assert comparison.match.reference is ReferenceKind.CHIP
    assert comparison.match.threshold == 0.7
    assert comparison.match.matched  # cos 0.74


def test_a_larger_reference_is_decided_by_the_photo_threshold() -> None:
    comparison, _, _ = run("printed", "near", threshold=0.7, photo_threshold=0.8)
    assert comparison.match.reference is ReferenceKind.PHOTO
    assert comparison.match.threshold == 0.8
    assert not comparison.match.matched  # cos 0.74 < 0.8
    assert run("printed", "near", threshold=0.8, photo_threshold=0.7)[0].match.matched


def test_an_undecodable_reference_records_the_chip_threshold() -> None:
    comparison, _, _ = run("broken", "same", threshold=0.6, photo_threshold=0.9)
    assert comparison.match.reference is ReferenceKind.CHIP and comparison.match.threshold == 0.6
    assert not comparison.match.matched


def test_decide_comparison_uses_the_given_reference_kind() -> None:
    engine = FakeFaceEngine(NAMES, ANALYSES, threshold=0.7, photo_threshold=0.8)
    for kind, matched in ((ReferenceKind.CHIP, True), (ReferenceKind.PHOTO, False)):
        comparison = decide_comparison(ANALYSES["id"], ANALYSES["near"], engine, QualityGates(), kind)
        assert comparison.match.reference is kind
        assert comparison.match.threshold == engine.threshold_for(kind)
        assert comparison.match.matched is matched


def _frames(*names: str):  # type: ignore[no-untyped-def]
    decoder = MarkedDecoder(NAMES, sizes=SIZES)
    return [decoder.decode(f"img:{n}".encode(), max_pixels=10) for n in names]


def test_match_frames_fuses_the_best_usable_frames_by_mean() -> None:
    engine = FakeFaceEngine(NAMES, ANALYSES, threshold=0.6)
    id_photo, *frames = _frames("id", "near", "far", "nobody", "blurred")
    comparison = match_frames(id_photo, frames, engine, k=2)
    assert comparison.match.frames_used == 2  # "nobody" and "blurred" are not usable
    assert comparison.match.similarity == pytest.approx((0.7433 + 0.4472) / 2, abs=1e-3)
    assert not comparison.match.matched  # 0.595 < 0.6


def test_match_frames_uses_only_k_frames() -> None:
    engine = FakeFaceEngine(NAMES, ANALYSES, threshold=0.6)
    id_photo, *frames = _frames("id", "near", "same", "far")
    comparison = match_frames(id_photo, frames, engine, k=1)
    assert comparison.match.frames_used == 1
    assert comparison.match.matched


def test_match_frames_with_no_usable_frame_returns_reasons() -> None:
    engine = FakeFaceEngine(NAMES, ANALYSES)
    id_photo, *frames = _frames("id", "nobody", "blurred")
    comparison = match_frames(id_photo, frames, engine, k=3)
    assert not comparison.match.matched
    assert comparison.match.frames_used == 0
    assert comparison.match.reasons == (FaceReason.BLURRED,)


def test_match_frames_picks_the_threshold_from_the_reference_kind() -> None:
    engine = FakeFaceEngine(NAMES, ANALYSES, threshold=0.6, photo_threshold=0.9)
    chip, printed, *frames = _frames("id", "printed", "near", "same")
    on_chip = match_frames(chip, frames, engine, k=2).match
    on_print = match_frames(printed, frames, engine, k=2).match
    assert on_chip.similarity == pytest.approx(on_print.similarity)
    assert (on_chip.reference, on_chip.threshold, on_chip.matched) == (ReferenceKind.CHIP, 0.6, True)
    assert (on_print.reference, on_print.threshold, on_print.matched) == (ReferenceKind.PHOTO, 0.9, False)


def test_a_printed_portrait_is_decided_by_the_printed_threshold() -> None:
    """A photo-sized portrait cut from a card front is its own kind, with its own threshold when the engine has one."""
    engine = FakeFaceEngine(NAMES, ANALYSES, threshold=0.6, photo_threshold=0.9, printed_threshold=0.7)
    printed_photo, *frames = _frames("printed", "near", "same")
    printed = replace(printed_photo, printed=True)
    assert (printed_photo.reference_kind, printed.reference_kind) == (ReferenceKind.PHOTO, ReferenceKind.PRINTED)
    as_photo = match_frames(printed_photo, frames, engine, k=2).match
    as_printed = match_frames(printed, frames, engine, k=2).match
    assert (as_photo.reference, as_photo.threshold, as_photo.matched) == (ReferenceKind.PHOTO, 0.9, False)
    assert (as_printed.reference, as_printed.threshold, as_printed.matched) == (ReferenceKind.PRINTED, 0.7, True)
    chip = replace(_frames("id")[0], printed=True)  # a chip-sized cut stays a chip
    assert chip.reference_kind is ReferenceKind.CHIP


def test_match_frames_needs_frames() -> None:
    engine = FakeFaceEngine(NAMES, ANALYSES)
    with pytest.raises(ValueError, match="at least one frame"):
        match_frames(_frames("id")[0], [], engine)
