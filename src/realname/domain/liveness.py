"""Liveness: the server-issued challenge and the rules that decide whether a clip answers it.

Two halves, both pure (no clock, no randomness, no I/O — those are injected):

* the **challenge**: a random order of actions, a 128-bit nonce, an issue time and a TTL, bound to one attempt
  and one device, usable once;
* the **verdict** over a clip: per-frame signals (:class:`FrameObservation`, produced by a vision adapter) are
  turned into detected actions (:func:`detect_actions`), then checked against the challenge
  (:func:`evaluate_clip`): one face throughout, the same face, the actions in order within the window, no
  frozen frames or impossible timing, no sign of a screen or a print.

Directions are the subject's own. ``turn_left`` means the person turns to *their own* left; on an unmirrored
camera image the nose then moves toward the image's **right**. Uploaded frames must never be mirrored (a kiosk
may mirror its preview for the user, not what it sends). Head pose in :class:`FrameObservation` already uses
this convention: ``yaw_degrees`` is positive when the subject turns to their own left, ``pitch_degrees`` is
positive when the chin goes down.
"""

from __future__ import annotations

import enum
import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from realname.domain.errors import Conflict, Forbidden, InvalidInput, TooManyRequests
from realname.domain.policy import Policy

NONCE_BYTES = 16


class Action(enum.StrEnum):
    """What the subject is asked to do, in the subject's own directions."""

    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    NOD = "nod"

    @classmethod
    def parse_list(cls, text: str) -> tuple[Action, ...]:
        """Parse ``"blink,turn_left"``; unknown names raise :class:`InvalidInput`."""
        names = [part.strip() for part in text.split(",") if part.strip()]
        if not names:
            raise InvalidInput("name at least one action", code="liveness.actions_invalid")
        try:
            return tuple(cls(name) for name in names)
        except ValueError as exc:
            allowed = ", ".join(a.value for a in cls)
            raise InvalidInput(f"actions are among: {allowed}", code="liveness.actions_invalid") from exc


class Reason(enum.StrEnum):
    """Stable dotted codes of why a clip was rejected (shown to clerks as categories, audited as is)."""

    NO_FACE = "liveness.no_face"
    MULTIPLE_FACES = "liveness.multiple_faces"
    IDENTITY_CHANGED = "liveness.identity_changed"
    ACTION_MISSING = "liveness.action_missing"
    ACTION_ORDER = "liveness.action_order"
    ACTION_TOO_FAST = "liveness.action_too_fast"
    ACTION_UNEXPECTED = "liveness.action_unexpected"
    OUTSIDE_WINDOW = "liveness.outside_window"
    FROZEN_FRAMES = "liveness.frozen_frames"
    TIMING_IMPLAUSIBLE = "liveness.timing_implausible"
    SPOOF_SUSPECTED = "liveness.spoof_suspected"


# --- errors: the clip or the challenge cannot be used at all ------------------------------------------------


class ClipTooLong(InvalidInput):
    code = "liveness.clip_too_long"


class ClipTooLarge(InvalidInput):
    code = "liveness.clip_too_large"


class ClipInvalid(InvalidInput):
    code = "liveness.clip_invalid"


class StreamUnknown(Conflict):
    """No open stream with this id here: never opened, already ended or given up (a protocol error, a timeout),
    opened by someone else, or opened by another server process (streams are held in the process that opened
    them: a load balancer must route an attempt's requests to one process)."""

    code = "liveness.stream_unknown"


class ChunkDuplicate(Conflict):
    """A chunk's sequence number was already received: the stream is given up (chunks are never retried)."""

    code = "liveness.chunk_duplicate"


class ChunkOutOfOrder(Conflict):
    """A chunk arrived before the one it follows, or while another was still being analysed: the stream is given up."""

    code = "liveness.chunk_out_of_order"


class ChunkMissing(Conflict):
    """The stream was ended with fewer chunks received than the kiosk says it sent: the stream is given up."""

    code = "liveness.chunk_missing"


class StreamsBusy(TooManyRequests):
    """This process already holds as many open streams as it may."""

    code = "liveness.streams_busy"


class ChallengeNotFound(Forbidden):
    """No challenge carries this nonce (never issued, or issued elsewhere)."""

    code = "challenge.nonce_mismatch"


