"""A synthetic stream of store activity written to real storage the way the use cases write it (attempt rows,
audit events with the same actions and details, bindings, "not mine" review cases), for the reports and
anomaly suites."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.app.registry import bind_number
from realname.domain.attempts import Attempt, Purpose
from realname.domain.audit import AuditRecord, JsonValue
from realname.domain.numbers import Msisdn, PhoneNumber
from realname.domain.organisation import Outlet, OutletCode
from realname.domain.policy import Policy
from realname.domain.reviews import CaseKind
from realname.domain.subscribers import BlindIndex
from tests.fakes import FakeBlindIndexer, SequentialIds


@dataclass
class Stream:
    engine: sa.Engine
    ids: SequentialIds = field(default_factory=lambda: SequentialIds("w"))
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    outlets: set[str] = field(default_factory=set)
    last_attempt: str = ""

    def outlet(self, code: str, at: datetime) -> None:
        if code in self.outlets:
            return
        with SqlUnitOfWork(self.engine) as uow:
            if uow.outlets.get(OutletCode(code)) is None:
                uow.outlets.add(Outlet(OutletCode(code), f"Outlet {code}", at))
                uow.commit()
        self.outlets.add(code)

    def _attempt(
        self, uow: SqlUnitOfWork, at: datetime, outlet: str, clerk: str, terminal: str, purpose: Purpose
    ) -> Attempt:
        attempt = Attempt.start(self.ids.new_id(), purpose, outlet, clerk, terminal, at, 30)
        uow.attempts.add(attempt)
        self._event(
            uow,
            at,
            "attempt.started",
            clerk,
            outlet,
            f"attempt:{attempt.id}",
            attempt.id,
            {"purpose": purpose.value, "device": terminal},
        )
        return attempt

    @staticmethod
    def _event(
        uow: SqlUnitOfWork,
        at: datetime,
        action: str,
        actor: str,
        outlet: str | None,
        subject: str | None,
        attempt_id: str | None,
        details: dict[str, JsonValue],
    ) -> None:
        body: dict[str, JsonValue] = {"attempt": attempt_id, **details} if attempt_id else dict(details)
        uow.audit.append(AuditRecord(action, actor, outlet, subject, body), at)

    def registration(
        self,
        at: datetime,
        *,
        outlet: str = "BJ-001",
        clerk: str = "staff:clerk-1",
        terminal: str = "kiosk-1",
        id_number: str | None = None,
        region: str = "11",
    ) -> Msisdn:
        """A full registration: attempt, valid document (its province), approval, a new number bound."""
        self.outlet(outlet, at)
        number = Msisdn(f"1390000{next(self._numbers):04d}")
        index = BlindIndex(FakeBlindIndexer().index(id_number or f"id-{number}"))
        with SqlUnitOfWork(self.engine) as uow:
            uow.numbers.add_many([PhoneNumber(number)])
            attempt = self._attempt(uow, at, outlet, clerk, terminal, Purpose.REGISTER)
            self.last_attempt = attempt.id
            self._event(
                uow,
                at,
                "document.checked",
                clerk,
                outlet,
                index.reference,
                attempt.id,
                {"kind": "cn_resident", "valid": True, "reasons": [], "terminal": terminal, "region": region},
            )
            self._event(uow, at, "consent.accepted", clerk, outlet, index.reference, attempt.id, {"version": "v1"})
            self._event(
                uow, at, "challenge.issued", clerk, outlet, index.reference, attempt.id, {"actions": ["blink", "nod"]}
            )
            self._event(
                uow,
                at,
                "verification.decided",
                clerk,
                outlet,
                index.reference,
                attempt.id,
                {
                    "outcome": "approved",
                    "reasons": [],
                    "engine": "sface",
                    "similarity": 0.61,
                    "threshold": 0.35,
                    "actions_detected": ["blink", "nod"],
                },
            )
            bind_number(
                uow,
                policy=Policy(),
                ids=self.ids,
                now=at,
                msisdn=number,
                attempt_id=attempt.id,
                id_index=index,
                iccid=f"898600{next(self._numbers):013d}",
                outlet_code=outlet,
            )
            self._event(
                uow, at, "number.assigned", clerk, outlet, index.reference, attempt.id, {"number": number.masked}
            )
            uow.commit()
        return number

    def rejection(
        self,
        at: datetime,
        reasons: list[str],
        *,
        outlet: str = "BJ-001",
        clerk: str = "staff:clerk-1",
        terminal: str = "kiosk-1",
        id_number: str = "id-x",
    ) -> None:
        self.outlet(outlet, at)
        index = BlindIndex(FakeBlindIndexer().index(id_number))
        with SqlUnitOfWork(self.engine) as uow:
            attempt = self._attempt(uow, at, outlet, clerk, terminal, Purpose.REGISTER)
            self._event(
                uow,
                at,
                "verification.decided",
                clerk,
                outlet,
                index.reference,
                attempt.id,
                {"outcome": "rejected", "reasons": list[JsonValue](reasons)},
            )
            uow.commit()

    def invalid_document(self, at: datetime, *, outlet: str = "BJ-001", clerk: str = "staff:clerk-1") -> None:
        self.outlet(outlet, at)
        with SqlUnitOfWork(self.engine) as uow:
            attempt = self._attempt(uow, at, outlet, clerk, "kiosk-1", Purpose.REGISTER)
            self._event(
                uow,
                at,
                "document.checked",
                clerk,
                outlet,
                f"attempt:{attempt.id}",
                attempt.id,
                {"kind": "cn_resident", "valid": False, "reasons": ["id.check_digit"], "terminal": None},
            )
            uow.commit()

    def refusal(self, at: datetime, code: str, *, outlet: str = "BJ-001", clerk: str = "staff:clerk-1") -> None:
        self.outlet(outlet, at)
        with SqlUnitOfWork(self.engine) as uow:
            attempt = self._attempt(uow, at, outlet, clerk, "kiosk-1", Purpose.REGISTER)
            self._event(uow, at, "attempt.refused", clerk, outlet, f"attempt:{attempt.id}", attempt.id, {"code": code})
            uow.commit()

    def owner_service(self, at: datetime, action: str, purpose: Purpose, *, outlet: str = "BJ-001") -> None:
        """A surrender, SIM replacement or re-verification (the event the flow records)."""
        self.outlet(outlet, at)
        with SqlUnitOfWork(self.engine) as uow:
            attempt = self._attempt(uow, at, outlet, "staff:clerk-1", "kiosk-1", purpose)
            self._event(uow, at, action, "staff:clerk-1", outlet, "sub:x", attempt.id, {"number": "139****0001"})
            uow.commit()

    def suspension(self, at: datetime, number: Msisdn) -> None:
        with SqlUnitOfWork(self.engine) as uow:
            self._event(
                uow, at, "number.suspended", "staff:admin-1", None, f"number:{number.masked}", None, {"reason": "fraud"}
            )
            uow.commit()

    def not_mine(self, at: datetime, number: Msisdn) -> None:
        """The subscriber reports a number as not theirs: a review case (and its audit event)."""
        with SqlUnitOfWork(self.engine) as uow:
            uow.reviews.open(self.ids.new_id(), CaseKind.NOT_MINE.value, None, None, str(number), at)
            self._event(uow, at, "number.reported_not_mine", "self:x", "SELF", "sub:y", None, {"number": number.masked})
            uow.commit()
