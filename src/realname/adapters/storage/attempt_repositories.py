"""Repositories of the registration flow: attempts, challenges, consents, failures, idempotency, reviews."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from realname.adapters.storage import tables as t
from realname.adapters.storage.party_tables import party_case
from realname.domain.attempts import TERMINAL_STATES, Attempt, AttemptState, Outcome, Purpose
from realname.domain.errors import Conflict, DependencyUnavailable
from realname.domain.liveness import Action, Challenge, ChallengeNotFound
from realname.domain.reviews import ENDED_STATES, CaseDecision, CaseKind, CaseState, ReviewCase
from realname.domain.subscribers import BlindIndex


def _attempt_from_row(row: sa.Row[Any]) -> Attempt:
    return Attempt(
        id=row.id,
        purpose=Purpose(row.purpose),
        outlet_code=row.outlet_code,
        clerk_ref=row.clerk_ref,
        device_id=row.device_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        state=AttemptState(row.state),
        id_index=BlindIndex(row.id_index) if row.id_index else None,
        document_kind=row.document_kind,
        consent_version=row.consent_version,
        outcome=Outcome(row.outcome) if row.outcome else None,
        reasons=tuple(json.loads(row.reasons)),
        msisdn=row.msisdn,
        decided_at=row.decided_at,
        terminal_id=row.terminal_id,
        reader_digest=row.reader_digest,
        version=row.version,
    )


class SqlAttemptRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, attempt: Attempt) -> None:
        self._c.execute(t.attempt.insert().values(**self._values(attempt), version=0))

    @staticmethod
    def _values(attempt: Attempt) -> dict[str, Any]:
        return {
            "id": attempt.id,
            "purpose": attempt.purpose.value,
            "outlet_code": attempt.outlet_code,
            "clerk_ref": attempt.clerk_ref,
            "device_id": attempt.device_id,
            "state": attempt.state.value,
            "created_at": attempt.created_at,
            "expires_at": attempt.expires_at,
            "id_index": attempt.id_index.value if attempt.id_index else None,
            "document_kind": attempt.document_kind,
            "consent_version": attempt.consent_version,
            "outcome": attempt.outcome.value if attempt.outcome else None,
            "reasons": json.dumps(list(attempt.reasons)),
            "msisdn": attempt.msisdn,
            "decided_at": attempt.decided_at,
            "terminal_id": attempt.terminal_id,
            "reader_digest": attempt.reader_digest,
        }

    def get(self, attempt_id: str, *, for_update: bool = False) -> Attempt | None:
        query = sa.select(t.attempt).where(t.attempt.c.id == attempt_id)
        if for_update:
            query = query.with_for_update()
        row = self._c.execute(query).first()
        return None if row is None else _attempt_from_row(row)

    def save(
        self, attempt: Attempt, *, id_ciphertext: bytes | None = None, name_ciphertext: bytes | None = None
    ) -> None:
        values = self._values(attempt)
        values["version"] = attempt.version + 1
        if id_ciphertext is not None or attempt.id_index is None:
            values["id_ciphertext"] = id_ciphertext
            values["name_ciphertext"] = name_ciphertext
        result = self._c.execute(
            t.attempt.update()
            .where(t.attempt.c.id == attempt.id, t.attempt.c.version == attempt.version)
            .values(**values)
        )
        if result.rowcount != 1:
            raise Conflict("the attempt changed meanwhile; reload it", code="attempt.changed")
        attempt.version += 1

    def id_ciphertext(self, attempt_id: str) -> bytes | None:
        value = self._c.execute(sa.select(t.attempt.c.id_ciphertext).where(t.attempt.c.id == attempt_id)).scalar()
        return None if value is None else bytes(value)

    def name_ciphertext(self, attempt_id: str) -> bytes | None:
        value = self._c.execute(sa.select(t.attempt.c.name_ciphertext).where(t.attempt.c.id == attempt_id)).scalar()
        return None if value is None else bytes(value)

    def latest_open_of(self, clerk_ref: str, device_id: str) -> Attempt | None:
        open_states = [s.value for s in AttemptState if s not in TERMINAL_STATES]
        row = self._c.execute(
            sa.select(t.attempt)
            .where(
                t.attempt.c.clerk_ref == clerk_ref,
                t.attempt.c.device_id == device_id,
                t.attempt.c.state.in_(open_states),
            )
            .order_by(t.attempt.c.created_at.desc(), t.attempt.c.id.desc())
            .limit(1)
        ).first()
        return None if row is None else _attempt_from_row(row)

    def latest_of(self, clerk_ref: str, device_id: str) -> Attempt | None:
        row = self._c.execute(
            sa.select(t.attempt)
            .where(t.attempt.c.clerk_ref == clerk_ref, t.attempt.c.device_id == device_id)
            .order_by(t.attempt.c.created_at.desc(), t.attempt.c.id.desc())
            .limit(1)
        ).first()
        return None if row is None else _attempt_from_row(row)

    def keep_receipt(self, attempt_id: str, receipt_json: str) -> None:
        self._c.execute(t.attempt.update().where(t.attempt.c.id == attempt_id).values(receipt=receipt_json))

    def receipt_of(self, attempt_id: str) -> tuple[str | None, datetime | None]:
        row = self._c.execute(
            sa.select(t.attempt.c.receipt, t.attempt.c.visit_ended_at).where(t.attempt.c.id == attempt_id)
        ).first()
        return (None, None) if row is None else (row.receipt, row.visit_ended_at)

    def end_visit(self, attempt_id: str, now: datetime) -> None:
        self._c.execute(
            t.attempt.update()
            .where(t.attempt.c.id == attempt_id, t.attempt.c.visit_ended_at.is_(None))
            .values(visit_ended_at=now)
        )

    def keep_receipt_copy(self, attempt_id: str, ciphertext: bytes, delete_after: datetime) -> None:
        copy = t.receipt_copy
        self._c.execute(copy.delete().where(copy.c.id == attempt_id))
        self._c.execute(copy.insert().values(id=attempt_id, ciphertext=ciphertext, delete_after=delete_after))

    def receipt_copy(self, attempt_id: str, now: datetime) -> bytes | None:
        copy = t.receipt_copy
        value = self._c.execute(
            sa.select(copy.c.ciphertext).where(copy.c.id == attempt_id, copy.c.delete_after > now)
        ).scalar()
        return None if value is None else bytes(value)

    def forget_receipt_copy(self, attempt_id: str) -> None:
        self._c.execute(t.receipt_copy.delete().where(t.receipt_copy.c.id == attempt_id))

    def forget_receipt_copies_of(self, clerk_ref: str, device_id: str) -> None:
        a = t.attempt
        theirs = sa.select(a.c.id).where(a.c.clerk_ref == clerk_ref, a.c.device_id == device_id)
        self._c.execute(t.receipt_copy.delete().where(t.receipt_copy.c.id.in_(theirs)))

    def forget_receipt_copies_due(self, now: datetime) -> int:
        result = self._c.execute(t.receipt_copy.delete().where(t.receipt_copy.c.delete_after <= now))
        return int(result.rowcount or 0)

    def of_subscriber(self, id_index: BlindIndex, limit: int = 200) -> Sequence[Attempt]:
        rows = self._c.execute(
            sa.select(t.attempt)
            .where(t.attempt.c.id_index == id_index.value)
            .order_by(t.attempt.c.created_at.desc())
            .limit(limit)
        )
        return [_attempt_from_row(r) for r in rows]

    def purge_biometric_free_before(self, cutoff: datetime) -> int:
        result = self._c.execute(
            t.attempt.update()
            .where(
                t.attempt.c.created_at < cutoff,
                sa.or_(t.attempt.c.id_ciphertext.is_not(None), t.attempt.c.name_ciphertext.is_not(None)),
            )
            .values(id_ciphertext=None, name_ciphertext=None)
        )
        return int(result.rowcount)


class SqlConsentRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(
        self, record_id: str, attempt_id: str, version: str, text_sha256: str, accepted: bool, at: datetime
    ) -> None:
        self._c.execute(
            t.consent_record.insert().values(
                id=record_id,
                attempt_id=attempt_id,
                version=version,
                text_sha256=text_sha256,
                accepted=accepted,
                recorded_at=at,
            )
        )


class SqlFailureRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, failure_id: str, id_index: BlindIndex | None, device_id: str, at: datetime) -> None:
        self._c.execute(
            t.verification_failure.insert().values(
                id=failure_id, id_index=id_index.value if id_index else None, device_id=device_id, failed_at=at
            )
        )

    def recent_for_id(self, id_index: BlindIndex, since: datetime) -> Sequence[datetime]:
        f = t.verification_failure
        rows = self._c.execute(sa.select(f.c.failed_at).where(f.c.id_index == id_index.value, f.c.failed_at >= since))
        return [r[0] for r in rows]

    def recent_for_device(self, device_id: str, since: datetime) -> Sequence[datetime]:
        f = t.verification_failure
        rows = self._c.execute(sa.select(f.c.failed_at).where(f.c.device_id == device_id, f.c.failed_at >= since))
        return [r[0] for r in rows]


def _advisory_lock_id(*parts: str) -> int:
    """A signed 64-bit PostgreSQL advisory-lock id for ``parts`` (collisions only make two keys wait)."""
    digest = hashlib.sha256(b"realname/idempotency|" + "|".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SqlIdempotencyStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def get(self, key: str, scope: str) -> tuple[str, str] | None:
        # Claim the key first. On PostgreSQL a transaction-scoped advisory lock makes a concurrent retry
        # wait until the first request commits (releasing it), and READ COMMITTED then lets the
        # following SELECT see the stored receipt. SQLite needs nothing: BEGIN IMMEDIATE already
        # serialises every write transaction.
        if self._c.dialect.name == "postgresql":
            self._c.execute(sa.select(sa.func.pg_advisory_xact_lock(_advisory_lock_id(key, scope))))
        k = t.idempotency_key
        row = self._c.execute(
            sa.select(k.c.request_sha256, k.c.response).where(k.c.key == key, k.c.scope == scope)
        ).first()
        return None if row is None else (row.request_sha256, row.response)

    def put(self, key: str, scope: str, request_sha256: str, response: str, at: datetime) -> None:
        self._c.execute(
            t.idempotency_key.insert().values(
                key=key, scope=scope, request_sha256=request_sha256, response=response, created_at=at
            )
        )


def _case_from_row(row: sa.Row[Any]) -> ReviewCase:
    return ReviewCase(
        id=row.id,
        kind=CaseKind(row.kind),
        state=CaseState(row.state),
        opened_at=row.opened_at,
        attempt_id=row.attempt_id,
        id_index=row.id_index,
        msisdn=row.msisdn,
        proposed_decision=CaseDecision(row.proposed_decision) if row.proposed_decision else None,
        proposed_by=row.proposed_by,
        proposed_reason=row.proposed_reason,
        decided_by=row.decided_by,
        closed_at=row.closed_at,
        challenges_issued=row.challenges_issued or 0,
        party_id=row.party_id,
        requested_by=row.requested_by,
        request_reason=row.request_reason,
        similarity=row.similarity,
    )


def _case_query() -> sa.Select[Any]:
    """Review cases with the number of challenges their attempt drew (reviewers see it) and the relying party
    a case is about (migration 0007), if any."""
    challenges = (
        sa.select(sa.func.count())
        .select_from(t.challenge)
        .where(t.challenge.c.attempt_id == t.review_case.c.attempt_id)
        .scalar_subquery()
    )
    party = sa.select(party_case.c.party_id).where(party_case.c.case_id == t.review_case.c.id).scalar_subquery()
    return sa.select(t.review_case, challenges.label("challenges_issued"), party.label("party_id"))


class SqlReviewRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def open(
        self,
        case_id: str,
        kind: str,
        attempt_id: str | None,
        id_index: BlindIndex | None,
        msisdn: str | None,
        at: datetime,
        *,
        requested_by: str | None = None,
        request_reason: str | None = None,
        similarity: float | None = None,
    ) -> None:
        self._c.execute(
            t.review_case.insert().values(
                id=case_id,
                kind=kind,
                state=CaseState.OPEN.value,
                attempt_id=attempt_id,
                id_index=id_index.value if id_index else None,
                msisdn=msisdn,
                opened_at=at,
                requested_by=requested_by,
                request_reason=request_reason,
                similarity=similarity,
            )
        )

    def of_attempt(self, attempt_id: str) -> Sequence[ReviewCase]:
        rows = self._c.execute(
            _case_query().where(t.review_case.c.attempt_id == attempt_id).order_by(t.review_case.c.opened_at)
        )
        return [_case_from_row(r) for r in rows]

    def get(self, case_id: str, *, for_update: bool = False) -> ReviewCase | None:
        query = _case_query().where(t.review_case.c.id == case_id)
        if for_update:
            query = query.with_for_update(of=t.review_case)
        row = self._c.execute(query).first()
        return None if row is None else _case_from_row(row)

    def pending(self, limit: int = 100) -> Sequence[ReviewCase]:
        rows = self._c.execute(
            _case_query()
            .where(t.review_case.c.state.notin_([s.value for s in ENDED_STATES]))
            .order_by(t.review_case.c.opened_at)
            .limit(limit)
        )
        return [_case_from_row(r) for r in rows]

    def save(self, case: ReviewCase) -> None:
        self._c.execute(
            t.review_case.update()
            .where(t.review_case.c.id == case.id)
            .values(
                state=case.state.value,
                proposed_decision=case.proposed_decision.value if case.proposed_decision else None,
                proposed_by=case.proposed_by,
                proposed_reason=case.proposed_reason,
                decided_by=case.decided_by,
                closed_at=case.closed_at,
            )
        )


class SqlChallengeRepository:
    """Challenges on the caller's connection (inside its transaction)."""

    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def save(self, challenge: Challenge) -> None:
        self._c.execute(
            t.challenge.insert().values(
                nonce=challenge.nonce,
                attempt_id=challenge.attempt_id,
                device_id=challenge.device_id,
                actions=",".join(a.value for a in challenge.actions),
                issued_at=challenge.issued_at,
                expires_at=challenge.expires_at,
                used_at=None,
            )
        )

    def get(self, nonce: str) -> Challenge | None:
        row = self._c.execute(sa.select(t.challenge).where(t.challenge.c.nonce == nonce)).first()
        return None if row is None else _challenge_from_row(row)

    def issued_for(self, attempt_id: str) -> int:
        query = sa.select(sa.func.count()).select_from(t.challenge).where(t.challenge.c.attempt_id == attempt_id)
        return int(self._c.execute(query).scalar_one())

    def supersede_live(self, attempt_id: str, now: datetime) -> int:
        # A burnt challenge is marked by its life being cut at the moment it was used (``used_at ==
        # expires_at``): an answered one is always used before it expires, so the two never look alike.
        done = self._c.execute(
            t.challenge.update()
            .where(t.challenge.c.attempt_id == attempt_id, t.challenge.c.used_at.is_(None))
            .values(used_at=now, expires_at=now)
        )
        return int(done.rowcount)

    def consume(self, nonce: str, attempt_id: str, device_id: str, now: datetime) -> Challenge:
        row = self._c.execute(sa.select(t.challenge).where(t.challenge.c.nonce == nonce).with_for_update()).first()
        if row is None:
            raise ChallengeNotFound("no challenge carries this nonce")
        used = _challenge_from_row(row).consume(nonce=nonce, attempt_id=attempt_id, device_id=device_id, now=now)
        done = self._c.execute(
            t.challenge.update()
            .where(t.challenge.c.nonce == nonce, t.challenge.c.used_at.is_(None))
            .values(used_at=now)
        )
        if done.rowcount != 1:
            raise Conflict("this challenge was already answered", code="challenge.replayed")
        return used


