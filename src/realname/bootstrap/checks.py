"""Builds the relying-party check use cases (administration, the signed check, the subscriber's side)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from realname.adapters.storage.party_repositories import SqlChecksUnitOfWork
from realname.adapters.storage.transaction import AuditObserver
from realname.adapters.system import Uuid4Ids
from realname.app.check_batches import CheckAnswerer, GroupCommittedChecks
from realname.app.ports import BlindIndexer, Clock, FieldCipher
from realname.app.relying_party_checks import ChecksDeps, NumberChecks, PartyAdmin, SubscriberChecks
from realname.domain.identity.regions import RegionDirectory
from realname.domain.relying_parties import CheckPolicy


@dataclass(frozen=True, slots=True)
class CheckServices:
    admin: PartyAdmin
    checks: NumberChecks
    subscriber: SubscriberChecks
    answering: CheckAnswerer
    """What ``POST /v1/checks`` calls: ``checks`` with group commit, unless ``batch_wait_ms`` is 0."""


def build_check_services(
    *,
    engine: sa.Engine,
    clock: Clock,
    cipher: FieldCipher,
    blind_index: BlindIndexer,
    regions: RegionDirectory,
    policy: CheckPolicy,
    audit_observer: AuditObserver | None = None,
    batch_wait_ms: float = 0.0,
    batch_max: int = 1,
    batch_running: int = 1,
) -> CheckServices:
    deps = ChecksDeps(
        uow=lambda: SqlChecksUnitOfWork(engine, audit_observer=audit_observer),
        clock=clock,
        ids=Uuid4Ids(),
        cipher=cipher,
        blind_index=blind_index,
        regions=regions,
        policy=policy,
    )
    checks = NumberChecks(deps)
    answering: CheckAnswerer = checks
    if batch_wait_ms > 0 and batch_max > 1:
        answering = GroupCommittedChecks(
            checks, max_wait_seconds=batch_wait_ms / 1000, max_batch=batch_max, max_running=batch_running
        )
    return CheckServices(PartyAdmin(deps), checks, SubscriberChecks(deps), answering)
