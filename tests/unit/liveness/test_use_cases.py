"""The liveness use cases with typed fakes: issuing, consuming once, binding, and deciding the clip."""

from __future__ import annotations

import pytest

from realname.app.liveness import (
    BurstFrame,
    CheckedClip,
    LivenessChecker,
    LivenessResponse,
    check_liveness,
    issue_challenge,
)
from realname.domain.liveness import (
    Action,
    Challenge,
    ChallengeExpired,
    ChallengeLimitReached,
    ChallengeNotFound,
    ChallengeReplayed,
    ChallengeSuperseded,
    ChallengeWrongAttempt,
    LivenessThresholds,
    Reason,
)
from realname.domain.policy import Policy
from tests.fakes import FixedClock, FixedRandom
from tests.unit.liveness.fakes import InMemoryChallengeStore, SeriesAnalyser, SeriesDecoder
from tests.unit.liveness.series import blink, frontal, nod, turn

# FixedRandom reverses the list it shuffles: nod, turn_right, turn_left, blink → the first three are asked.
ASKED = (Action.NOD, Action.TURN_RIGHT, Action.TURN_LEFT)
GOOD = nod(turn(turn(frontal(8.0), 2.2, 3.4, yaw=-30.0), 4.0, 5.2, yaw=30.0), 0.8, 1.8)
WRONG_ORDER = nod(turn(turn(frontal(8.0), 0.8, 2.0, yaw=-30.0), 4.0, 5.2, yaw=30.0), 2.6, 3.6)


class World:
    def __init__(self) -> None:
        self.store = InMemoryChallengeStore()
        self.clock = FixedClock()
        self.random = FixedRandom()
        self.decoder = SeriesDecoder({b"good": GOOD, b"wrong-order": WRONG_ORDER, b"blink": blink(frontal(), 2.0, 2.1)})
        self.checker = LivenessChecker(self.decoder, SeriesAnalyser(self.decoder), LivenessThresholds())

    def issue(self, attempt: str = "att-1", device: str = "kiosk-1", policy: Policy | None = None) -> str:
        issued = issue_challenge(
            store=self.store,
            clock=self.clock,
            random=self.random,
            policy=policy or Policy(),
            attempt_id=attempt,
            device_id=device,
        )
        return issued.challenge.nonce

    def respond(
        self, nonce: str, clip: bytes = b"good", attempt: str = "att-1", device: str = "kiosk-1"
    ) -> tuple[Challenge, CheckedClip]:
        return check_liveness(
            response=LivenessResponse(attempt_id=attempt, device_id=device, nonce=nonce, clip=clip),
            store=self.store,
            clock=self.clock,
            checker=self.checker,
        )


def test_issuing_stores_a_challenge_of_policy_length_for_the_attempt() -> None:
    world = World()
    nonce = world.issue()
    stored = world.store.get(nonce)
    assert stored is not None
    assert stored.actions == ASKED
    assert stored.attempt_id == "att-1" and stored.device_id == "kiosk-1"
    assert stored.ttl_seconds == Policy().challenge_ttl_seconds
    assert not stored.used


def test_a_clip_performing_the_challenge_passes_and_burns_the_nonce() -> None:
    world = World()
    nonce = world.issue()
    challenge, checked = world.respond(nonce)
    assert checked.passed, checked.result.reasons
    assert challenge.used
    assert len(checked.best_frames_rgb) >= 1


def test_a_replayed_nonce_is_refused_even_after_a_pass() -> None:
    world = World()
    nonce = world.issue()
    world.respond(nonce)
    with pytest.raises(ChallengeReplayed):
        world.respond(nonce)


def test_a_failed_analysis_also_burns_the_nonce() -> None:
    world = World()
    nonce = world.issue()
    _, checked = world.respond(nonce, clip=b"wrong-order")
    assert not checked.passed
    assert Reason.ACTION_ORDER in checked.result.reasons
    with pytest.raises(ChallengeReplayed):
        world.respond(nonce)


def test_an_expired_challenge_is_refused_before_any_analysis() -> None:
    world = World()
    nonce = world.issue()
    world.clock.advance(seconds=Policy().challenge_ttl_seconds + 1)
    with pytest.raises(ChallengeExpired):
        world.respond(nonce)
    assert world.decoder.decoded == []


def test_a_clip_submitted_to_another_attempt_is_refused() -> None:
    world = World()
    nonce = world.issue(attempt="att-1")
    with pytest.raises(ChallengeWrongAttempt) as caught:
        world.respond(nonce, attempt="att-2")
    assert caught.value.code == "challenge.wrong_attempt"


def test_an_unknown_nonce_is_refused() -> None:
    world = World()
    world.issue()
    with pytest.raises(ChallengeNotFound) as caught:
        world.respond("00" * 16)
    assert caught.value.code == "challenge.nonce_mismatch"


def burst_at(world: World, nonce: str, offset_seconds: float) -> LivenessResponse:
    start_ms = (world.clock.now().timestamp() + offset_seconds) * 1000.0
    frames = (BurstFrame(b"good", start_ms), BurstFrame(b"good", start_ms + 5000.0))
    return LivenessResponse(attempt_id="att-1", device_id="kiosk-1", nonce=nonce, burst=frames)


def test_a_frame_burst_captured_after_the_challenge_is_checked_against_it() -> None:
    world = World()
    nonce = world.issue()
    world.clock.advance(seconds=20)
    _, checked = check_liveness(
        response=burst_at(world, nonce, -10.0), store=world.store, clock=world.clock, checker=world.checker
    )
    assert checked.passed, checked.result.reasons


def test_a_frame_burst_captured_before_the_challenge_was_issued_is_outside_the_window() -> None:
    world = World()
    nonce = world.issue()
    world.clock.advance(seconds=20)
    _, checked = check_liveness(
        response=burst_at(world, nonce, -600.0), store=world.store, clock=world.clock, checker=world.checker
    )
    assert not checked.passed
    assert Reason.OUTSIDE_WINDOW in checked.result.reasons
    assert checked.best_frames_rgb == ()


def test_a_new_challenge_burns_the_unanswered_one_so_only_the_newest_can_be_answered() -> None:
    world = World()
    first = world.issue()
    second = world.issue()
    with pytest.raises(ChallengeSuperseded) as caught:
        world.respond(first)
    assert caught.value.code == "challenge.superseded"
    _, checked = world.respond(second)
    assert checked.passed, checked.result.reasons


def test_an_attempt_cannot_draw_more_than_the_policy_allows() -> None:
    world = World()
    policy = Policy(max_challenges_per_attempt=3)
    nonces = [world.issue(policy=policy) for _ in range(3)]
    with pytest.raises(ChallengeLimitReached) as caught:
        world.issue(policy=policy)
    assert caught.value.code == "challenge.limit_reached"
    # The refused draw changed nothing: the third challenge is still the live one; the others stay burnt.
    assert [world.store.challenges[n].superseded for n in nonces] == [True, True, False]
    assert world.store.issued_for("att-1") == 3
    # Another attempt has its own allowance.
    world.issue(attempt="att-2", policy=policy)


def test_an_answered_challenge_counts_toward_the_limit_and_stays_a_replay() -> None:
    world = World()
    policy = Policy(max_challenges_per_attempt=2)
    answered = world.issue(policy=policy)
    world.respond(answered)
    world.issue(policy=policy)
    with pytest.raises(ChallengeReplayed):
        world.respond(answered)
    with pytest.raises(ChallengeLimitReached):
        world.issue(policy=policy)
