"""The per-worker memory of sign-ins found usable a moment ago: how long it serves, what it forgets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from realname.app import recent_sign_ins
from realname.app.recent_sign_ins import RecentSignIns

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_a_sign_in_is_served_for_the_cache_time_and_not_a_moment_longer() -> None:
    recent = RecentSignIns(5)
    assert not recent.usable("s1:1", NOW)
    recent.remember("s1", "s1:1", NOW)
    assert recent.usable("s1:1", NOW + timedelta(seconds=4.999))
    assert not recent.usable("s1:1", NOW + timedelta(seconds=5))
    assert not recent.usable("s1:1", NOW - timedelta(seconds=1))  # a clock set back serves nothing from here
    assert not recent.usable("s1:2", NOW)  # another sign-in of the member


def test_forgetting_a_member_forgets_every_sign_in_of_theirs_only() -> None:
    recent = RecentSignIns(5)
    for key in ("s1:1", "s1:2"):
        recent.remember("s1", key, NOW)
    recent.remember("s2", "s2:1", NOW)
    recent.forget_member("s1")
    assert not recent.usable("s1:1", NOW) and not recent.usable("s1:2", NOW)
    assert recent.usable("s2:1", NOW)


def test_a_zero_cache_time_keeps_nothing() -> None:
    recent = RecentSignIns(0)
    recent.remember("s1", "s1:1", NOW)
    assert not recent.usable("s1:1", NOW)


def test_stale_sign_ins_are_dropped_when_many_are_kept() -> None:
    recent = RecentSignIns(5)
    for i in range(recent_sign_ins.MAX_SIGN_INS):
        recent.remember(f"s{i}", f"s{i}:1", NOW)
    later = NOW + timedelta(seconds=10)
    recent.remember("new", "new:1", later)
    assert recent.usable("new:1", later)
    assert len(recent._checked) == 1  # the bound is what is tested
