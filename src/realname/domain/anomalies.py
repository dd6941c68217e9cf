"""Anomaly rules: patterns in store activity that look like bulk registration or stolen IDs being tried.

Each rule is a named object with its thresholds; :meth:`AnomalyRule.evaluate` reads activities (see
``domain/reports.py``) and "not mine" reports and returns hits. A hit only flags: it opens a review case, and
people decide. Hits are counted in windows aligned to fixed boundaries (hours, days, multiples of the window's
length since the epoch), so running a rule again over the same activity finds the same hits with the same
``key`` and a flag is never raised twice.

The rules:

- ``registration_burst``: registrations by one clerk, or at one outlet, in one hour far above that clerk's or
  outlet's own hourly rate over the preceding days;
- ``distant_regions``: many different IDs whose province (GB2260, first two digits) is far from the outlet's
  usual one, registered at one outlet within a short window;
- ``face_mismatches``: many different IDs failing the face match at one terminal within a window (someone
  trying stolen cards);
- ``outside_opening_hours``: registrations at an outlet outside its opening hours (local time);
- ``not_mine_by_outlet``: numbers registered at one outlet and later reported "not mine" by the person whose
  ID they were registered under.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

from realname.domain.audit import JsonValue
from realname.domain.errors import InvalidInput
from realname.domain.reports import Activity, ActivityKind, NotMineReport, RejectionCategory

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

PROVINCE_CAPITALS: dict[str, tuple[float, float]] = {
    "11": (39.90, 116.40),  # Beijing
    "12": (39.13, 117.20),  # Tianjin
    "13": (38.04, 114.51),  # Hebei: Shijiazhuang
    "14": (37.87, 112.55),  # Shanxi: Taiyuan
    "15": (40.84, 111.75),  # Inner Mongolia: Hohhot
    "21": (41.81, 123.43),  # Liaoning: Shenyang
    "22": (43.82, 125.32),  # Jilin: Changchun
    "23": (45.80, 126.53),  # Heilongjiang: Harbin
    "31": (31.23, 121.47),  # Shanghai
    "32": (32.06, 118.80),  # Jiangsu: Nanjing
    "33": (30.27, 120.16),  # Zhejiang: Hangzhou
    "34": (31.82, 117.23),  # Anhui: Hefei
    "35": (26.07, 119.30),  # Fujian: Fuzhou
    "36": (28.68, 115.86),  # Jiangxi: Nanchang
    "37": (36.65, 117.12),  # Shandong: Jinan
    "41": (34.75, 113.63),  # Henan: Zhengzhou
    "42": (30.59, 114.31),  # Hubei: Wuhan
    "43": (28.23, 112.94),  # Hunan: Changsha
    "44": (23.13, 113.26),  # Guangdong: Guangzhou
    "45": (22.82, 108.37),  # Guangxi: Nanning
    "46": (20.04, 110.20),  # Hainan: Haikou
    "50": (29.56, 106.55),  # Chongqing
    "51": (30.66, 104.07),  # Sichuan: Chengdu
    "52": (26.65, 106.63),  # Guizhou: Guiyang
    "53": (25.04, 102.71),  # Yunnan: Kunming
    "54": (29.65, 91.14),  # Tibet: Lhasa
    "61": (34.34, 108.94),  # Shaanxi: Xi'an
    "62": (36.06, 103.83),  # Gansu: Lanzhou
    "63": (36.62, 101.78),  # Qinghai: Xining
    "64": (38.49, 106.23),  # Ningxia: Yinchuan
    "65": (43.83, 87.62),  # Xinjiang: Urumqi
    "71": (25.03, 121.57),  # Taiwan: Taipei
    "81": (22.32, 114.17),  # Hong Kong
    "82": (22.20, 113.54),  # Macao
    "83": (25.03, 121.57),  # Taiwan residents' residence permits
}
"""Approximate coordinates (degrees) of each province-level region's capital, by GB2260 province code."""


def province_distance_km(a: str, b: str) -> float | None:
    """Great-circle distance between two provinces' capitals; None when either code is unknown."""
    if a not in PROVINCE_CAPITALS or b not in PROVINCE_CAPITALS:
        return None
    (lat1, lon1), (lat2, lon2) = PROVINCE_CAPITALS[a], PROVINCE_CAPITALS[b]
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


@dataclass(frozen=True, slots=True)
class AnomalyHit:
    """One flag: ``rule`` found ``subject`` (a clerk ref, an outlet code or a terminal id; ``scope`` says which)
    unusual in ``[window_start, window_end)``; ``figures`` say by how much."""

    rule: str
    scope: str
    subject: str
    outlet: str | None
    window_start: datetime
    window_end: datetime
    figures: dict[str, JsonValue] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The same hit found again has the same key (the window is aligned, the figures are not part of it)."""
        text = "|".join(
            (self.rule, self.scope, self.subject, self.window_start.isoformat(), self.window_end.isoformat())
        )
        return hashlib.sha256(text.encode()).hexdigest()


class AnomalyRule(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def reach(self) -> timedelta:
        """How far before a run's start the rule reads activity (its baseline or window)."""
        ...

    def evaluate(
        self, activities: Sequence[Activity], not_mine: Sequence[NotMineReport], start: datetime, end: datetime
    ) -> list[AnomalyHit]:
        """Hits whose window starts in ``[start, end)``; ``activities`` may reach back before ``start`` (the
        rule's baseline) and must reach ``end``."""
        ...


