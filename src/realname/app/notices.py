"""Telling the subscriber: when a number is registered, its SIM replaced or surrendered under an ID, every other
active number under that ID gets a notice (``domain/notices.py``) through the :class:`NoticeSender` port.

Notices are chosen and audited (``subscriber.notices_queued``, masked numbers only) in the flow's transaction,
and sent after it commits, so nobody is told of a change that was rolled back. A notice the gateway refuses
does not undo the change: it is audited as ``subscriber.notice_failed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

from realname.app.ports import Clock
from realname.app.unit_of_work import UnitOfWork, UnitOfWorkFactory
from realname.domain.audit import AuditRecord, JsonValue
from realname.domain.errors import DependencyUnavailable
from realname.domain.notices import Notice, NoticeKind, notice_text
from realname.domain.numbers import Msisdn
from realname.domain.organisation import OutletCode

DEFAULT_HOW_TO_REPORT = "Report it on the self-service page (/me) or at any store with your ID card."


class NoticeSender(Protocol):
    """Sends a short text to a number (an SMS gateway in production)."""

    def send(self, notice: Notice) -> None:
        """Raises DependencyUnavailable when the gateway did not take the notice."""
        ...


@dataclass(frozen=True, slots=True)
class NoticeDeps:
    sender: NoticeSender
    how_to_report: str = DEFAULT_HOW_TO_REPORT
    utc_offset_hours: float = 8.0


def queue_notices(
    uow: UnitOfWork,
    deps: NoticeDeps | None,
    *,
    kind: NoticeKind,
    about: Msisdn,
    subscriber_id: str,
    subject: str,
    outlet_code: str,
    actor_ref: str,
    now: datetime,
) -> list[Notice]:
    """Inside the flow's transaction: the notices to the subscriber's other active numbers, audited."""
    if deps is None:
        return []
    others = [b.msisdn for b in uow.bindings.active_of_subscriber(subscriber_id) if b.msisdn != about]
    if not others:
        return []
    outlet = uow.outlets.get(OutletCode(outlet_code))
    day = now.astimezone(timezone(timedelta(hours=deps.utc_offset_hours))).date()
    text = notice_text(kind, about, outlet.name if outlet else outlet_code, day, deps.how_to_report)
    uow.audit.append(
        AuditRecord(
            "subscriber.notices_queued",
            actor_ref,
            outlet_code,
            subject,
            {"kind": kind.value, "number": about.masked, "to": list[JsonValue](m.masked for m in others)},
        ),
        now,
    )
    return [Notice(m, kind, text) for m in others]


def deliver_notices(
    deps: NoticeDeps | None, notices: Sequence[Notice], uow: UnitOfWorkFactory, clock: Clock, actor_ref: str
) -> None:
    """After the commit: hand each notice to the sender; audit the ones it refused."""
    if deps is None or not notices:
        return
    refused: list[JsonValue] = []
    for notice in notices:
        try:
            deps.sender.send(notice)
        except DependencyUnavailable:
            refused.append(notice.to.masked)
    if refused:
        with uow() as work:
            work.audit.append(
                AuditRecord("subscriber.notice_failed", actor_ref, None, None, {"to": refused}), clock.now()
            )
            work.commit()
