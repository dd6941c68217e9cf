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
from realname.adapters.storage.repositories import per_dialect
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


_ADD_ATTEMPT = t.attempt.insert()
_ATTEMPT = sa.select(t.attempt).where(t.attempt.c.id == sa.bindparam("a_id", type_=sa.String(64)))
_ATTEMPT_FOR_UPDATE = _ATTEMPT.with_for_update()
_SAVED_COLUMNS = (
    "purpose", "outlet_code", "clerk_ref", "device_id", "state", "created_at", "expires_at", "id_index",
    "document_kind", "consent_version", "outcome", "reasons", "msisdn", "decided_at", "terminal_id",
    "reader_digest",
)  # fmt: skip
_ATTEMPT_VERSION = (
    t.attempt.c.id == sa.bindparam("a_id", type_=sa.String(64)),
    t.attempt.c.version == sa.bindparam("a_version", type_=sa.Integer),
)


def _save_attempt(*, with_ciphertexts: bool) -> Any:
    columns = _SAVED_COLUMNS + (("id_ciphertext", "name_ciphertext") if with_ciphertexts else ())
    values: dict[str, Any] = {name: sa.bindparam(f"v_{name}", type_=t.attempt.c[name].type) for name in columns}
    values["version"] = sa.bindparam("v_version", type_=sa.Integer)
    return t.attempt.update().where(*_ATTEMPT_VERSION).values(values)


_SAVE_ATTEMPT = _save_attempt(with_ciphertexts=False)
_SAVE_ATTEMPT_WITH_CIPHERTEXTS = _save_attempt(with_ciphertexts=True)
_ATTEMPT_CIPHERTEXT = {
    name: sa.select(t.attempt.c[name]).where(t.attempt.c.id == sa.bindparam("a_id", type_=sa.String(64)))
    for name in ("id_ciphertext", "name_ciphertext")
}
_KEEP_RECEIPT = (
    t.attempt.update()
    .where(t.attempt.c.id == sa.bindparam("a_id", type_=sa.String(64)))
    .values(receipt=sa.bindparam("a_receipt", type_=t.attempt.c.receipt.type))
)
_KEEP_RECEIPT_COPY = per_dialect(
    lambda insert: (
        statement := insert(t.receipt_copy).values(
            id=sa.bindparam("r_id", type_=sa.String(64)),
            ciphertext=sa.bindparam("r_ciphertext", type_=sa.LargeBinary),
            delete_after=sa.bindparam("r_delete_after", type_=t.UtcDateTime()),
        )
    ).on_conflict_do_update(
        index_elements=["id"],
        set_={"ciphertext": statement.excluded.ciphertext, "delete_after": statement.excluded.delete_after},
    )
)
"""One upsert where a delete and an insert were two statements (a newer copy replaces the attempt's older one)."""
_FORGET_RECEIPT_COPIES_OF = t.receipt_copy.delete().where(
    t.receipt_copy.c.id.in_(
        sa.select(t.attempt.c.id).where(
            t.attempt.c.clerk_ref == sa.bindparam("a_clerk", type_=sa.String(128)),
            t.attempt.c.device_id == sa.bindparam("a_device", type_=sa.String(64)),
        )
    )
)
"""The registration flow's statements are built once with bound parameters (see ``repositories._NUMBER``)."""


class SqlAttemptRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, attempt: Attempt) -> None:
        self._c.execute(_ADD_ATTEMPT, {**self._values(attempt), "version": 0})

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
        row = self._c.execute(_ATTEMPT_FOR_UPDATE if for_update else _ATTEMPT, {"a_id": attempt_id}).first()
        return None if row is None else _attempt_from_row(row)

    def save(
        self, attempt: Attempt, *, id_ciphertext: bytes | None = None, name_ciphertext: bytes | None = None
    ) -> None:
        values = {f"v_{name}": value for name, value in self._values(attempt).items() if name != "id"}
        values.update(a_id=attempt.id, a_version=attempt.version, v_version=attempt.version + 1)
        statement = _SAVE_ATTEMPT
        if id_ciphertext is not None or attempt.id_index is None:
            values.update(v_id_ciphertext=id_ciphertext, v_name_ciphertext=name_ciphertext)
            statement = _SAVE_ATTEMPT_WITH_CIPHERTEXTS
        result = self._c.execute(statement, values)
        if result.rowcount != 1:
            raise Conflict("the attempt changed meanwhile; reload it", code="attempt.changed")
        attempt.version += 1

    def id_ciphertext(self, attempt_id: str) -> bytes | None:
        value = self._c.execute(_ATTEMPT_CIPHERTEXT["id_ciphertext"], {"a_id": attempt_id}).scalar()
        return None if value is None else bytes(value)

    def name_ciphertext(self, attempt_id: str) -> bytes | None:
        value = self._c.execute(_ATTEMPT_CIPHERTEXT["name_ciphertext"], {"a_id": attempt_id}).scalar()
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
        self._c.execute(_KEEP_RECEIPT, {"a_id": attempt_id, "a_receipt": receipt_json})

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
        self._c.execute(
            _KEEP_RECEIPT_COPY[self._c.dialect.name],
            {"r_id": attempt_id, "r_ciphertext": ciphertext, "r_delete_after": delete_after},
        )

    def receipt_copy(self, attempt_id: str, now: datetime) -> bytes | None:
        copy = t.receipt_copy
        value = self._c.execute(
            sa.select(copy.c.ciphertext).where(copy.c.id == attempt_id, copy.c.delete_after > now)
        ).scalar()
        return None if value is None else bytes(value)

    def forget_receipt_copy(self, attempt_id: str) -> None:
        self._c.execute(t.receipt_copy.delete().where(t.receipt_copy.c.id == attempt_id))

    def forget_receipt_copies_of(self, clerk_ref: str, device_id: str) -> None:
        self._c.execute(_FORGET_RECEIPT_COPIES_OF, {"a_clerk": clerk_ref, "a_device": device_id})

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


_ADD_CONSENT = t.consent_record.insert()


class SqlConsentRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(
        self, record_id: str, attempt_id: str, version: str, text_sha256: str, accepted: bool, at: datetime
    ) -> None:
        self._c.execute(
            _ADD_CONSENT,
            {
                "id": record_id,
                "attempt_id": attempt_id,
                "version": version,
                "text_sha256": text_sha256,
                "accepted": accepted,
                "recorded_at": at,
            },
        )


_ADD_FAILURE = t.verification_failure.insert()
_FAILURES_SINCE = sa.bindparam("f_since", type_=t.UtcDateTime())
_FAILURES_OF_ID = sa.select(t.verification_failure.c.failed_at).where(
    t.verification_failure.c.id_index == sa.bindparam("f_index", type_=sa.String(64)),
    t.verification_failure.c.failed_at >= _FAILURES_SINCE,
)
_FAILURES_OF_ID_AND_DEVICE = sa.union_all(
    sa.select(t.verification_failure.c.failed_at, sa.literal_column("1").label("of_id")).where(
        t.verification_failure.c.id_index == sa.bindparam("f_index", type_=sa.String(64)),
        t.verification_failure.c.failed_at >= _FAILURES_SINCE,
    ),
    sa.select(t.verification_failure.c.failed_at, sa.literal_column("0").label("of_id")).where(
        t.verification_failure.c.device_id == sa.bindparam("f_device", type_=sa.String(64)),
        t.verification_failure.c.failed_at >= _FAILURES_SINCE,
    ),
)
"""Both lock-out histories in one round trip, each part on its own index (an ``id_index`` of NULL matches none)."""


class SqlFailureRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, failure_id: str, id_index: BlindIndex | None, device_id: str, at: datetime) -> None:
        self._c.execute(
            _ADD_FAILURE,
            {
                "id": failure_id,
                "id_index": id_index.value if id_index else None,
                "device_id": device_id,
                "failed_at": at,
            },
        )

    def recent_for_id(self, id_index: BlindIndex, since: datetime) -> Sequence[datetime]:
        rows = self._c.execute(_FAILURES_OF_ID, {"f_index": id_index.value, "f_since": since})
        return [r[0] for r in rows]

    def recent_for_id_and_device(
        self, id_index: BlindIndex | None, device_id: str, since: datetime
    ) -> tuple[Sequence[datetime], Sequence[datetime]]:
        rows = self._c.execute(
            _FAILURES_OF_ID_AND_DEVICE,
            {"f_index": None if id_index is None else id_index.value, "f_device": device_id, "f_since": since},
        )
        of_id: list[datetime] = []
        of_device: list[datetime] = []
        for failed_at, is_of_id in rows:
            (of_id if is_of_id else of_device).append(failed_at)
        return of_id, of_device


def _advisory_lock_id(*parts: str) -> int:
    """A signed 64-bit PostgreSQL advisory-lock id for ``parts`` (collisions only make two keys wait)."""
    digest = hashlib.sha256(b"realname/idempotency|" + "|".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_IDEMPOTENCY_LOCK = sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("k_lock", type_=sa.BigInteger)))
