"""Builds the relying-party check use cases (administration, the signed check, the subscriber's side)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from realname.adapters.storage.party_repositories import SqlChecksUnitOfWork
from realname.adapters.storage.transaction import AuditObserver
from realname.adapters.system import Uuid4Ids
from realname.app.ports import BlindIndexer, Clock, FieldCipher
from realname.app.relying_party_checks import ChecksDeps, NumberChecks, PartyAdmin, SubscriberChecks
from realname.domain.identity.regions import RegionDirectory
from realname.domain.relying_parties import CheckPolicy


@dataclass(frozen=True, slots=True)
class CheckServices:
    admin: PartyAdmin
    checks: NumberChecks
    subscriber: SubscriberChecks


def build_check_services(
    *,
    engine: sa.Engine,
    clock: Clock,
    cipher: FieldCipher,
    blind_index: BlindIndexer,
    regions: RegionDirectory,
    policy: CheckPolicy,
    audit_observer: AuditObserver | None = None,
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
    return CheckServices(PartyAdmin(deps), NumberChecks(deps), SubscriberChecks(deps))
