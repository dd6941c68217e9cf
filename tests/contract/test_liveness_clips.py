"""The real liveness pipeline (PyAV decoder + ONNX analyser + rules) on the shared labelled clips.

Needs ../shared/data/liveness and the installed models (``realname models fetch --dest var/models`` or
``REALNAME_MODELS_DIR``); skips with the reason when either is absent, fails instead under CI=true.
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realname.adapters.vision.clips import PyAvClipDecoder
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.app.liveness import AnalysedFrame, BurstFrame, LivenessChecker
from realname.bootstrap.liveness import build_liveness_checker
from realname.domain.liveness import Action, ClipInvalid, ClipTooLarge, ClipTooLong, Reason
from realname.domain.policy import Policy
from tests.conftest import IN_CI, REPO_ROOT

MODELS_DIR = Path(os.environ.get("REALNAME_MODELS_DIR", REPO_ROOT / "var" / "models"))
L, R, BLINK, NOD = Action.TURN_LEFT, Action.TURN_RIGHT, Action.BLINK, Action.NOD


@pytest.fixture(scope="module")
def liveness_dir(shared_data: Path) -> Path:
    return shared_data / "liveness"


@pytest.fixture(scope="module")
def checker() -> LivenessChecker:
    if not (MODELS_DIR / "fr_detect.onnx").is_file():
        message = f"needs the face models in {MODELS_DIR} (run `realname models fetch --dest var/models`)"
        if IN_CI:
            pytest.fail(message + " (CI=true: models must be installed)")
        pytest.skip(message)
    return build_liveness_checker(OnnxFaceModels.load(MODELS_DIR, threads=1), Policy())


class AnalysedClips:
    """Each clip is decoded and analysed once per module; checks against several challenges reuse it."""

    def __init__(self, checker: LivenessChecker, folder: Path) -> None:
        self._checker = checker
        self._folder = folder
        self._cache: dict[str, Sequence[AnalysedFrame]] = {}
        self._decoder = PyAvClipDecoder(max_bytes=Policy().max_upload_bytes, max_seconds=Policy().max_clip_seconds)

    def frames(self, name: str) -> Sequence[AnalysedFrame]:
        if name not in self._cache:
            decoded = self._decoder.decode_video((self._folder / name).read_bytes())
            self._cache[name] = self._checker.analyser.analyse(decoded)
        return self._cache[name]


@pytest.fixture(scope="module")
def clips(checker: LivenessChecker, liveness_dir: Path) -> AnalysedClips:
    return AnalysedClips(checker, liveness_dir)


def check(
    checker: LivenessChecker, clips: AnalysedClips, name: str, actions: Sequence[Action]
) -> tuple[bool, set[str]]:
    checked = checker.check_frames(clips.frames(name), actions)
    return checked.passed, {r.value for r in checked.result.reasons}


@pytest.mark.parametrize(
    ("clip", "actions"),
    [
        ("tvl_real_turnR_turnL.mp4", (L, R)),
        ("tvl_real_nod_down_up.mp4", (NOD,)),
        ("fellway_blink_eyesclosed_a.mp4", (BLINK,)),
        ("lp_d9_blinks_a.mp4", (BLINK, BLINK)),
    ],
)
def test_real_clips_performing_the_asked_actions_pass(
    checker: LivenessChecker, clips: AnalysedClips, clip: str, actions: tuple[Action, ...]
) -> None:
    passed, reasons = check(checker, clips, clip, actions)
    assert passed, reasons


def test_a_real_pass_hands_over_frontal_frames_for_matching(checker: LivenessChecker, clips: AnalysedClips) -> None:
    checked = checker.check_frames(clips.frames("tvl_real_turnR_turnL.mp4"), (L, R))
    assert checked.passed
    assert 1 <= len(checked.best_frames_rgb) <= 3
    assert all(frame.ndim == 3 and frame.dtype == np.uint8 for frame in checked.best_frames_rgb)


def test_head_turns_are_named_in_the_subjects_own_directions(checker: LivenessChecker, clips: AnalysedClips) -> None:
    # labels.csv: turn_right_img@1.0-4.25 (the subject's own left), turn_left_img@6.5-9.25 (own right).
    found = checker.check_frames(clips.frames("tvl_real_turnR_turnL.mp4"), None).result.actions_detected
    turns = [(a.action, a.start_s, a.end_s) for a in found if a.action in (L, R)]
    assert [t[0] for t in turns] == [L, R]
    assert 0.5 <= turns[0][1] <= 1.5 and 4.0 <= turns[0][2] <= 5.0
    assert 6.0 <= turns[1][1] <= 7.0


def test_the_same_turns_asked_in_the_other_order_are_rejected(checker: LivenessChecker, clips: AnalysedClips) -> None:
    passed, reasons = check(checker, clips, "tvl_real_turnR_turnL.mp4", (R, L))
    assert not passed
    assert Reason.ACTION_ORDER.value in reasons


def test_an_action_not_performed_is_missing(checker: LivenessChecker, clips: AnalysedClips) -> None:
    passed, reasons = check(checker, clips, "tvl_real_nod_down_up.mp4", (NOD, L))
    assert not passed
    assert reasons == {Reason.ACTION_MISSING.value}


def test_long_eye_closures_are_not_blinks(checker: LivenessChecker, clips: AnalysedClips) -> None:
    passed, reasons = check(checker, clips, "fellway_eyesclosed_b.mp4", (BLINK,))
    assert not passed
    assert Reason.ACTION_MISSING.value in reasons


def test_a_screen_replay_performing_the_actions_is_rejected_as_a_spoof(
    checker: LivenessChecker, clips: AnalysedClips
) -> None:
    checked = checker.check_frames(clips.frames("tvl_screenreplay_turnR_turnL.mp4"), (L, R))
    assert not checked.passed
    assert checked.result.spoof_suspected
    assert Reason.SPOOF_SUSPECTED in checked.result.reasons
    assert checked.best_frames_rgb == ()


@pytest.mark.parametrize("clip", ["lestari_phone_replay.mp4", "silentface_demo_real_phone_print.mp4"])
def test_phone_replays_and_prints_are_spoofs(checker: LivenessChecker, clips: AnalysedClips, clip: str) -> None:
    assert checker.check_frames(clips.frames(clip), None).result.spoof_suspected


def test_two_faces_are_rejected(checker: LivenessChecker, clips: AnalysedClips) -> None:
    result = checker.check_frames(clips.frames("zubair_phone_replay.mp4"), (BLINK,)).result
    assert result.faces_max >= 2
    assert Reason.MULTIPLE_FACES in result.reasons


@pytest.mark.parametrize("clip", ["lestari_real_static.mp4", "lp_d19_frontal_smiles_noaction.mp4"])
def test_real_clips_pass_the_clip_level_rules(checker: LivenessChecker, clips: AnalysedClips, clip: str) -> None:
    result = checker.check_frames(clips.frames(clip), None).result
    assert result.passed, result.reasons
    assert result.actions_detected == () or all(a.action is BLINK for a in result.actions_detected)


def encode(frames_rgb: Sequence[np.ndarray], *, codec: str, container_format: str, fps: int = 15) -> bytes:
    """An in-memory clip, as a kiosk's MediaRecorder would upload it."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.height, stream.width = frames_rgb[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        for index, rgb in enumerate(frames_rgb):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def still_rgb(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        image = next(container.decode(video=0)).to_ndarray(format="rgb24")
    height, width = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    return np.ascontiguousarray(image[:height, :width])