_STORED_RESPONSE = sa.select(t.idempotency_key.c.request_sha256, t.idempotency_key.c.response).where(
    t.idempotency_key.c.key == sa.bindparam("k_key", type_=sa.String(128)),
    t.idempotency_key.c.scope == sa.bindparam("k_scope", type_=sa.String(128)),
)
_STORE_RESPONSE = t.idempotency_key.insert()


class SqlIdempotencyStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def get(self, key: str, scope: str) -> tuple[str, str] | None:
        # Claim the key first. On PostgreSQL a transaction-scoped advisory lock makes a concurrent retry
        # wait until the first request commits (releasing it), and READ COMMITTED then lets the
        # following SELECT see the stored receipt. SQLite needs nothing: BEGIN IMMEDIATE already
        # serialises every write transaction.
        if self._c.dialect.name == "postgresql":
            self._c.execute(_IDEMPOTENCY_LOCK, {"k_lock": _advisory_lock_id(key, scope)})
        row = self._c.execute(_STORED_RESPONSE, {"k_key": key, "k_scope": scope}).first()
        return None if row is None else (row.request_sha256, row.response)

    def put(self, key: str, scope: str, request_sha256: str, response: str, at: datetime) -> None:
        self._c.execute(
            _STORE_RESPONSE,
            {"key": key, "scope": scope, "request_sha256": request_sha256, "response": response, "created_at": at},
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


_ADD_CHALLENGE = t.challenge.insert()
_CHALLENGE = sa.select(t.challenge).where(t.challenge.c.nonce == sa.bindparam("c_nonce", type_=sa.String(64)))
_CHALLENGE_FOR_UPDATE = _CHALLENGE.with_for_update()
_CHALLENGES_ISSUED = (
    sa.select(sa.func.count())
    .select_from(t.challenge)
    .where(t.challenge.c.attempt_id == sa.bindparam("c_attempt", type_=sa.String(64)))
)
_CHALLENGE_NOW = sa.bindparam("c_now", type_=t.UtcDateTime())
_SUPERSEDE_LIVE = (
    t.challenge.update()
    .where(t.challenge.c.attempt_id == sa.bindparam("c_attempt", type_=sa.String(64)), t.challenge.c.used_at.is_(None))
    .values(used_at=_CHALLENGE_NOW, expires_at=_CHALLENGE_NOW)
)
_MARK_USED = (
    t.challenge.update()
    .where(t.challenge.c.nonce == sa.bindparam("c_nonce", type_=sa.String(64)), t.challenge.c.used_at.is_(None))
    .values(used_at=_CHALLENGE_NOW)
)


class SqlChallengeRepository:
    """Challenges on the caller's connection (inside its transaction)."""

    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def save(self, challenge: Challenge) -> None:
        self._c.execute(
            _ADD_CHALLENGE,
            {
                "nonce": challenge.nonce,
                "attempt_id": challenge.attempt_id,
                "device_id": challenge.device_id,
                "actions": ",".join(a.value for a in challenge.actions),
                "issued_at": challenge.issued_at,
                "expires_at": challenge.expires_at,
                "used_at": None,
            },
        )

    def get(self, nonce: str) -> Challenge | None:
        row = self._c.execute(_CHALLENGE, {"c_nonce": nonce}).first()
        return None if row is None else _challenge_from_row(row)

    def issued_for(self, attempt_id: str) -> int:
        return int(self._c.execute(_CHALLENGES_ISSUED, {"c_attempt": attempt_id}).scalar_one())

    def supersede_live(self, attempt_id: str, now: datetime) -> int:
        # A burnt challenge is marked by its life being cut at the moment it was used (``used_at ==
        # expires_at``): an answered one is always used before it expires, so the two never look alike.
        done = self._c.execute(_SUPERSEDE_LIVE, {"c_attempt": attempt_id, "c_now": now})
        return int(done.rowcount)

    def consume(self, nonce: str, attempt_id: str, device_id: str, now: datetime) -> Challenge:
        row = self._c.execute(_CHALLENGE_FOR_UPDATE, {"c_nonce": nonce}).first()
        if row is None:
            raise ChallengeNotFound("no challenge carries this nonce")
        used = _challenge_from_row(row).consume(nonce=nonce, attempt_id=attempt_id, device_id=device_id, now=now)
        done = self._c.execute(_MARK_USED, {"c_nonce": nonce, "c_now": now})
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
