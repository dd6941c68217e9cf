"""Synthetic activity streams for the anomaly rules: a normal fortnight at two outlets, and additions built to
trigger each rule."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from realname.domain.reports import Activity, ActivityKind, NotMineReport, RejectionCategory

START = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
"""Midnight UTC (08:00 at UTC+8) on the first day of the normal stream."""
DAYS = 15
RUN_START = START + timedelta(days=DAYS - 1)
"""The rules run over the last day; the days before it are the baseline."""
RUN_END = START + timedelta(days=DAYS)

_ids = itertools.count(1)


def registration(
    at: datetime, *, outlet: str = "BJ-001", clerk: str = "staff:clerk-1", region: str = "11", terminal: str = "t1"
) -> Activity:
    return Activity(at, ActivityKind.REGISTERED, outlet, clerk, f"sub:{next(_ids):08x}", None, None, region, terminal)


def face_mismatch(
    at: datetime, *, terminal: str = "t1", outlet: str = "BJ-001", subject: str | None = None
) -> Activity:
    return Activity(
        at,
        ActivityKind.REJECTED,
        outlet,
        "staff:clerk-1",
        subject or f"sub:{next(_ids):08x}",
        None,
        RejectionCategory.FACE,
        None,
        terminal,
    )


def normal_stream() -> tuple[list[Activity], list[NotMineReport]]:
    """Two outlets open 09:00-20:00 local (01:00-12:00 UTC); each clerk registers about three people an hour,
    mostly local (Beijing and Hebei for BJ-001, Shanghai and Jiangsu for SH-001), one traveller from Guangdong a
    day; one face mismatch a day per terminal; one "not mine" report in the fortnight."""
    activities: list[Activity] = []
    for day in range(DAYS):
        for hour in range(1, 12):
            base = START + timedelta(days=day, hours=hour)
            for minute in (5, 25, 45):
                at = base + timedelta(minutes=minute + (day % 3))
                activities.append(registration(at, region="11" if minute != 45 else "13"))
                activities.append(
                    registration(at, outlet="SH-001", clerk="staff:clerk-2", region="31" if minute != 25 else "32")
                )
        activities.append(registration(START + timedelta(days=day, hours=3), region="44"))
        activities.append(face_mismatch(START + timedelta(days=day, hours=4)))
        activities.append(face_mismatch(START + timedelta(days=day, hours=6), terminal="t2", outlet="SH-001"))
    activities.sort(key=lambda a: a.at)
    registered = next(a for a in activities if a.outlet == "BJ-001")
    not_mine = [NotMineReport(RUN_START + timedelta(hours=2), "BJ-001", registered.at, "139****0001")]
    return activities, not_mine