def test_a_real_clip_re_recorded_as_webm_still_passes(checker: LivenessChecker, liveness_dir: Path) -> None:
    """What a kiosk uploads: VP8 in WebM at 15 fps (MediaRecorder), from the same camera frames."""
    with av.open(str(liveness_dir / "tvl_real_turnR_turnL.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0)) if i % 2 == 0]
    webm = encode(frames, codec="libvpx", container_format="webm", fps=15)
    checked = checker.check(webm, (L, R))
    assert checked.passed, checked.result.reasons


@pytest.mark.parametrize(
    "still", ["silentface_image_T1_real.jpg", "silentface_image_F1_fake.jpg", "silentface_image_F2_fake.jpg"]
)
def test_a_still_photo_recorded_as_a_webm_clip_is_rejected(
    checker: LivenessChecker, liveness_dir: Path, still: str
) -> None:
    image = still_rgb(liveness_dir / "stills" / still)
    clip = encode([image] * 45, codec="libvpx", container_format="webm")
    result = checker.check(clip, (BLINK,)).result
    assert not result.passed
    # The eye model can flicker on one re-encoded frame and "see" a blink: the frozen frames still give it away.
    assert Reason.FROZEN_FRAMES in result.reasons


def test_a_printed_photo_sent_as_a_jpeg_burst_is_rejected_as_a_spoof(
    checker: LivenessChecker, liveness_dir: Path
) -> None:
    jpeg = (liveness_dir / "stills" / "silentface_image_F1_fake.jpg").read_bytes()
    burst = [BurstFrame(jpeg, 1_700_000_000_000 + 66.7 * i) for i in range(40)]
    result = checker.check_burst(burst, (BLINK,)).result
    assert not result.passed
    assert {Reason.FROZEN_FRAMES, Reason.SPOOF_SUSPECTED} <= set(result.reasons)


def test_an_mp4_clip_is_sampled_at_about_15_fps_from_its_start() -> None:
    frames = [np.full((48, 64, 3), i * 4, dtype=np.uint8) for i in range(60)]
    clip = encode(frames, codec="libx264", container_format="mp4", fps=30)
    decoded = PyAvClipDecoder(max_bytes=1 << 20, max_seconds=10.0).decode_video(clip)
    times = [f.t_seconds for f in decoded]
    assert times[0] == 0.0
    assert 28 <= len(decoded) <= 31
    assert all(0.05 < b - a < 0.09 for a, b in itertools.pairwise(times))


def test_clip_limits_and_garbage_raise_typed_errors() -> None:
    frames = [np.zeros((32, 32, 3), dtype=np.uint8)] * 12
    long_clip = encode(frames, codec="mpeg4", container_format="mp4", fps=1)
    decoder = PyAvClipDecoder(max_bytes=1 << 20, max_seconds=10.0)
    with pytest.raises(ClipTooLong) as too_long:
        decoder.decode_video(long_clip)
    assert too_long.value.code == "liveness.clip_too_long"
    with pytest.raises(ClipTooLarge):
        PyAvClipDecoder(max_bytes=100, max_seconds=10.0).decode_video(long_clip)
    with pytest.raises(ClipInvalid) as invalid:
        decoder.decode_video(b"definitely not a video" * 10)
    assert invalid.value.code == "liveness.clip_invalid"
    with pytest.raises(ClipInvalid):
        decoder.decode_burst([BurstFrame(b"not a jpeg", 0.0)])


def test_a_small_clip_with_an_absurd_frame_rate_is_refused_before_decoding_it_all() -> None:
    frames = [np.full((16, 16, 3), i % 200, dtype=np.uint8) for i in range(1400)]
    clip = encode(frames, codec="mpeg4", container_format="mp4", fps=240)
    with pytest.raises(ClipInvalid, match="frame rate"):
        PyAvClipDecoder(max_bytes=1 << 22, max_seconds=10.0).decode_video(clip)
