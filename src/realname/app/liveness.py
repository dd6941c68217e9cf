"""Liveness use cases and the ports they need: issue a challenge, analyse a clip, check a response.

Flow (DESIGN.md, "Register a number"): the server issues a :class:`~realname.domain.liveness.Challenge` for an
attempt (:func:`issue_challenge`); the kiosk records a clip or a frame burst and uploads it with the nonce;
:func:`check_liveness` consumes the challenge (single use, TTL, same attempt and device) and asks the
:class:`LivenessChecker` for a verdict. Frames stay in memory only; the best frontal frames are handed back for
1:1 matching and must be dropped by the caller once the decision is made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from realname.app.ports import Clock, RandomSource
from realname.domain.errors import DependencyUnavailable
from realname.domain.liveness import (
    Action,
    Challenge,
    ChallengeLimitReached,
    FrameObservation,
    LivenessResult,
    LivenessThresholds,
    Reason,
    evaluate_clip,
    new_challenge,
)
from realname.domain.policy import Policy

ImageRgb = npt.NDArray[np.uint8]
CAPTURE_CLOCK_SKEW_SECONDS = 30.0


@dataclass(frozen=True, slots=True, eq=False)
class DecodedFrame:
    """One sampled frame: capture time from the start of the clip and the RGB pixels (never persisted)."""

    t_seconds: float
    image_rgb: ImageRgb


@dataclass(frozen=True, slots=True, eq=False)
class BurstFrame:
    """One frame of a JPEG burst as uploaded: the encoded bytes and the device's capture time (Unix ms)."""

    jpeg: bytes
    captured_at_ms: float


@dataclass(frozen=True, slots=True, eq=False)
class AnalysedFrame:
    """A frame's measured signals, with its pixels kept in memory for picking frames to match (None when the
    analysis dropped them: such a frame has no ``frontal_quality`` and is never picked)."""

    observation: FrameObservation
    image_rgb: ImageRgb | None


class ClipDecoder(Protocol):
    """Turns an uploaded response into time-stamped frames, enforcing size and duration limits.

    Raises ``ClipTooLarge``, ``ClipTooLong`` or ``ClipInvalid`` (``realname.domain.liveness``).
    """

    def decode_video(self, data: bytes) -> Sequence[DecodedFrame]: ...

    def decode_burst(self, frames: Sequence[BurstFrame]) -> Sequence[DecodedFrame]: ...


class FrameAnalyser(Protocol):
    """Measures every frame of one clip (tracking the face across frames, so it takes the whole clip)."""

    def analyse(self, frames: Sequence[DecodedFrame]) -> Sequence[AnalysedFrame]: ...


class StreamedClip(Protocol):
    """A clip analysed while it is recorded: pieces of one encoded video, in order; frames are measured as they
    are decoded and only their measurements (and a few candidate pictures for matching) are kept."""

    @property
    def frames_analysed(self) -> int: ...

    def feed(self, piece: bytes) -> None:
        """Decode and analyse what the piece completes. Raises ClipInvalid, ClipTooLarge, ClipTooLong."""
        ...

    def settled_candidates(self) -> Sequence[tuple[float, ImageRgb]]:
        """The candidate pictures for matching that later frames can no longer replace, each with a provisional
        rating (higher is better), so they can be prepared for matching while the clip still arrives."""
        ...

    def finish(self) -> Sequence[AnalysedFrame]:
        """The stream has ended: analyse the rest; every frame's measurements. Raises as ``feed``."""
        ...

    def abort(self) -> None:
        """Give up and free what the stream holds."""
        ...