def _aligned(moment: datetime, length: timedelta) -> datetime:
    """The start of the window of ``length`` (counted from the epoch) that holds ``moment``."""
    return EPOCH + length * ((moment - EPOCH) // length)


def _in_windows(
    items: Iterable[tuple[datetime, str, str]], length: timedelta, start: datetime, end: datetime
) -> dict[tuple[str, datetime], list[str]]:
    """``(at, subject, value)`` grouped by subject and aligned window (windows starting in ``[start, end)``)."""
    grouped: dict[tuple[str, datetime], list[str]] = defaultdict(list)
    for at, subject, value in items:
        window = _aligned(at, length)
        if start <= window < end:
            grouped[(subject, window)].append(value)
    return grouped


def _registrations(activities: Iterable[Activity]) -> list[Activity]:
    return [a for a in activities if a.kind is ActivityKind.REGISTERED]


@dataclass(frozen=True, slots=True)
class RegistrationBurst:
    """An hour with at least ``min_per_hour`` registrations by one clerk (or at one outlet) and at least
    ``factor`` times that clerk's (outlet's) own average per opening hour over the ``baseline_days`` before it.
    Someone without history is measured against ``min_per_hour`` alone."""

    min_per_hour: int = 10
    factor: float = 4.0
    baseline_days: int = 14
    opening_hours_per_day: int = 12
    name: str = "registration_burst"

    @property
    def reach(self) -> timedelta:
        return timedelta(days=self.baseline_days)

    def evaluate(
        self, activities: Sequence[Activity], not_mine: Sequence[NotMineReport], start: datetime, end: datetime
    ) -> list[AnomalyHit]:
        registered = _registrations(activities)
        hits: list[AnomalyHit] = []
        hour = timedelta(hours=1)
        for scope in ("clerk", "outlet"):
            times: dict[str, list[datetime]] = defaultdict(list)
            outlets: dict[str, str] = {}
            for activity in registered:
                subject = activity.actor if scope == "clerk" else activity.outlet
                times[subject].append(activity.at)
                outlets[subject] = activity.outlet
            for subject, moments in times.items():
                per_hour = Counter(_aligned(m, hour) for m in moments)
                for window, count in sorted(per_hour.items()):
                    if not start <= window < end or count < self.min_per_hour:
                        continue
                    since = window - timedelta(days=self.baseline_days)
                    before = sum(1 for m in moments if since <= m < window)
                    baseline = before / (self.baseline_days * self.opening_hours_per_day)
                    if count < self.factor * baseline:
                        continue
                    hits.append(
                        AnomalyHit(
                            self.name,
                            scope,
                            subject,
                            outlets[subject],
                            window,
                            window + hour,
                            {"registrations": count, "baseline_per_hour": round(baseline, 2)},
                        )
                    )
        return hits


@dataclass(frozen=True, slots=True)
class DistantRegions:
    """At least ``min_ids`` different IDs from provinces ``min_distance_km`` or more away from the outlet's home
    province registered at the outlet within one window of ``window_minutes``. The home province is the one
    most of the outlet's registrations in the activity read came from."""

    min_ids: int = 5
    min_distance_km: float = 1000.0
    window_minutes: int = 60
    name: str = "distant_regions"

    @property
    def reach(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)

    def evaluate(
        self, activities: Sequence[Activity], not_mine: Sequence[NotMineReport], start: datetime, end: datetime
    ) -> list[AnomalyHit]:
        registered = [a for a in _registrations(activities) if a.region]
        homes: dict[str, Counter[str]] = defaultdict(Counter)
        for activity in registered:
            homes[activity.outlet][activity.region or ""] += 1
        distant: list[tuple[datetime, str, str]] = []
        for activity in registered:
            home = homes[activity.outlet].most_common(1)[0][0]
            distance = province_distance_km(home, activity.region or "")
            if distance is not None and distance >= self.min_distance_km:
                distant.append((activity.at, activity.outlet, f"{activity.subject}|{activity.region}"))
        length = timedelta(minutes=self.window_minutes)
        hits = []
        for (outlet, window), values in sorted(_in_windows(distant, length, start, end).items()):
            ids = {v.split("|")[0] for v in values}
            if len(ids) >= self.min_ids:
                provinces = sorted({v.split("|")[1] for v in values})
                home = homes[outlet].most_common(1)[0][0]
                figures: dict[str, JsonValue] = {"distant_ids": len(ids), "home_province": home}
                figures["provinces"] = list[JsonValue](provinces)
                hits.append(AnomalyHit(self.name, "outlet", outlet, outlet, window, window + length, figures))
        return hits


@dataclass(frozen=True, slots=True)
class FaceMismatches:
    """At least ``min_ids`` different IDs failing the face match at one terminal within ``window_minutes``."""

    min_ids: int = 3
    window_minutes: int = 60
    name: str = "face_mismatches"

    @property
    def reach(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)

    def evaluate(
        self, activities: Sequence[Activity], not_mine: Sequence[NotMineReport], start: datetime, end: datetime
    ) -> list[AnomalyHit]:
        failed = [
            (a.at, f"{a.terminal}|{a.outlet}", a.subject or "")
            for a in activities
            if a.kind is ActivityKind.REJECTED and a.category is RejectionCategory.FACE and a.terminal
        ]
        length = timedelta(minutes=self.window_minutes)
        hits = []
        for (key, window), subjects in sorted(_in_windows(failed, length, start, end).items()):
            if len(set(subjects)) >= self.min_ids:
                terminal, outlet = key.split("|", 1)
                figures: dict[str, JsonValue] = {
                    "ids_failing_face_match": len(set(subjects)),
                    "failures": len(subjects),
                }
                hits.append(AnomalyHit(self.name, "terminal", terminal, outlet, window, window + length, figures))
        return hits


@dataclass(frozen=True, slots=True)
class OutsideOpeningHours:
    """At least ``min_registrations`` registrations at one outlet on one local day outside ``[opens_at_hour,
    closes_at_hour)`` local time (UTC offset ``utc_offset_hours``)."""

    opens_at_hour: int = 8
    closes_at_hour: int = 22
    utc_offset_hours: float = 8.0
    min_registrations: int = 1
    name: str = "outside_opening_hours"

    @property
    def reach(self) -> timedelta:
        return timedelta(days=1)

    def __post_init__(self) -> None:
        if not 0 <= self.opens_at_hour < self.closes_at_hour <= 24:
            raise InvalidInput("opening hours need 0 <= opens < closes <= 24", code="anomaly.thresholds")

    def evaluate(
        self, activities: Sequence[Activity], not_mine: Sequence[NotMineReport], start: datetime, end: datetime
    ) -> list[AnomalyHit]:
        zone = timezone(timedelta(hours=self.utc_offset_hours))
        outside: dict[tuple[str, datetime], list[str]] = defaultdict(list)
        for activity in _registrations(activities):
            local = activity.at.astimezone(zone)
            if self.opens_at_hour <= local.hour < self.closes_at_hour:
                continue
            day = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
            if start <= activity.at < end:
                outside[(activity.outlet, day)].append(local.strftime("%H:%M"))
        hits = []
        for (outlet, day), times in sorted(outside.items()):
            if len(times) >= self.min_registrations:
                figures: dict[str, JsonValue] = {
                    "registrations": len(times),
                    "local_times": list[JsonValue](sorted(times)[:20]),
                    "opening_hours": f"{self.opens_at_hour:02d}:00-{self.closes_at_hour:02d}:00",
                }
                hits.append(AnomalyHit(self.name, "outlet", outlet, outlet, day, day + timedelta(days=1), figures))
        return hits


@dataclass(frozen=True, slots=True)
class NotMineByOutlet:
    """At least ``min_reports`` "not mine" reports within ``window_days`` on numbers one outlet registered (the
    binding reported was made there at most ``registered_within_days`` before the report)."""

    min_reports: int = 3
    window_days: int = 7
    registered_within_days: int = 365
    name: str = "not_mine_by_outlet"

    @property
    def reach(self) -> timedelta:
        return timedelta(days=self.window_days)

    def evaluate(
        self, activities: Sequence[Activity], not_mine: Sequence[NotMineReport], start: datetime, end: datetime
    ) -> list[AnomalyHit]:
        recent = [
            (r.reported_at, r.registered_outlet, r.number_masked)
            for r in not_mine
            if r.reported_at - r.registered_at <= timedelta(days=self.registered_within_days)
        ]
        length = timedelta(days=self.window_days)
        hits = []
        for (outlet, window), numbers in sorted(_in_windows(recent, length, start - length, end).items()):
            if len(numbers) >= self.min_reports:
                figures: dict[str, JsonValue] = {"not_mine_reports": len(numbers)}
                hits.append(AnomalyHit(self.name, "outlet", outlet, outlet, window, window + length, figures))
        return hits


RULE_NAMES = ("registration_burst", "distant_regions", "face_mismatches", "outside_opening_hours", "not_mine_by_outlet")


def lookback(rules: Sequence[AnomalyRule]) -> timedelta:
    """How far before a run's start its rules read activity (the longest reach, at least two hours)."""
    return max([timedelta(hours=2), *(rule.reach for rule in rules)])


def evaluate_all(
    rules: Sequence[AnomalyRule],
    activities: Sequence[Activity],
    not_mine: Sequence[NotMineReport],
    start: datetime,
    end: datetime,
) -> list[AnomalyHit]:
    """Every rule's hits, in rule order; one hit per key."""
    found: dict[str, AnomalyHit] = {}
    for rule in rules:
        for hit in rule.evaluate(activities, not_mine, start, end):
            found.setdefault(hit.key, hit)
    return list(found.values())
