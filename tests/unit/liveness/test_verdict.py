"""The clip verdict: order, too fast, window, frozen frames, timing, faces, identity and spoofing."""

from __future__ import annotations

from dataclasses import replace

from realname.domain.liveness import Action, FrameObservation, LivenessThresholds, Reason, evaluate_clip
from tests.unit.liveness.series import blink, edit, frontal, nod, turn

RULES = LivenessThresholds()
ASKED = (Action.TURN_LEFT, Action.BLINK, Action.NOD)


def performed() -> list[FrameObservation]:
    """Turn left 1.0–2.5 s, blink at 3.5 s, nod 4.5–5.5 s."""
    return nod(blink(turn(frontal(7.0), 1.0, 2.5, yaw=30.0), 3.5, 3.6), 4.5, 5.5)


def test_the_requested_actions_in_order_pass_with_best_frames() -> None:
    result = evaluate_clip(performed(), RULES, ASKED)
    assert result.passed, result.reasons
    assert result.reasons == ()
    assert [a.action for a in result.actions_detected] == list(ASKED)
    assert 1 <= len(result.best_frames) <= RULES.best_frames
    assert result.faces_max == 1


def test_the_same_actions_in_another_order_are_rejected_for_order() -> None:
    result = evaluate_clip(performed(), RULES, (Action.NOD, Action.TURN_LEFT, Action.BLINK))
    assert not result.passed
    assert result.reasons == (Reason.ACTION_ORDER,)
    assert result.best_frames == ()


def test_an_action_never_performed_is_missing() -> None:
    result = evaluate_clip(performed(), RULES, (Action.TURN_LEFT, Action.TURN_RIGHT))
    assert result.reasons == (Reason.ACTION_MISSING,)


def test_a_mirrored_turn_does_not_answer_the_other_direction() -> None:
    result = evaluate_clip(performed(), RULES, (Action.TURN_RIGHT, Action.BLINK, Action.NOD))
    assert Reason.ACTION_MISSING in result.reasons


def test_a_turn_completed_faster_than_humanly_plausible_is_too_fast() -> None:
    frames = frontal(4.0, fps=30.0)
    frames = edit(frames, 1.0, 1.1, lambda f: replace(f, yaw_degrees=40.0))
    result = evaluate_clip(frames, RULES, (Action.TURN_LEFT,))
    assert result.reasons == (Reason.ACTION_TOO_FAST,)


def test_actions_spread_beyond_the_window_are_outside_it() -> None:
    result = evaluate_clip(performed(), replace(RULES, action_window_seconds=3.0), ASKED)
    assert result.reasons == (Reason.OUTSIDE_WINDOW,)


def test_many_unrequested_movements_are_rejected() -> None:
    frames = frontal(9.0)
    for start in (1.0, 3.0, 5.0):
        frames = turn(frames, start, start + 1.0, yaw=30.0)
        frames = turn(frames, start + 1.2, start + 1.9, yaw=-30.0)
    result = evaluate_clip(frames, RULES, (Action.TURN_RIGHT,))
    assert Reason.ACTION_UNEXPECTED in result.reasons


def test_duplicated_frames_are_frozen() -> None:
    frames = [replace(f, change_from_previous=0.0) if i % 2 else f for i, f in enumerate(performed())]
    result = evaluate_clip(frames, RULES, ASKED)
    assert Reason.FROZEN_FRAMES in result.reasons


def test_timestamps_going_backwards_are_implausible() -> None:
    frames = performed()
    frames[10] = replace(frames[10], t_seconds=frames[8].t_seconds)
    assert Reason.TIMING_IMPLAUSIBLE in evaluate_clip(frames, RULES, ASKED).reasons


def test_a_gap_of_several_seconds_between_frames_is_implausible() -> None:
    frames = [f for f in performed() if not 2.6 < f.t_seconds < 4.4]
    assert Reason.TIMING_IMPLAUSIBLE in evaluate_clip(frames, RULES).reasons


def test_no_face_at_all_is_no_face() -> None:
    frames = [replace(f, faces=0) for f in frontal()]
    assert evaluate_clip(frames, RULES).reasons == (Reason.NO_FACE,)


def test_losing_the_face_for_too_long_is_no_face() -> None:
    frames = edit(performed(), 6.0, 7.0, lambda f: replace(f, faces=0))
    assert Reason.NO_FACE in evaluate_clip(frames, RULES).reasons


def test_a_second_face_in_several_frames_is_rejected() -> None:
    frames = edit(frontal(), 1.0, 1.2, lambda f: replace(f, faces=2))
    result = evaluate_clip(frames, RULES)
    assert result.reasons == (Reason.MULTIPLE_FACES,)
    assert result.faces_max == 2


def test_a_face_that_changes_identity_is_rejected() -> None:
    frames = edit(performed(), 3.0, 4.0, lambda f: replace(f, identity_similarity=0.1))
    assert Reason.IDENTITY_CHANGED in evaluate_clip(frames, RULES, ASKED).reasons


def test_a_face_the_anti_spoofing_model_calls_a_spoof_is_rejected_even_when_actions_are_right() -> None:
    frames = [replace(f, live_probability=0.05) for f in performed()]
    result = evaluate_clip(frames, RULES, ASKED)
    assert result.spoof_suspected
    assert result.reasons == (Reason.SPOOF_SUSPECTED,)


def test_a_few_doubtful_frames_do_not_make_a_spoof() -> None:
    frames = edit(performed(), 2.0, 2.5, lambda f: replace(f, live_probability=0.1))
    assert not evaluate_clip(frames, RULES, ASKED).spoof_suspected


def test_every_violated_rule_is_reported() -> None:
    frames = [replace(f, live_probability=0.05, faces=2) for f in performed()]
    reasons = evaluate_clip(frames, RULES, (Action.TURN_RIGHT,)).reasons
    assert {Reason.SPOOF_SUSPECTED, Reason.MULTIPLE_FACES, Reason.ACTION_MISSING} <= set(reasons)


def test_detect_mode_reports_actions_without_a_challenge() -> None:
    result = evaluate_clip(performed(), RULES, None)
    assert result.passed
    assert result.as_dict()["actions_detected"] == [
        {"action": a.action.value, "start_s": round(a.start_s, 3), "end_s": round(a.end_s, 3)}
        for a in result.actions_detected
    ]
