"""Builds the reports and anomaly-detection use cases (issue 17)."""

from __future__ import annotations

import sqlalchemy as sa

from realname.adapters.cli.report_commands import ReportServices
from realname.adapters.storage.report_repositories import SqlReportsUnitOfWork
from realname.adapters.system import Uuid4Ids
from realname.app.anomalies import AnomalyDeps, AnomalyDetection
from realname.app.ports import Clock
from realname.app.reports import Reports, ReportsDeps
from realname.config import ReportSettings


def build_report_services(*, engine: sa.Engine, clock: Clock, settings: ReportSettings) -> ReportServices:
    def uow() -> SqlReportsUnitOfWork:
        return SqlReportsUnitOfWork(engine)

    return ReportServices(
        Reports(ReportsDeps(uow, clock, Uuid4Ids(), settings.utc_offset_hours)),
        AnomalyDetection(AnomalyDeps(uow, clock, Uuid4Ids(), settings.rules())),
    )