class ChallengeExpired(Conflict):
    code = "challenge.expired"


class ChallengeReplayed(Conflict):
    code = "challenge.replayed"


class ChallengeSuperseded(Conflict):
    """A newer challenge was issued to the attempt: only the newest one may be answered."""

    code = "challenge.superseded"


class ChallengeLimitReached(Conflict):
    """The attempt has had ``policy.max_challenges_per_attempt`` challenges; drawing more could pick one."""

    code = "challenge.limit_reached"


class ChallengeWrongAttempt(Forbidden):
    code = "challenge.wrong_attempt"


class ChallengeWrongDevice(Forbidden):
    code = "challenge.wrong_device"


# --- the challenge --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    """A random sequence of actions the subject must perform, bound to one attempt and one device, used once."""

    attempt_id: str
    device_id: str
    actions: tuple[Action, ...]
    nonce: str
    issued_at: datetime
    ttl_seconds: int
    used: bool = False
    superseded: bool = False
    """Burnt unanswered because a newer challenge was issued to the same attempt."""

    def __post_init__(self) -> None:
        if not self.actions:
            raise ValueError("a challenge has at least one action")
        if len(self.nonce) != 2 * NONCE_BYTES or any(c not in "0123456789abcdef" for c in self.nonce):
            raise ValueError("a challenge nonce is 128 bits as lowercase hex")
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must be an aware UTC datetime")
        if self.ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")

    @property
    def expires_at(self) -> datetime:
        return self.issued_at + timedelta(seconds=self.ttl_seconds)

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def consume(self, *, nonce: str, attempt_id: str, device_id: str, now: datetime) -> Challenge:
        """Check that this response may use the challenge and return it marked as used.

        Raises:
            ChallengeNotFound: the nonce is not this challenge's.
            ChallengeWrongAttempt / ChallengeWrongDevice: it was issued to another attempt or device.
            ChallengeSuperseded: a newer challenge was issued to the attempt.
            ChallengeReplayed: it was already used.
            ChallengeExpired: its TTL has passed.
        """
        if nonce != self.nonce:
            raise ChallengeNotFound("the challenge nonce does not match")
        if attempt_id != self.attempt_id:
            raise ChallengeWrongAttempt("this challenge was issued to another attempt")
        if device_id != self.device_id:
            raise ChallengeWrongDevice("this challenge was issued to another device")
        if self.superseded:
            raise ChallengeSuperseded("a newer challenge was issued to this attempt; answer that one")
        if self.used:
            raise ChallengeReplayed("this challenge was already answered; ask for a new one")
        if self.is_expired(now):
            raise ChallengeExpired("the challenge expired; ask for a new one")
        return replace(self, used=True)

    def __repr__(self) -> str:
        actions = ",".join(a.value for a in self.actions)
        return f"Challenge(attempt={self.attempt_id}, actions={actions}, nonce={self.nonce[:6]}…, used={self.used})"


def new_challenge(
    *,
    attempt_id: str,
    device_id: str,
    policy: Policy,
    now: datetime,
    nonce_bytes: bytes,
    shuffled_actions: Sequence[Action],
) -> Challenge:
    """Build a challenge from injected randomness.

    Args:
        nonce_bytes: 16 random bytes from a CSPRNG.
        shuffled_actions: every :class:`Action` once, in a uniformly random order; the first
            ``policy.challenge_actions`` are asked for.
    """
    if len(nonce_bytes) != NONCE_BYTES:
        raise ValueError("a challenge nonce needs exactly 16 random bytes")
    if sorted(shuffled_actions) != sorted(Action):
        raise ValueError("shuffled_actions must hold every action exactly once")
    return Challenge(
        attempt_id=attempt_id,
        device_id=device_id,
        actions=tuple(shuffled_actions[: policy.challenge_actions]),
        nonce=nonce_bytes.hex(),
        issued_at=now,
        ttl_seconds=policy.challenge_ttl_seconds,
    )