def _challenge_from_row(row: sa.Row[Any]) -> Challenge:
    return Challenge(
        attempt_id=row.attempt_id,
        device_id=row.device_id,
        actions=tuple(Action(a) for a in row.actions.split(",")),
        nonce=row.nonce,
        issued_at=row.issued_at,
        ttl_seconds=max(1, round((row.expires_at - row.issued_at).total_seconds())),
        used=row.used_at is not None,
        superseded=row.used_at is not None and row.used_at == row.expires_at,
    )


class SqlChallengeStore:
    """Challenges in their own short transactions: consuming one commits at once, so a nonce is burnt
    even when the analysis that follows fails."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def save(self, challenge: Challenge) -> None:
        self._run(lambda repo: repo.save(challenge))

    def get(self, nonce: str) -> Challenge | None:
        found: Challenge | None = self._run(lambda repo: repo.get(nonce))
        return found

    def issued_for(self, attempt_id: str) -> int:
        count: int = self._run(lambda repo: repo.issued_for(attempt_id))
        return count

    def supersede_live(self, attempt_id: str, now: datetime) -> int:
        count: int = self._run(lambda repo: repo.supersede_live(attempt_id, now))
        return count

    def consume(self, nonce: str, attempt_id: str, device_id: str, now: datetime) -> Challenge:
        used: Challenge = self._run(lambda repo: repo.consume(nonce, attempt_id, device_id, now))
        return used

    def _run(self, work: Callable[[SqlChallengeRepository], Any]) -> Any:
        try:
            with self._engine.begin() as connection:
                return work(SqlChallengeRepository(connection))
        except sa.exc.SQLAlchemyError as exc:
            raise DependencyUnavailable("the database is unavailable", code="database.unavailable") from exc
