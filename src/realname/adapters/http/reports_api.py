"""``/v1/reports…``: figures per day or week and outlet (JSON or CSV), their charts (SVG), and the anomaly flags.

Admins and auditors only (the use cases check it). Aggregates and masked references only: no personal data
is in any answer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from realname.adapters.http.api import CurrentActor, Services
from realname.adapters.http.routing import OneHopRoute
from realname.adapters.http.services import HttpServices
from realname.adapters.report_files import report_csv, report_files, report_json
from realname.app.actors import Actor
from realname.app.anomalies import AnomalyDetection
from realname.app.reports import Reports
from realname.domain.errors import DependencyUnavailable
from realname.domain.reports import Report, parse_period

DEFAULT_DAYS = 7


class AnomalyFlagView(BaseModel):
    """One anomaly flag: the rule, whom it is about (clerk ref, outlet code or terminal id), the window and the
    figures that made it fire, and the state of the review case it opened."""

    case_id: str
    case_state: str
    opened_at: datetime
    rule: str
    scope: str
    subject: str
    outlet: str | None
    window_start: datetime
    window_end: datetime
    figures: dict[str, Any]


FirstDay = Annotated[date | None, Query(description="First local day (default: 6 days before today)")]
LastDay = Annotated[date | None, Query(description="Last local day, included (default: today)")]
PeriodText = Annotated[str, Query(description="day or week", max_length=8)]
OutletCode = Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


def _reports(svc: HttpServices) -> Reports:
    if svc.reports is None:
        raise DependencyUnavailable("reports are not available here", code="reports.unavailable")
    return svc.reports


def _anomalies(svc: HttpServices) -> AnomalyDetection:
    if svc.anomalies is None:
        raise DependencyUnavailable("anomaly detection is not available here", code="reports.unavailable")
    return svc.anomalies


def _report(
    svc: HttpServices, actor: Actor, first_day: date | None, last_day: date | None, period: str, outlet: str | None
) -> Report:
    reports = _reports(svc)
    chosen = parse_period(period)
    first_day = first_day if first_day is not None else last_day
    last_day = last_day if last_day is not None else first_day
    if first_day is None or last_day is None:
        window = reports.recent_window(DEFAULT_DAYS, chosen)
    else:
        window = reports.window(first_day, last_day, chosen)
    return reports.report(actor, window, outlet=outlet)


def build_reports_router() -> APIRouter:
    router = APIRouter(prefix="/v1/reports", tags=["reports"], route_class=OneHopRoute)

    @router.get("", response_model=None)
    def get_report(
        svc: Services,
        actor: CurrentActor,
        first_day: FirstDay = None,
        last_day: LastDay = None,
        period: PeriodText = "day",
        outlet: OutletCode = None,
        format: Annotated[Literal["json", "csv"], Query()] = "json",
    ) -> Response:
        """Counts per period and outlet: attempts, approvals, rejections by category, approval rate,
        registrations, surrenders, SIM replacements, suspensions, re-verifications and "not mine" reports."""
        report = _report(svc, actor, first_day, last_day, period, outlet)
        name = f"realname-report-{report.window.first_day}-{report.window.last_day}-{report.window.period.value}"
        if format == "csv":
            return Response(
                report_csv(report),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
            )
        return Response(report_json(report), media_type="application/json")

    @router.get("/files")
    def get_files(
        svc: Services,
        actor: CurrentActor,
        first_day: FirstDay = None,
        last_day: LastDay = None,
        period: PeriodText = "day",
        outlet: OutletCode = None,
    ) -> dict[str, str]:
        """The report as files by name: ``report.csv``, ``report.json`` and the charts (``*.svg``)."""
        return report_files(_report(svc, actor, first_day, last_day, period, outlet))

    @router.get("/anomalies")
    def get_anomalies(
        svc: Services, actor: CurrentActor, limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> list[AnomalyFlagView]:
        """The newest anomaly flags with their review case's state."""
        return [
            AnomalyFlagView(
                case_id=f.case_id,
                case_state=f.case_state,
                opened_at=f.opened_at,
                rule=f.hit.rule,
                scope=f.hit.scope,
                subject=f.hit.subject,
                outlet=f.hit.outlet,
                window_start=f.hit.window_start,
                window_end=f.hit.window_end,
                figures=dict(f.hit.figures),
            )
            for f in _anomalies(svc).flagged(actor, limit)
        ]

    return router