# --- per-frame signals ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FrameObservation:
    """What a vision adapter measured on one sampled frame. ``None`` = not measured on this frame.

    Attributes:
        t_seconds: capture time from the start of the clip.
        faces: faces detected on the frame.
        yaw_degrees: head yaw, positive = the subject turned to their own left (absolute, model scale).
        pitch_degrees: head pitch, positive = chin down (absolute, model scale).
        eye_closed_probabilities: (left, right) probability that each eye is closed.
        eye_aspect_ratio: eye aspect ratio of the more open eye from the 68 landmarks (low = both closed).
        live_probability: passive anti-spoofing probability that the face is live.
        identity_similarity: cosine similarity of this frame's face embedding to the clip's reference face.
        change_from_previous: mean absolute grey-level difference to the previous sampled frame (0–255).
        frontal_quality: higher = sharper, more frontal face; used to pick frames for matching.
    """

    t_seconds: float
    faces: int
    yaw_degrees: float | None = None
    pitch_degrees: float | None = None
    eye_closed_probabilities: tuple[float, float] | None = None
    eye_aspect_ratio: float | None = None
    live_probability: float | None = None
    identity_similarity: float | None = None
    change_from_previous: float | None = None
    frontal_quality: float | None = None


class EyeSignal(enum.StrEnum):
    """Which measurement decides that the eyes are closed.

    Measured on the labelled clips (benchmarks/liveness_bench.py): both found the same 5 of 6 annotated blinks
    with no false one, but fr_eye called a narrow-eyed subject's open eyes closed and "saw" 8 blinks in a clip
    labelled as having no clear blink, where the aspect ratio relative to the person's own level saw none.
    """

    EYE_MODEL = "eye_model"
    ASPECT_RATIO = "aspect_ratio"


@dataclass(frozen=True, slots=True)
class LivenessThresholds:
    """Limits of the clip rules. Defaults were set on ../shared/data/liveness (benchmarks/liveness_bench.py) — a
    tiny set (11 labelled clips), so read the margins below as sanity checks, not as error rates.

    * turns: landmark yaw relative to the first 0.6 s, median of 3; labelled clips without turns stayed within
      ±13° (unlabelled talking heads ±19°), the labelled turns peaked at 27° (the subject's right) and 48°
      (left) — a thin margin on the right side;
    * nods: fr_pose pitch relative to the same baseline; the labelled nod went 13–38° down, gaze-down and
      smiles stayed under 8°;
    * spoofing: fraction of sampled near-frontal faces with fr_liveness probability < 0.5 — at most 25 % on
      real clips (33 % once re-encoded as a 600 kbit/s WebM), at least 69 % on every screen, phone and print
      attack (the low end is a phone replay whose first 1.5 s show the real person); rejected above 60 %.
      A sharp still photograph of a real face scores as live: only the frozen-frame and action rules stop it;
    * identity: embeddings of near-frontal frames against the first; real clips stayed ≥ 0.41, two frames
      below 0.35 are required (a single misdetected frame fell to 0.51);
    * frozen frames: sampled-frame grey change ≤ 0.05 on at most 2 % of a real clip's frames, on all of a
      re-encoded still's.
    """

    eye_signal: EyeSignal = EyeSignal.ASPECT_RATIO
    eye_closed_probability: float = 0.5
    eye_closed_aspect_fraction: float = 0.8
    blink_min_seconds: float = 0.08
    blink_max_seconds: float = 0.5
    turn_yaw_degrees: float = 20.0
    turn_return_yaw_degrees: float = 10.0
    nod_pitch_degrees: float = 12.0
    nod_return_pitch_degrees: float = 6.0
    baseline_seconds: float = 0.6
    min_action_seconds: float = 0.25
    action_window_seconds: float = 10.0
    max_unexpected_actions: int = 2
    max_face_gap_seconds: float = 1.0
    min_multiple_face_frames: int = 3
    min_identity_similarity: float = 0.35
    min_identity_frames: int = 2
    min_live_probability: float = 0.5
    max_spoof_frame_fraction: float = 0.6
    frozen_change_level: float = 0.05
    max_frozen_fraction: float = 0.3
    max_frame_gap_seconds: float = 1.0
    min_frames: int = 5
    best_frames: int = 3


# --- detected actions -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DetectedAction:
    action: Action
    start_s: float
    end_s: float

    @property
    def duration_seconds(self) -> float:
        return self.end_s - self.start_s

    def as_dict(self) -> dict[str, object]:
        return {"action": self.action.value, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3)}


