"""The challenge rules: issuing from injected randomness, expiry, single use, binding to attempt and device."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from realname.domain.errors import InvalidInput
from realname.domain.liveness import (
    Action,
    Challenge,
    ChallengeExpired,
    ChallengeNotFound,
    ChallengeReplayed,
    ChallengeWrongAttempt,
    ChallengeWrongDevice,
    new_challenge,
)
from realname.domain.policy import Policy

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ORDER = (Action.NOD, Action.TURN_LEFT, Action.BLINK, Action.TURN_RIGHT)


def issued(challenge_actions: int = 3, challenge_ttl_seconds: int = 120) -> Challenge:
    return new_challenge(
        attempt_id="att-1",
        device_id="kiosk-7",
        policy=Policy(challenge_actions=challenge_actions, challenge_ttl_seconds=challenge_ttl_seconds),
        now=NOW,
        nonce_bytes=bytes(range(16)),
        shuffled_actions=ORDER,
    )


def test_challenge_takes_the_first_actions_of_the_random_order() -> None:
    challenge = issued(challenge_actions=3)
    assert challenge.actions == (Action.NOD, Action.TURN_LEFT, Action.BLINK)
    assert issued(challenge_actions=2).actions == (Action.NOD, Action.TURN_LEFT)


def test_challenge_nonce_is_the_128_random_bits_in_hex() -> None:
    assert issued().nonce == "000102030405060708090a0b0c0d0e0f"


def test_challenge_refuses_a_short_nonce_or_an_incomplete_shuffle() -> None:
    with pytest.raises(ValueError, match="16 random bytes"):
        new_challenge(
            attempt_id="a", device_id="d", policy=Policy(), now=NOW, nonce_bytes=b"\x00" * 8, shuffled_actions=ORDER
        )
    with pytest.raises(ValueError, match="every action"):
        new_challenge(
            attempt_id="a",
            device_id="d",
            policy=Policy(),
            now=NOW,
            nonce_bytes=b"\x00" * 16,
            shuffled_actions=(Action.BLINK, Action.BLINK, Action.NOD, Action.TURN_LEFT),
        )


def test_challenge_expires_after_its_ttl() -> None:
    challenge = issued(challenge_ttl_seconds=120)
    assert not challenge.is_expired(NOW + timedelta(seconds=119))
    assert challenge.is_expired(NOW + timedelta(seconds=120))
    with pytest.raises(ChallengeExpired) as caught:
        challenge.consume(
            nonce=challenge.nonce, attempt_id="att-1", device_id="kiosk-7", now=NOW + timedelta(minutes=3)
        )
    assert caught.value.code == "challenge.expired"


def test_consuming_marks_the_challenge_used_and_a_second_use_is_a_replay() -> None:
    challenge = issued()
    used = challenge.consume(nonce=challenge.nonce, attempt_id="att-1", device_id="kiosk-7", now=NOW)
    assert used.used and not challenge.used
    with pytest.raises(ChallengeReplayed) as caught:
        used.consume(nonce=challenge.nonce, attempt_id="att-1", device_id="kiosk-7", now=NOW)
    assert caught.value.code == "challenge.replayed"


@pytest.mark.parametrize(
    ("nonce", "attempt", "device", "error", "code"),
    [
        ("ff" * 16, "att-1", "kiosk-7", ChallengeNotFound, "challenge.nonce_mismatch"),
        (None, "att-2", "kiosk-7", ChallengeWrongAttempt, "challenge.wrong_attempt"),
        (None, "att-1", "kiosk-9", ChallengeWrongDevice, "challenge.wrong_device"),
    ],
)
def test_a_response_for_another_nonce_attempt_or_device_is_refused(
    nonce: str | None, attempt: str, device: str, error: type[Exception], code: str
) -> None:
    challenge = issued()
    with pytest.raises(error) as caught:
        challenge.consume(nonce=nonce or challenge.nonce, attempt_id=attempt, device_id=device, now=NOW)
    assert getattr(caught.value, "code", None) == code


def test_challenge_repr_does_not_reveal_the_whole_nonce() -> None:
    challenge = issued()
    assert challenge.nonce not in repr(challenge)


def test_action_list_parses_subject_direction_names_and_refuses_unknown_ones() -> None:
    assert Action.parse_list("blink, turn_left,turn_right") == (Action.BLINK, Action.TURN_LEFT, Action.TURN_RIGHT)
    with pytest.raises(InvalidInput) as caught:
        Action.parse_list("blink,smile")
    assert caught.value.code == "liveness.actions_invalid"
