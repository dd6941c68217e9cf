"""Each anomaly rule fires on a stream built to trigger it and stays silent on a normal stream."""

from __future__ import annotations

from datetime import timedelta

import pytest

from realname.domain.anomalies import (
    AnomalyRule,
    DistantRegions,
    FaceMismatches,
    NotMineByOutlet,
    OutsideOpeningHours,
    RegistrationBurst,
    evaluate_all,
    lookback,
    province_distance_km,
)
from realname.domain.errors import InvalidInput
from realname.domain.reports import NotMineReport
from tests.unit.reports.streams import RUN_END, RUN_START, face_mismatch, normal_stream, registration

RULES: list[AnomalyRule] = [
    RegistrationBurst(),
    DistantRegions(),
    FaceMismatches(),
    OutsideOpeningHours(),
    NotMineByOutlet(),
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_a_rule_is_silent_on_a_normal_stream(rule: AnomalyRule) -> None:
    activities, not_mine = normal_stream()
    assert rule.evaluate(activities, not_mine, RUN_START, RUN_END) == []


def test_a_burst_far_above_the_clerks_own_rate_is_flagged_for_the_clerk_and_the_outlet() -> None:
    activities, not_mine = normal_stream()
    hour = RUN_START + timedelta(hours=5)
    activities += [registration(hour + timedelta(minutes=2 * i), clerk="staff:clerk-1") for i in range(20)]
    hits = RegistrationBurst().evaluate(activities, not_mine, RUN_START, RUN_END)
    assert {(h.scope, h.subject) for h in hits} == {("clerk", "staff:clerk-1"), ("outlet", "BJ-001")}
    clerk_hit = next(h for h in hits if h.scope == "clerk")
    assert clerk_hit.window_start == hour and clerk_hit.figures["registrations"] == 23
    assert clerk_hit.figures["baseline_per_hour"] == pytest.approx(2.8, abs=0.1)


def test_a_busy_clerk_with_a_busy_history_is_not_a_burst() -> None:
    """Twelve an hour is a burst for a clerk who registers three an hour, not for one who always registers ten."""
    activities, not_mine = normal_stream()
    hour = RUN_START + timedelta(hours=5)
    burst = [registration(hour + timedelta(minutes=5 * i), clerk="staff:clerk-3") for i in range(12)]
    history = [
        registration(RUN_START - timedelta(days=d) + timedelta(hours=h, minutes=5 * i), clerk="staff:clerk-3")
        for d in range(1, 15)
        for h in range(1, 12)
        for i in range(10)
    ]
    hits = RegistrationBurst().evaluate(activities + history + burst, not_mine, RUN_START, RUN_END)
    assert not [h for h in hits if h.subject == "staff:clerk-3"]
    without_history = RegistrationBurst().evaluate(activities + burst, not_mine, RUN_START, RUN_END)
    assert {h.subject for h in without_history} == {"staff:clerk-3", "BJ-001"}


def test_many_ids_from_distant_provinces_at_one_outlet_are_flagged() -> None:
    activities, not_mine = normal_stream()
    at = RUN_START + timedelta(hours=7, minutes=3)
    distant = ["65", "54", "44", "46", "53", "23"]  # Xinjiang, Tibet, Guangdong, Hainan, Yunnan, Heilongjiang
    activities += [registration(at + timedelta(minutes=i), region=p) for i, p in enumerate(distant)]
    hits = DistantRegions().evaluate(activities, not_mine, RUN_START, RUN_END)
    assert [(h.subject, h.figures["home_province"]) for h in hits] == [("BJ-001", "11")]
    assert hits[0].figures["distant_ids"] == 6
    # Neighbouring provinces are not distant: Tianjin and Hebei customers in Beijing are ordinary.
    near = [registration(at + timedelta(minutes=i), region=p) for i, p in enumerate(["12", "13"] * 4)]
    assert DistantRegions().evaluate(normal_stream()[0] + near, not_mine, RUN_START, RUN_END) == []


def test_province_distances_are_great_circle_between_capitals() -> None:
    assert province_distance_km("11", "31") == pytest.approx(1067, abs=15)  # Beijing-Shanghai
    assert province_distance_km("11", "65") == pytest.approx(2410, abs=30)  # Beijing-Urumqi
    assert province_distance_km("11", "99") is None


def test_different_ids_failing_the_face_match_at_one_terminal_are_flagged() -> None:
    activities, not_mine = normal_stream()
    at = RUN_START + timedelta(hours=8, minutes=1)
    activities += [face_mismatch(at + timedelta(minutes=3 * i), terminal="t9") for i in range(4)]
    hits = FaceMismatches().evaluate(activities, not_mine, RUN_START, RUN_END)
    assert [(h.scope, h.subject, h.outlet) for h in hits] == [("terminal", "t9", "BJ-001")]
    assert hits[0].figures["ids_failing_face_match"] == 4


def test_one_person_failing_again_and_again_is_not_someone_trying_stolen_cards() -> None:
    activities, not_mine = normal_stream()
    at = RUN_START + timedelta(hours=8, minutes=1)
    activities += [face_mismatch(at + timedelta(minutes=i), terminal="t9", subject="sub:same") for i in range(6)]
    assert FaceMismatches().evaluate(activities, not_mine, RUN_START, RUN_END) == []


def test_registrations_outside_opening_hours_are_flagged_per_outlet_and_day() -> None:
    activities, not_mine = normal_stream()
    night = RUN_START + timedelta(hours=17)  # 01:00 local
    activities += [registration(night + timedelta(minutes=i), outlet="SH-001") for i in range(3)]
    hits = OutsideOpeningHours().evaluate(activities, not_mine, RUN_START, RUN_END)
    assert [(h.subject, h.figures["registrations"]) for h in hits] == [("SH-001", 3)]
    assert hits[0].figures["local_times"] == ["01:00", "01:01", "01:02"]


def test_opening_hours_must_be_a_real_interval() -> None:
    with pytest.raises(InvalidInput):
        OutsideOpeningHours(opens_at_hour=20, closes_at_hour=8)


def test_numbers_registered_then_reported_not_mine_are_flagged_by_outlet() -> None:
    activities, not_mine = normal_stream()
    registered_at = RUN_START - timedelta(days=20)
    not_mine += [
        NotMineReport(RUN_START + timedelta(hours=h), "SH-001", registered_at, f"139****00{h:02d}") for h in range(3)
    ]
    hits = NotMineByOutlet().evaluate(activities, not_mine, RUN_START, RUN_END)
    assert [(h.subject, h.figures["not_mine_reports"]) for h in hits] == [("SH-001", 3)]


def test_a_rerun_finds_the_same_hits_with_the_same_keys() -> None:
    activities, not_mine = normal_stream()
    activities += [registration(RUN_START + timedelta(hours=17, minutes=i)) for i in range(2)]
    first = evaluate_all(RULES, activities, not_mine, RUN_START, RUN_END)
    again = evaluate_all(RULES, activities, not_mine, RUN_START, RUN_END)
    assert [h.key for h in first] == [h.key for h in again] and len(first) == 1


def test_a_run_reads_back_as_far_as_its_longest_rule_needs() -> None:
    assert lookback(RULES) == timedelta(days=14)
    assert lookback([FaceMismatches(window_minutes=30)]) == timedelta(hours=2)
    assert lookback([NotMineByOutlet(window_days=30), RegistrationBurst(baseline_days=7)]) == timedelta(days=30)
