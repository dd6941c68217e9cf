"""Builds the reports, anomaly-detection and evidence-bundle use cases (issue 17)."""

from __future__ import annotations

import sqlalchemy as sa

from realname.adapters.cli.report_commands import ReportServices
from realname.adapters.storage.report_repositories import SqlReportsUnitOfWork
from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.adapters.system import Uuid4Ids
from realname.adapters.vision.models import read_lock
from realname.app.anomalies import AnomalyDeps, AnomalyDetection
from realname.app.audit_admin import AuditAdmin
from realname.app.evidence import EvidenceBundles
from realname.app.ports import Clock
from realname.app.privacy import CheckpointSigner
from realname.app.reports import Reports, ReportsDeps
from realname.config import ReportSettings
from realname.domain.audit import JsonValue


def build_report_services(
    *,
    engine: sa.Engine,
    clock: Clock,
    settings: ReportSettings,
    audit_admin: AuditAdmin,
    signer: CheckpointSigner,
    face_engine: str,
) -> ReportServices:
    def uow() -> SqlReportsUnitOfWork:
        return SqlReportsUnitOfWork(engine)

    lock = read_lock()
    models: dict[str, JsonValue] = {
        "face_engine": face_engine,
        "files_sha256": dict[str, JsonValue](sorted(lock.installed_hashes.items())),
    }
    return ReportServices(
        Reports(ReportsDeps(uow, clock, Uuid4Ids(), settings.utc_offset_hours)),
        AnomalyDetection(AnomalyDeps(uow, clock, Uuid4Ids(), settings.rules())),
        EvidenceBundles(lambda: SqlUnitOfWork(engine), uow, audit_admin, signer, clock, models),
    )
