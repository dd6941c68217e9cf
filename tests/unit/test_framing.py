"""The framing guide's rule: one category per preview frame, most pressing first."""

from __future__ import annotations

import numpy as np
import pytest

from realname.domain.framing import FaceInFrame, Framing, framing_feedback, mean_grey

GREY = np.full((240, 320, 3), 128, np.uint8)


def face(left: float = 0.35, top: float = 0.3, size: float = 0.4, confidence: float = 0.99) -> FaceInFrame:
    return FaceInFrame(left, top, left + size * 0.75, top + size, confidence)


@pytest.mark.parametrize(
    ("faces", "expected"),
    [
        ([face()], Framing.READY),
        ([], Framing.NO_FACE),
        ([face(), face(left=0.0, size=0.3)], Framing.MULTIPLE_FACES),
        ([face(size=0.12)], Framing.TOO_FAR),
        ([face(left=0.1, top=0.02, size=0.95)], Framing.TOO_CLOSE),
        ([face(left=0.0, top=0.0, size=0.3)], Framing.OFF_CENTRE),
    ],
)
def test_each_framing_problem_has_its_category(faces: list[FaceInFrame], expected: Framing) -> None:
    assert framing_feedback(faces, GREY) is expected


def test_a_second_face_below_the_liveness_confidence_is_not_counted() -> None:
    # The detector's spurious boxes beside a turned head stay below 0.8 on the labelled clips.
    assert framing_feedback([face(), face(left=0.0, size=0.3, confidence=0.6)], GREY) is Framing.READY


def test_light_is_judged_on_the_face_and_on_the_frame_when_no_face_is_seen() -> None:
    dark = np.full((240, 320, 3), 20, np.uint8)
    assert framing_feedback([], dark) is Framing.TOO_DARK
    assert framing_feedback([face()], dark) is Framing.TOO_DARK
    lit_face_dark_room = dark.copy()
    lit_face_dark_room[72:168, 112:184] = 150  # the face's box
    assert framing_feedback([face()], lit_face_dark_room) is Framing.READY
    assert framing_feedback([face()], np.full((240, 320, 3), 250, np.uint8)) is Framing.TOO_BRIGHT


def test_mean_grey_weights_the_channels_as_bt601() -> None:
    green = np.zeros((10, 10, 3), np.uint8)
    green[..., 1] = 100
    assert mean_grey(green) == pytest.approx(58.7)
