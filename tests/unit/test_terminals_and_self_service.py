"""Domain rules of signed reader reads, self-service codes, throttling and lock-out periods."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from realname.domain.errors import InvalidInput, TooManyRequests
from realname.domain.lockout import lockout_periods
from realname.domain.self_service import (
    CodeExhausted,
    CodeExpired,
    OneTimeCode,
    code_from_bytes,
    normalise_name,
    refuse_if_throttled,
)
from realname.domain.terminals import (
    ReaderSignatureInvalid,
    ReaderStale,
    Terminal,
    check_fresh,
    check_nonce,
    fields_sha256,
    portrait_slot,
    reader_message,
)

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_the_signed_message_is_a_compact_json_array_in_a_fixed_order() -> None:
    # The kiosk page builds exactly these bytes with JSON.stringify; a change here breaks every enrolled kiosk.
    message = reader_message(
        terminal_id="t1",
        attempt_id="a1",
        nonce="n" * 16,
        timestamp=1_790_000_000,
        portrait_sha256="",
        id_fields_sha256="f",
    )
    assert message == b'["realname.reader.v1","t1","a1","nnnnnnnnnnnnnnnn",1790000000,"","f"]'


def test_with_a_card_front_the_message_is_v2_and_its_portrait_slot_joins_both_digests() -> None:
    # terminal.js builds the same: "sha256(chip):sha256(card front)" under realname.reader.v2.
    slot = portrait_slot("c" * 64, "d" * 64)
    assert slot == "c" * 64 + ":" + "d" * 64
    assert portrait_slot("c" * 64, None) == "c" * 64
    message = reader_message(
        terminal_id="t1",
        attempt_id="a1",
        nonce="n" * 16,
        timestamp=1_790_000_000,
        portrait_sha256=slot,
        id_fields_sha256="f",
        with_card_front=True,
    )
    assert message == f'["realname.reader.v2","t1","a1","nnnnnnnnnnnnnnnn",1790000000,"{slot}","f"]'.encode()


def test_the_fields_digest_is_over_compact_json_with_nulls_and_raw_unicode() -> None:
    fields = ["auto", "11010519491231002X", "long_term", None, "1949-12-31", "M", "诸葛亮"]
    expected = hashlib.sha256(
        '["auto","11010519491231002X","long_term",null,"1949-12-31","M","诸葛亮"]'.encode()
    ).hexdigest()
    assert fields_sha256(fields) == expected
    assert fields_sha256([*fields[:-1], None]) != expected


def test_freshness_allows_two_minutes_either_way() -> None:
    now = T0.timestamp()
    check_fresh(int(now) - 120, T0)
    check_fresh(int(now) + 120, T0)
    for off in (-121, 121):
        with pytest.raises(ReaderStale):
            check_fresh(int(now) + off, T0)


@pytest.mark.parametrize("nonce", ["short", "x" * 65, "has space in it!!", "ünicode-nonce-0000"])
def test_malformed_nonces_are_refused(nonce: str) -> None:
    with pytest.raises(ReaderSignatureInvalid):
        check_nonce(nonce)


def test_a_terminal_needs_a_32_byte_key_and_a_printable_name() -> None:
    with pytest.raises(InvalidInput):
        Terminal("t", "BJ-001", "Counter", b"\x00" * 31, T0, "cli:operator")
    with pytest.raises(InvalidInput):
        Terminal("t", "BJ-001", "Counter\x1b[2J", b"\x00" * 32, T0, "cli:operator")
    assert Terminal("t", "BJ-001", "Counter", b"\x00" * 32, T0, "cli:operator").active


def test_codes_are_six_digits_and_names_compare_without_case_spaces_or_dots() -> None:
    assert code_from_bytes(b"\x00" * 8) == "000000"
    assert len({code_from_bytes(i.to_bytes(8, "big")) for i in range(1000)}) == 1000
    assert normalise_name("ZHANG  Wei") == normalise_name("zhang wei")
    assert normalise_name("Ａｌｉ·Ｋｈａｎ") == normalise_name("ali khan")
    assert normalise_name("Zhang Wei") != normalise_name("Zhang Wen")


def test_a_code_expires_and_runs_out_of_tries() -> None:
    code = OneTimeCode("a1", "h" * 64, T0, T0 + timedelta(minutes=5), tries_left=1)
    code.require_usable(T0 + timedelta(minutes=4))
    with pytest.raises(CodeExpired):
        code.require_usable(T0 + timedelta(minutes=5))
    code.tries_left = 0
    with pytest.raises(CodeExhausted):
        code.require_usable(T0)


def test_throttling_counts_a_sliding_window_and_says_when_to_come_back() -> None:
    times = [T0 + timedelta(minutes=m) for m in (0, 10, 20)]
    refuse_if_throttled(
        times[:2], now=T0 + timedelta(minutes=30), limit=3, window=timedelta(hours=1), what="x", code="c"
    )
    with pytest.raises(TooManyRequests) as caught:
        refuse_if_throttled(
            times, now=T0 + timedelta(minutes=30), limit=3, window=timedelta(hours=1), what="x", code="c"
        )
    assert caught.value.code == "c" and caught.value.retry_after_seconds == 30 * 60
    refuse_if_throttled(times, now=T0 + timedelta(hours=1), limit=3, window=timedelta(hours=1), what="x", code="c")


def test_lockout_periods_merge_overlaps_and_ignore_spread_failures() -> None:
    burst = [T0 + timedelta(minutes=m) for m in range(6)]  # the 5th and 6th each complete five in the window
    assert lockout_periods(burst, max_failed=5, window_minutes=30, lockout_minutes=60) == [
        (T0 + timedelta(minutes=4), T0 + timedelta(minutes=65))
    ]
    spread = [T0 + timedelta(minutes=8 * m) for m in range(5)]  # 32 minutes from first to fifth
    assert lockout_periods(spread, max_failed=5, window_minutes=30, lockout_minutes=60) == []
    later = [T0 + timedelta(hours=5, minutes=m) for m in range(5)]
    assert len(lockout_periods(burst + later, max_failed=5, window_minutes=30, lockout_minutes=60)) == 2