def eyes_closed(
    observation: FrameObservation, thresholds: LivenessThresholds, open_aspect_ratio: float | None = None
) -> bool | None:
    """Both eyes closed on this frame (a wink is not), or ``None`` when the eyes were not measured.

    With :attr:`EyeSignal.ASPECT_RATIO` the eye aspect ratio is compared with the person's own open-eye level
    (``open_aspect_ratio``, the clip's median): eye openings differ a lot between people, and a fixed level
    calls narrow eyes closed.
    """
    if thresholds.eye_signal is EyeSignal.ASPECT_RATIO:
        if observation.eye_aspect_ratio is None or open_aspect_ratio is None:
            return None
        return observation.eye_aspect_ratio < thresholds.eye_closed_aspect_fraction * open_aspect_ratio
    if observation.eye_closed_probabilities is None:
        return None
    left, right = observation.eye_closed_probabilities
    return left >= thresholds.eye_closed_probability and right >= thresholds.eye_closed_probability


def detect_blinks(observations: Sequence[FrameObservation], thresholds: LivenessThresholds) -> list[DetectedAction]:
    """Both eyes close, then reopen, with the closure lasting 80–500 ms.

    Frames are sampled, so a closure's true length is only bracketed: at least the span of the closed frames,
    at most the span between the open frames around them. A run counts when that bracket meets the allowed
    range; a run not preceded and followed by open eyes (clip edge, lost face) is not a blink.
    """
    faces = [o for o in observations if o.faces >= 1]
    ratios = [o.eye_aspect_ratio for o in faces if o.eye_aspect_ratio is not None]
    open_level = statistics.median(ratios) if ratios else None
    states = [(o.t_seconds, eyes_closed(o, thresholds, open_level)) for o in faces]
    blinks: list[DetectedAction] = []
    index = 0
    while index < len(states):
        if states[index][1] is not True:
            index += 1
            continue
        end = index
        while end + 1 < len(states) and states[end + 1][1] is True:
            end += 1
        before = states[index - 1] if index > 0 else None
        after = states[end + 1] if end + 1 < len(states) else None
        if before is not None and after is not None and before[1] is False and after[1] is False:
            shortest = states[end][0] - states[index][0]
            longest = after[0] - before[0]
            if longest >= thresholds.blink_min_seconds and shortest <= thresholds.blink_max_seconds:
                blinks.append(DetectedAction(Action.BLINK, states[index][0], states[end][0]))
        index = end + 1
    return blinks


def _baseline(values: Sequence[tuple[float, float]], seconds: float) -> float | None:
    """The subject's own frontal value: the median over the first ``seconds`` with a measurement."""
    if not values:
        return None
    start = values[0][0]
    early = [v for t, v in values if t - start <= seconds]
    return statistics.median(early if len(early) >= 3 else [v for _, v in values[:3]])


