"""Action detection on synthetic signal series: blinks, turns in the subject's own directions, nods."""

from __future__ import annotations

from dataclasses import replace

import pytest

from realname.domain.liveness import Action, EyeSignal, LivenessThresholds, detect_actions
from tests.unit.liveness.series import CLOSED, blink, edit, frontal, nod, turn

RULES = LivenessThresholds()


def kinds(frames: list) -> list[Action]:  # type: ignore[type-arg]
    return [a.action for a in detect_actions(frames, RULES)]


def test_a_still_frontal_face_performs_no_action() -> None:
    assert kinds(frontal()) == []


def test_a_150_ms_closure_of_both_eyes_is_a_blink_with_its_time() -> None:
    found = detect_actions(blink(frontal(), 2.0, 2.14), RULES)
    assert [a.action for a in found] == [Action.BLINK]
    assert found[0].start_s == pytest.approx(2.0)
    assert found[0].end_s == pytest.approx(2.133, abs=0.01)


def test_a_single_closed_sample_still_counts_since_the_closure_may_have_lasted_two_frame_gaps() -> None:
    assert kinds(blink(frontal(), 2.0, 2.0)) == [Action.BLINK]


def test_a_closure_longer_than_half_a_second_is_not_a_blink() -> None:
    assert kinds(blink(frontal(), 2.0, 2.8)) == []


def test_a_wink_is_not_a_blink() -> None:
    # One eye closed: the eye model says so for that eye only, and the more open eye keeps the aspect ratio up.
    wink = edit(frontal(), 2.0, 2.13, lambda f: replace(f, eye_closed_probabilities=(CLOSED[0], 0.02)))
    assert kinds(wink) == []
    assert [a.action for a in detect_actions(wink, replace(RULES, eye_signal=EyeSignal.EYE_MODEL))] == []


def test_eyes_closed_from_the_start_then_opening_is_not_a_blink() -> None:
    assert kinds(blink(frontal(), 0.0, 0.2)) == []


def test_blink_is_read_from_the_aspect_ratio_relative_to_the_persons_own_level() -> None:
    narrow = [replace(f, eye_aspect_ratio=0.15) for f in frontal()]
    assert kinds(narrow) == []
    closing = edit(narrow, 2.0, 2.13, lambda f: replace(f, eye_aspect_ratio=0.08))
    assert kinds(closing) == [Action.BLINK]


def test_blink_can_be_read_from_the_eye_model_instead() -> None:
    model_only = edit(frontal(), 2.0, 2.13, lambda f: replace(f, eye_closed_probabilities=CLOSED))
    assert kinds(model_only) == []
    assert [a.action for a in detect_actions(model_only, replace(RULES, eye_signal=EyeSignal.EYE_MODEL))] == [
        Action.BLINK
    ]


def test_positive_yaw_is_the_subjects_own_left_turn() -> None:
    found = detect_actions(turn(frontal(), 1.5, 3.0, yaw=30.0), RULES)
    assert [a.action for a in found] == [Action.TURN_LEFT]
    assert found[0].start_s < 1.6 and found[0].end_s > 2.9


def test_negative_yaw_is_the_subjects_own_right_turn() -> None:
    assert kinds(turn(frontal(), 1.5, 3.0, yaw=-30.0)) == [Action.TURN_RIGHT]


def test_a_small_turn_below_the_threshold_is_not_an_action() -> None:
    assert kinds(turn(frontal(), 1.5, 3.0, yaw=15.0)) == []


def test_a_turn_is_measured_from_the_persons_own_baseline() -> None:
    offset = [replace(f, yaw_degrees=(f.yaw_degrees or 0.0) + 25.0) for f in frontal()]
    assert kinds(offset) == []
    assert kinds(turn(offset, 1.5, 3.0, yaw=-30.0)) != []


def test_a_turn_that_never_comes_back_is_not_counted() -> None:
    assert kinds(turn(frontal(4.0), 2.0, 6.0, yaw=30.0)) == []


def test_pitch_down_then_up_is_a_nod() -> None:
    assert kinds(nod(frontal(), 1.0, 2.0)) == [Action.NOD]


def test_actions_come_out_in_time_order() -> None:
    frames = nod(turn(blink(frontal(8.0), 6.0, 6.1), 1.0, 2.5, yaw=-30.0), 3.5, 4.5)
    assert kinds(frames) == [Action.TURN_RIGHT, Action.NOD, Action.BLINK]


def test_frames_without_a_face_do_not_make_actions() -> None:
    frames = edit(turn(frontal(), 1.5, 3.0, yaw=30.0), 1.4, 3.1, lambda f: replace(f, faces=0))
    assert kinds(frames) == []