class ChallengeStore(Protocol):
    """Server-side challenges. ``consume`` must be atomic: two concurrent responses cannot both succeed."""

    def save(self, challenge: Challenge) -> None: ...

    def get(self, nonce: str) -> Challenge | None: ...

    def issued_for(self, attempt_id: str) -> int:
        """How many challenges were ever issued to the attempt (answered, burnt or live)."""
        ...

    def supersede_live(self, attempt_id: str, now: datetime) -> int:
        """Burn every unanswered challenge of the attempt (they become ``superseded``); return how many."""
        ...

    def consume(self, nonce: str, attempt_id: str, device_id: str, now: datetime) -> Challenge:
        """Mark the challenge used and return it (as it was issued, with ``used=True``).

        Raises:
            ChallengeNotFound, ChallengeWrongAttempt, ChallengeWrongDevice, ChallengeReplayed, ChallengeExpired.
        """
        ...


@dataclass(frozen=True, slots=True, eq=False)
class CheckedClip:
    """The verdict and, when it passed, the best frontal frames (RGB, in memory) for portrait matching."""

    result: LivenessResult
    best_frames_rgb: tuple[ImageRgb, ...]

    @property
    def passed(self) -> bool:
        return self.result.passed


class LivenessChecker:
    """Decode → analyse → decide. One instance per worker; holds no per-request state."""

    def __init__(
        self,
        decoder: ClipDecoder,
        analyser: FrameAnalyser,
        thresholds: LivenessThresholds,
        streams: Callable[[], StreamedClip] | None = None,
    ) -> None:
        self.decoder = decoder
        self.analyser = analyser
        self.thresholds = thresholds
        self._streams = streams

    def begin_stream(self) -> StreamedClip:
        """A clip to be fed in pieces as it is recorded (decide it with :meth:`check_frames` once finished).

        Raises:
            DependencyUnavailable: this checker cannot analyse streamed clips.
        """
        if self._streams is None:
            raise DependencyUnavailable("streamed clips are not supported here", code="models.missing")
        return self._streams()

    def detect(self, clip: bytes) -> LivenessResult:
        """Every action in a clip, with the clip-level rules (faces, identity, spoofing, timing) applied."""
        return self._decide(self.analyser.analyse(self.decoder.decode_video(clip)), None).result

    def check(self, clip: bytes, actions: Sequence[Action]) -> CheckedClip:
        """Whether the clip performs ``actions`` in this order, by one live person, with nothing suspicious."""
        return self._decide(self.analyser.analyse(self.decoder.decode_video(clip)), actions)

    def check_burst(self, frames: Sequence[BurstFrame], actions: Sequence[Action]) -> CheckedClip:
        return self._decide(self.analyser.analyse(self.decoder.decode_burst(frames)), actions)

    def check_frames(self, frames: Sequence[AnalysedFrame], actions: Sequence[Action] | None) -> CheckedClip:
        """Decide already analysed frames (lets a caller analyse once and check several orders)."""
        return self._decide(frames, actions)

    def _decide(self, frames: Sequence[AnalysedFrame], actions: Sequence[Action] | None) -> CheckedClip:
        result = evaluate_clip([f.observation for f in frames], self.thresholds, actions)
        best = tuple(image for ref in result.best_frames if (image := frames[ref.index].image_rgb) is not None)
        return CheckedClip(result, best)


@dataclass(frozen=True, slots=True)
class IssuedChallenge:
    """A newly issued challenge, which of the attempt's challenges it is, and how many live ones it burnt."""

    challenge: Challenge
    number: int
    superseded: int


def issue_challenge(
    *,
    store: ChallengeStore,
    clock: Clock,
    random: RandomSource,
    policy: Policy,
    attempt_id: str,
    device_id: str,
) -> IssuedChallenge:
    """Issue and store a fresh challenge for an attempt on a device; it is the attempt's only live one.

    Each new challenge burns the attempt's unanswered ones, and an attempt gets at most
    ``policy.max_challenges_per_attempt``: otherwise a caller holding a pre-recorded clip could draw
    challenges until one asks for the actions the clip happens to perform, and answer that one.

    Args:
        attempt_id: the attempt the response must be submitted to.
        device_id: the kiosk that will record the response.

    Returns:
        The stored challenge (actions to show, nonce to send back, expiry) and its number in the attempt.

    Raises:
        ChallengeLimitReached: the attempt has had its challenges; a new attempt is needed.
    """
    issued = store.issued_for(attempt_id)
    if issued >= policy.max_challenges_per_attempt:
        raise ChallengeLimitReached(
            f"this attempt has had its {policy.max_challenges_per_attempt} challenges; start a new attempt"
        )
    now = clock.now()
    superseded = store.supersede_live(attempt_id, now)
    order = [Action(name) for name in random.shuffle([a.value for a in Action])]
    challenge = new_challenge(
        attempt_id=attempt_id,
        device_id=device_id,
        policy=policy,
        now=now,
        nonce_bytes=random.token_bytes(16),
        shuffled_actions=order,
    )
    store.save(challenge)
    return IssuedChallenge(challenge, issued + 1, superseded)


