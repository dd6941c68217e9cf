"""Domain rules of face matching: decision, quality gates, frame selection and fusion."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from realname.domain.face import (
    FaceAnalysis,
    FaceReason,
    QualityGates,
    ReferenceKind,
    ReferenceThresholds,
    cosine_similarity,
    fuse_similarities,
    id_photo_reasons,
    is_match,
    live_capture_reasons,
    quality_reasons,
    reference_kind,
    select_frames,
)
from tests.unit.face.fakes import GOOD_QUALITY, face, unit_vector

GATES = QualityGates()


def test_decision_accepts_exactly_at_threshold_and_rejects_below() -> None:
    assert is_match(0.5, 0.5)
    assert not is_match(0.4999, 0.5)


@pytest.mark.parametrize(
    ("width", "height", "kind"),
    [
        (102, 126, ReferenceKind.CHIP),  # the chip portrait as a reader delivers it
        (51, 63, ReferenceKind.CHIP),
        (153, 189, ReferenceKind.CHIP),  # exactly 1.5x in both directions
        (154, 189, ReferenceKind.PHOTO),
        (153, 190, ReferenceKind.PHOTO),
        (358, 441, ReferenceKind.PHOTO),  # the printed portrait from a document camera
        (640, 480, ReferenceKind.PHOTO),
        (126, 102, ReferenceKind.CHIP),  # sideways still fits within 1.5x
        (100, 400, ReferenceKind.PHOTO),  # one side too long is enough
    ],
)
def test_reference_kind_is_chip_up_to_one_and_a_half_chip_sizes(width: int, height: int, kind: ReferenceKind) -> None:
    assert reference_kind(width, height) is kind


def test_reference_kind_needs_a_real_size() -> None:
    with pytest.raises(ValueError, match="positive"):
        reference_kind(0, 126)


def test_reference_thresholds_pick_by_kind() -> None:
    thresholds = ReferenceThresholds(chip=0.41, photo=0.47, printed=0.45)
    assert thresholds.for_kind(ReferenceKind.CHIP) == 0.41
    assert thresholds.for_kind(ReferenceKind.PHOTO) == 0.47
    assert thresholds.for_kind(ReferenceKind.PRINTED) == 0.45
    # stable: lock keys and audit values
    assert [kind.value for kind in ReferenceKind] == ["chip", "photo", "printed"]


def test_a_printed_portrait_without_its_own_threshold_is_held_to_the_photo_threshold() -> None:
    assert ReferenceThresholds(chip=0.41, photo=0.47).for_kind(ReferenceKind.PRINTED) == 0.47


def test_cosine_similarity_of_same_orthogonal_and_opposite_vectors() -> None:
    a, b = unit_vector(1, 0, 0), unit_vector(0, 1, 0)
    assert cosine_similarity(a, a) == pytest.approx(1.0)
    assert cosine_similarity(a, b) == pytest.approx(0.0)
    assert cosine_similarity(a, -a) == pytest.approx(-1.0)


def test_cosine_similarity_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="same length"):
        cosine_similarity(unit_vector(1, 0), unit_vector(1, 0, 0))


def test_good_capture_has_no_reasons() -> None:
    assert quality_reasons(GOOD_QUALITY, GATES) == ()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"face_height_px": 40.0}, FaceReason.TOO_SMALL),
        ({"sharpness": 3.0}, FaceReason.BLURRED),
        ({"brightness": 20.0}, FaceReason.TOO_DARK),
        ({"brightness": 240.0}, FaceReason.TOO_BRIGHT),
        ({"yaw_degrees": -40.0}, FaceReason.NOT_FRONTAL),
        ({"pitch_degrees": 36.0}, FaceReason.NOT_FRONTAL),
        ({"eyes_closed_probability": 0.995}, FaceReason.EYES_CLOSED),
    ],
)
def test_each_gate_reports_its_own_reason(change: dict[str, float], reason: FaceReason) -> None:
    assert quality_reasons(replace(GOOD_QUALITY, **change), GATES) == (reason,)


def test_all_failed_gates_are_reported_not_just_the_first() -> None:
    bad = replace(GOOD_QUALITY, face_height_px=10.0, sharpness=1.0, brightness=10.0, eyes_closed_probability=1.0)
    assert quality_reasons(bad, GATES) == (
        FaceReason.TOO_SMALL,
        FaceReason.BLURRED,
        FaceReason.TOO_DARK,
        FaceReason.EYES_CLOSED,
    )


def test_unmeasured_pose_and_eyes_do_not_fail_the_gates() -> None:
    unmeasured = replace(GOOD_QUALITY, yaw_degrees=None, pitch_degrees=None, eyes_closed_probability=None)
    assert quality_reasons(unmeasured, GATES) == ()


def test_live_capture_without_face_or_with_two_faces() -> None:
    assert live_capture_reasons(FaceAnalysis(face_count=0), GATES) == (FaceReason.NO_FACE,)
    two = face(unit_vector(1, 0), count=2)
    assert live_capture_reasons(two, GATES) == (FaceReason.MULTIPLE_FACES,)


def test_id_photo_is_not_gated_on_quality() -> None:
    tiny_blurred = face(unit_vector(1, 0), replace(GOOD_QUALITY, face_height_px=30.0, sharpness=1.0))
    assert id_photo_reasons(tiny_blurred) == ()
    assert id_photo_reasons(FaceAnalysis(face_count=0)) == (FaceReason.NO_FACE,)


def test_analysis_with_a_face_needs_an_embedding() -> None:
    with pytest.raises(ValueError, match="embedding"):
        FaceAnalysis(face_count=1, quality=GOOD_QUALITY, embedding=None)


def test_reason_codes_are_stable_strings() -> None:
    assert {r.value for r in FaceReason} >= {
        "face.none",
        "face.multiple",
        "face.too_small",
        "face.blurred",
        "face.too_dark",
        "face.too_bright",
        "face.not_frontal",
        "face.eyes_closed",
        "image.invalid",
        "image.too_large",
        "image.unsupported_format",
    }


def test_frame_selection_prefers_frontal_sharp_open_eyed_frames() -> None:
    turned = replace(GOOD_QUALITY, yaw_degrees=20.0)
    blurred = replace(GOOD_QUALITY, sharpness=30.0)
    eyes_half = replace(GOOD_QUALITY, eyes_closed_probability=0.45)
    qualities = [turned, blurred, GOOD_QUALITY, eyes_half]
    assert select_frames(qualities, 1) == [2]
    assert select_frames(qualities, 10)[0] == 2
    assert len(select_frames(qualities, 2)) == 2


def test_frame_selection_needs_positive_k() -> None:
    with pytest.raises(ValueError, match="k must"):
        select_frames([GOOD_QUALITY], 0)


def test_fusion_is_the_mean_so_one_bad_frame_is_outweighed() -> None:
    assert fuse_similarities([0.8, 0.7, 0.3]) == pytest.approx(0.6)
    assert fuse_similarities(np.array([0.5])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no similarities"):
        fuse_similarities([])
