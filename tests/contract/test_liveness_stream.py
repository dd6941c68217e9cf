"""A streamed clip (PyAV over pieces + the ONNX analyser, frames dropped as they are measured) against the same clip
uploaded whole: the same measurements and the same verdict, and refusals of what cannot be streamed.

Needs ../shared/data/liveness and the installed models; skips with the reason when either is absent (fails under CI).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from realname.app.liveness import LivenessChecker
from realname.domain.liveness import Action, ClipInvalid
from tests.contract.test_liveness_clips import checker, liveness_dir
from tests.e2e.media import blank_clip, kiosk_webm, pieces

__all__ = ["checker", "liveness_dir"]  # module-scoped fixtures shared with the whole-clip suite

REAL = "tvl_real_turnR_turnL.mp4"


@pytest.mark.parametrize("count", [1, 7, 40])
def test_a_clip_streamed_in_pieces_is_measured_and_decided_as_uploaded_whole(
    checker: LivenessChecker, liveness_dir: Path, count: int
) -> None:
    webm = kiosk_webm(liveness_dir / REAL)
    whole = checker.analyser.analyse(checker.decoder.decode_video(webm))
    stream = checker.begin_stream()
    seen = []
    for piece in pieces(webm, count):
        stream.feed(piece)
        seen.append(stream.frames_analysed)
    streamed = stream.finish()
    assert seen == sorted(seen) and (count == 1 or seen[0] < seen[-1])
    assert len(streamed) == len(whole)
    # Only the pictures differ: a stream keeps one candidate per second, so fewer frames are rated for matching.
    assert [replace(f.observation, frontal_quality=None) for f in streamed] == [
        replace(f.observation, frontal_quality=None) for f in whole
    ]
    kept = [f for f in streamed if f.image_rgb is not None]
    assert 0 < len(kept) <= 11 and all(f.observation.frontal_quality is not None for f in kept)
    streamed_verdict = checker.check_frames(streamed, (Action.TURN_LEFT, Action.TURN_RIGHT))
    whole_verdict = checker.check_frames(whole, (Action.TURN_LEFT, Action.TURN_RIGHT))
    assert streamed_verdict.passed and whole_verdict.passed
    assert streamed_verdict.result.actions_detected == whole_verdict.result.actions_detected
    assert len(streamed_verdict.best_frames_rgb) == 3


def test_a_stream_that_is_not_a_video_container_is_refused_at_its_first_piece(checker: LivenessChecker) -> None:
    stream = checker.begin_stream()
    with pytest.raises(ClipInvalid):
        stream.feed(b"GIF89a" + b"\x00" * 4000)


def test_a_stream_without_a_face_decodes_and_a_truncated_one_is_refused(checker: LivenessChecker) -> None:
    stream = checker.begin_stream()
    stream.feed(blank_clip("webm", frames=12, side_px=64))
    frames = stream.finish()
    assert len(frames) >= 10 and all(f.observation.faces == 0 for f in frames)
    truncated = checker.begin_stream()
    truncated.feed(blank_clip("webm", frames=12, side_px=64)[:60])
    with pytest.raises(ClipInvalid):
        truncated.finish()