@dataclass(frozen=True, slots=True)
class LivenessResponse:
    """What the kiosk uploads in answer to a challenge: a video clip or a JPEG burst, and the nonce."""

    attempt_id: str
    device_id: str
    nonce: str
    clip: bytes | None = None
    burst: tuple[BurstFrame, ...] = ()


def answer_challenge(*, store: ChallengeStore, clock: Clock, attempt_id: str, device_id: str, nonce: str) -> Challenge:
    """Consume the challenge a response answers (before any analysis: a crashed analysis still burns it).

    Raises:
        ChallengeNotFound, ChallengeWrongAttempt, ChallengeWrongDevice, ChallengeReplayed, ChallengeExpired.
    """
    return store.consume(nonce, attempt_id, device_id, clock.now())


def check_liveness(
    *, response: LivenessResponse, store: ChallengeStore, clock: Clock, checker: LivenessChecker
) -> tuple[Challenge, CheckedClip]:
    """Consume the challenge the response answers, then decide the clip against its actions.

    The challenge is consumed *before* analysis, so a failed or crashed analysis still burns the nonce: a
    response can never be retried with the same challenge.

    Returns:
        The consumed challenge and the checked clip (a failed liveness is a result, not an error).

    Raises:
        ChallengeNotFound, ChallengeWrongAttempt, ChallengeWrongDevice, ChallengeReplayed, ChallengeExpired:
            the challenge cannot be used.
        ClipTooLarge, ClipTooLong, ClipInvalid: the upload cannot be analysed.

    A frame burst whose capture times fall outside [issue time, now] (± clock skew) is rejected with
    ``liveness.outside_window``; a video clip carries no trustworthy absolute time, so only the challenge TTL
    bounds it.
    """
    now = clock.now()
    challenge = store.consume(response.nonce, response.attempt_id, response.device_id, now)
    if response.clip is not None:
        return challenge, checker.check(response.clip, challenge.actions)
    checked = checker.check_burst(response.burst, challenge.actions)
    if not _captured_within(response.burst, challenge.issued_at, now):
        checked = CheckedClip(
            replace(
                checked.result,
                passed=False,
                reasons=(*checked.result.reasons, Reason.OUTSIDE_WINDOW),
                best_frames=(),
            ),
            (),
        )
    return challenge, checked


def _captured_within(burst: Sequence[BurstFrame], issued_at: datetime, now: datetime) -> bool:
    """A burst's capture times (device clock, Unix milliseconds) must fall between issue and upload.

    Device clocks drift, so ``CAPTURE_CLOCK_SKEW_SECONDS`` of slack is allowed on either side; a burst recorded
    before the challenge existed (prepared in advance) or stamped in the future is outside the window.
    """
    earliest = (issued_at.timestamp() - CAPTURE_CLOCK_SKEW_SECONDS) * 1000.0
    latest = (now.timestamp() + CAPTURE_CLOCK_SKEW_SECONDS) * 1000.0
    return all(earliest <= frame.captured_at_ms <= latest for frame in burst)


def reason_codes(result: LivenessResult) -> list[str]:
    """The result's reasons as their stable dotted codes (for audit events and transports)."""
    return [Reason(r).value for r in result.reasons]