def _smoothed(series: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Median of each value and its neighbours: one misread frame (a common head-pose glitch) cannot split or fake
    an excursion."""
    values = [v for _, v in series]
    return [(t, statistics.median(values[max(0, i - 1) : i + 2])) for i, (t, _) in enumerate(series)]


def _excursions(
    series: Sequence[tuple[float, float]], *, peak: float, release: float, action: Action
) -> list[DetectedAction]:
    """Spans where ``series`` (already relative and signed) rises past ``peak`` and comes back below ``release``.

    The span runs from the last frame at or below ``release`` before the peak to the first one after it, so it
    covers the whole movement; an excursion still open at the end of the clip is not counted ("then back").
    """
    found: list[DetectedAction] = []
    last_rest: float | None = None
    peak_seen = False
    for t, value in series:
        if value <= release:
            if peak_seen and last_rest is not None:
                found.append(DetectedAction(action, last_rest, t))
            peak_seen = False
            last_rest = t
        elif value >= peak and last_rest is not None:
            peak_seen = True
    return found


def detect_head_actions(
    observations: Sequence[FrameObservation], thresholds: LivenessThresholds
) -> list[DetectedAction]:
    """Turns (yaw past the threshold from the frontal baseline, then back) and nods (pitch down, then back up)."""
    actions: list[DetectedAction] = []
    yaw = [(o.t_seconds, o.yaw_degrees) for o in observations if o.faces >= 1 and o.yaw_degrees is not None]
    yaw_base = _baseline(yaw, thresholds.baseline_seconds)
    if yaw_base is not None:
        for sign, action in ((1.0, Action.TURN_LEFT), (-1.0, Action.TURN_RIGHT)):
            relative = _smoothed([(t, sign * (v - yaw_base)) for t, v in yaw])
            actions += _excursions(
                relative, peak=thresholds.turn_yaw_degrees, release=thresholds.turn_return_yaw_degrees, action=action
            )
    pitch = [(o.t_seconds, o.pitch_degrees) for o in observations if o.faces >= 1 and o.pitch_degrees is not None]
    pitch_base = _baseline(pitch, thresholds.baseline_seconds)
    if pitch_base is not None:
        relative = _smoothed([(t, v - pitch_base) for t, v in pitch])
        actions += _excursions(
            relative, peak=thresholds.nod_pitch_degrees, release=thresholds.nod_return_pitch_degrees, action=Action.NOD
        )
    return actions


def detect_actions(observations: Sequence[FrameObservation], thresholds: LivenessThresholds) -> list[DetectedAction]:
    """Every action seen in the clip, ordered by start time."""
    found = detect_blinks(observations, thresholds) + detect_head_actions(observations, thresholds)
    return sorted(found, key=lambda a: (a.start_s, a.end_s))


# --- the verdict ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FrameRef:
    """A sampled frame picked for portrait matching: its position in the observations and its time."""

    index: int
    t_seconds: float


@dataclass(frozen=True, slots=True)
class LivenessResult:
    """The outcome of a clip: a result to audit, not an error."""

    passed: bool
    reasons: tuple[Reason, ...]
    actions_detected: tuple[DetectedAction, ...]
    spoof_suspected: bool
    faces_max: int
    best_frames: tuple[FrameRef, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "reasons": [r.value for r in self.reasons],
            "actions_detected": [a.as_dict() for a in self.actions_detected],
            "spoof_suspected": self.spoof_suspected,
            "faces_max": self.faces_max,
        }


def _timing_reasons(observations: Sequence[FrameObservation], thresholds: LivenessThresholds) -> list[Reason]:
    times = [o.t_seconds for o in observations]
    if len(times) < thresholds.min_frames:
        return [Reason.TIMING_IMPLAUSIBLE]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    if times[0] < 0 or any(g <= 0 for g in gaps) or max(gaps) > thresholds.max_frame_gap_seconds:
        return [Reason.TIMING_IMPLAUSIBLE]
    return []


def _frozen(observations: Sequence[FrameObservation], thresholds: LivenessThresholds) -> bool:
    changes = [o.change_from_previous for o in observations if o.change_from_previous is not None]
    if not changes:
        return False
    frozen = sum(1 for c in changes if c <= thresholds.frozen_change_level)
    return frozen / len(changes) > thresholds.max_frozen_fraction


def _face_reasons(observations: Sequence[FrameObservation], thresholds: LivenessThresholds) -> list[Reason]:
    reasons: list[Reason] = []
    with_face = [o.t_seconds for o in observations if o.faces >= 1]
    if not with_face:
        return [Reason.NO_FACE]
    start, end = observations[0].t_seconds, observations[-1].t_seconds
    gaps = [b - a for a, b in itertools.pairwise([start, *with_face, end])]
    if max(gaps) > thresholds.max_face_gap_seconds:
        reasons.append(Reason.NO_FACE)
    if sum(1 for o in observations if o.faces >= 2) >= thresholds.min_multiple_face_frames:
        reasons.append(Reason.MULTIPLE_FACES)
    similarities = [o.identity_similarity for o in observations if o.identity_similarity is not None]
    if sum(1 for s in similarities if s < thresholds.min_identity_similarity) >= thresholds.min_identity_frames:
        reasons.append(Reason.IDENTITY_CHANGED)
    return reasons


def spoof_suspected(observations: Sequence[FrameObservation], thresholds: LivenessThresholds) -> bool:
    """Too many sampled faces look like a screen or a print to the passive anti-spoofing model."""
    live = [o.live_probability for o in observations if o.faces >= 1 and o.live_probability is not None]
    if not live:
        return False
    spoof_frames = sum(1 for p in live if p < thresholds.min_live_probability)
    return spoof_frames / len(live) > thresholds.max_spoof_frame_fraction


def match_challenge(
    requested: Sequence[Action], detected: Sequence[DetectedAction], thresholds: LivenessThresholds
) -> list[Reason]:
    """Check that the requested actions appear in the requested order, each in time, within the window.

    The matching takes, for each requested action in turn, the earliest detected one of that kind that starts
    after the previous match ended. Extra blinks are always tolerated (people blink); more than
    ``max_unexpected_actions`` other unrequested movements are not, since a clip of every movement in turn
    would otherwise answer any challenge.
    """
    reasons: list[Reason] = []
    matched: list[DetectedAction] = []
    cursor = float("-inf")
    for action in requested:
        candidates = [d for d in detected if d.action is action and d.start_s >= cursor and d not in matched]
        if not candidates:
            if any(d.action is action for d in detected):
                reasons.append(Reason.ACTION_ORDER)
            else:
                reasons.append(Reason.ACTION_MISSING)
            break
        chosen = min(candidates, key=lambda d: d.start_s)
        matched.append(chosen)
        cursor = chosen.end_s
    if not reasons and matched:
        if any(m.action is not Action.BLINK and m.duration_seconds < thresholds.min_action_seconds for m in matched):
            reasons.append(Reason.ACTION_TOO_FAST)
        if matched[-1].end_s - matched[0].start_s > thresholds.action_window_seconds:
            reasons.append(Reason.OUTSIDE_WINDOW)
        unexpected = [d for d in detected if d.action is not Action.BLINK and d not in matched]
        if len(unexpected) > thresholds.max_unexpected_actions:
            reasons.append(Reason.ACTION_UNEXPECTED)
    return reasons


def select_best_frames(observations: Sequence[FrameObservation], count: int) -> tuple[FrameRef, ...]:
    """The most frontal, sharpest single-face frames, spread in time (at most one per third of the clip)."""
    candidates = [
        (o.frontal_quality, i, o.t_seconds)
        for i, o in enumerate(observations)
        if o.faces == 1 and o.frontal_quality is not None
    ]
    if not candidates or count <= 0:
        return ()
    start, end = observations[0].t_seconds, observations[-1].t_seconds
    span = max(end - start, 1e-9)
    chosen: dict[int, FrameRef] = {}
    for quality, index, t in sorted(candidates, reverse=True):
        del quality
        slot = min(int((t - start) / span * count), count - 1)
        if slot not in chosen:
            chosen[slot] = FrameRef(index, t)
        if len(chosen) == count:
            break
    return tuple(sorted(chosen.values(), key=lambda f: f.index))


def _unique(reasons: Iterable[Reason]) -> tuple[Reason, ...]:
    return tuple(dict.fromkeys(reasons))


def evaluate_clip(
    observations: Sequence[FrameObservation],
    thresholds: LivenessThresholds,
    requested: Sequence[Action] | None = None,
) -> LivenessResult:
    """Decide a clip. With ``requested=None`` only the clip-level rules apply (used by ``liveness detect``).

    Every violated rule is reported, not only the first.
    """
    if not observations:
        return LivenessResult(False, (Reason.NO_FACE,), (), False, 0)
    detected = detect_actions(observations, thresholds)
    reasons = _timing_reasons(observations, thresholds)
    if _frozen(observations, thresholds):
        reasons.append(Reason.FROZEN_FRAMES)
    reasons += _face_reasons(observations, thresholds)
    spoof = spoof_suspected(observations, thresholds)
    if spoof:
        reasons.append(Reason.SPOOF_SUSPECTED)
    if requested is not None:
        reasons += match_challenge(requested, detected, thresholds)
    unique = _unique(reasons)
    return LivenessResult(
        passed=not unique,
        reasons=unique,
        actions_detected=tuple(detected),
        spoof_suspected=spoof,
        faces_max=max(o.faces for o in observations),
        best_frames=select_best_frames(observations, thresholds.best_frames) if not unique else (),
    )
