"""What every flow on an attempt shares: the dependencies, loading an attempt within the caller's scope, writing
its audit events, the receipt and its idempotency, the subscriber's recorded name.

The flows themselves live in modules named after them: ``verification`` (the ID document, consent, challenge and
decision every visit goes through), ``registration`` (a new number for the verified customer), ``owner_services``
(surrender, SIM replacement, re-verification), ``review`` (the review loop) and ``self_service`` (at home).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from realname.app.actors import Actor
from realname.app.card_front import PrintedPortraitReader
from realname.app.liveness import ChallengeStore, ImageRgb, LivenessChecker
from realname.app.matching import FaceEngine, ImageDecoder
from realname.app.notices import NoticeDeps, queue_notices
from realname.app.ports import BlindIndexer, Clock, EncryptionContext, FieldCipher, IdGenerator, RandomSource
from realname.app.privacy import SUBSCRIBER_NAME
from realname.app.terminals import SignatureVerifier
from realname.app.unit_of_work import UnitOfWork, UnitOfWorkFactory
from realname.domain.attempts import Attempt
from realname.domain.audit import AuditRecord, JsonValue
from realname.domain.errors import Forbidden, InvalidInput, NotFound, Unprocessable
from realname.domain.identity.documents import DocumentCheck, DocumentKind
from realname.domain.identity.regions import RegionDirectory
from realname.domain.lockout import LockedOut
from realname.domain.notices import Notice, NoticeKind
from realname.domain.numbers import Msisdn, QuotaExceeded
from realname.domain.organisation import Role
from realname.domain.policy import Policy
from realname.domain.relying_parties import name_index_key, normalise_name

NUMBER_STAFF = (Role.CLERK, Role.ADMIN)
"""Who binds numbers at the counter: clerks (and admins, who may start attempts too); reviewers decide cases,
auditors read, neither reserves or registers a number."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a registration or an owner service did, masked. ``iccid_masked`` is the SIM now serving the number
    (after a surrender: the SIM taken back); ``cooling_until`` is set after a surrender."""

    attempt_id: str
    msisdn_masked: str
    iccid_masked: str
    outlet_code: str
    held_numbers: int
    issued_at: str
    number_state: str = "active"
    cooling_until: str | None = None

    def as_dict(self) -> dict[str, JsonValue]:
        return {
            "attempt_id": self.attempt_id,
            "number": self.msisdn_masked,
            "iccid": self.iccid_masked,
            "outlet": self.outlet_code,
            "numbers_held_under_this_id": self.held_numbers,
            "issued_at": self.issued_at,
            "number_state": self.number_state,
            "cooling_until": self.cooling_until,
        }


@dataclass(frozen=True, slots=True)
class AttemptDeps:
    """What the flows on an attempt need, handed over by the composition root."""

    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    random: RandomSource
    policy: Policy
    cipher: FieldCipher
    blind_index: BlindIndexer
    regions: RegionDirectory
    challenges: ChallengeStore
    liveness: Callable[[], LivenessChecker]
    face_engine: Callable[[], FaceEngine]
    image_decoder: ImageDecoder
    verifier: SignatureVerifier
    keep_evidence: Callable[[str, ImageRgb], object] | None = None
    """Keeps the best live frame as encrypted evidence; wired only when ``policy.keep_evidence`` is on."""
    printed_portraits: Callable[[], PrintedPortraitReader] | None = None
    """Reads a card-front image's printed portrait (``verify(card_front=…)``); without it a card front is refused."""
    notices: NoticeDeps | None = None
    """Tells the subscriber's other numbers of a registration, SIM replacement or surrender (``app/notices.py``)."""


def subject_key(check: DocumentCheck) -> str:
    """The normalised identifier the blind index is computed over. Mainland-format numbers (resident ID,
    residence permit, 2023 foreigner ID) share one namespace; other kinds are qualified by their kind, so a
    passport number cannot collide with a permit number."""
    if check.number is None:
        raise ValueError("only a valid document has a subject key")
    if check.kind in (DocumentKind.CN_RESIDENT, DocumentKind.CN_RESIDENCE_PERMIT, DocumentKind.CN_FOREIGN_PERMANENT):
        return check.number.value
    if check.kind is DocumentKind.MRZ:
        return f"mrz:{check.fields.get('issuing_state', '')}:{check.number.value}"
    return f"{check.kind.value}:{check.number.value}"


def scoped_attempt(uow: UnitOfWork, actor: Actor, attempt_id: str, *, lock: bool = True) -> Attempt:
    """The attempt, if it lies in the actor's scope (row-locked unless ``lock`` is false).

    Raises:
        NotFound: ``attempt.not_found`` — also another outlet's, another clerk's or another subscriber's attempt,
            which is indistinguishable from a missing one.
    """
    attempt = uow.attempts.get(attempt_id, for_update=lock)
    if attempt is None:
        raise NotFound("no such attempt", code="attempt.not_found")
    try:
        actor.require_outlet(attempt.outlet_code)
    except Forbidden as exc:
        raise NotFound("no such attempt", code="attempt.not_found") from exc
    if actor.role is Role.CLERK and actor.ref != attempt.clerk_ref:
        raise NotFound("no such attempt", code="attempt.not_found")
    if actor.role is Role.SUBSCRIBER and actor.ref != f"self:{attempt.id}":
        raise NotFound("no such attempt", code="attempt.not_found")
    return attempt


class AttemptAccess:
    """Loads an attempt within the actor's scope and writes the audit events of the flows acting on it."""

    def __init__(self, deps: AttemptDeps) -> None:
        self._d = deps

    def load(self, uow: UnitOfWork, actor: Actor, attempt_id: str, *, read_only: bool = False) -> Attempt:
        if not read_only:
            # Auditors inspect attempts; only the staff who serve customers (and the subscriber) act on them.
            actor.require(Role.CLERK, Role.REVIEWER, Role.ADMIN, Role.SUBSCRIBER)
        else:
            # Regulators read aggregate reports only, never an attempt.
            actor.require(Role.CLERK, Role.REVIEWER, Role.ADMIN, Role.AUDITOR, Role.SUBSCRIBER)
        return scoped_attempt(uow, actor, attempt_id)

    def audit(
        self, uow: UnitOfWork, actor: Actor, action: str, attempt: Attempt, details: dict[str, JsonValue]
    ) -> None:
        subject = attempt.id_index.reference if attempt.id_index else f"attempt:{attempt.id}"
        uow.audit.append(
            AuditRecord(action, actor.ref, attempt.outlet_code, subject, {"attempt": attempt.id, **details}),
            self._d.clock.now(),
        )

    def queue_notices(
        self, uow: UnitOfWork, actor: Actor, attempt: Attempt, kind: NoticeKind, msisdn: Msisdn, subscriber_id: str
    ) -> list[Notice]:
        return queue_notices(
            uow,
            self._d.notices,
            kind=kind,
            about=msisdn,
            subscriber_id=subscriber_id,
            subject=attempt.id_index.reference if attempt.id_index else f"attempt:{attempt.id}",
            outlet_code=attempt.outlet_code,
            actor_ref=actor.ref,
            now=self._d.clock.now(),
        )

    def audit_refused(self, actor: Actor, attempt_id: str, error: LockedOut | QuotaExceeded) -> None:
        """Record a step refused by a lock-out or a full quota in its own transaction (the refused step's work
        is rolled back); reports count these as rejections."""
        with self._d.uow() as uow:
            uow.audit.append(
                AuditRecord(
                    "attempt.refused",
                    actor.ref,
                    actor.outlet_code,
                    f"attempt:{attempt_id}",
                    {"attempt": attempt_id, "code": error.code},
                ),
                self._d.clock.now(),
            )
            uow.commit()

    def keep_name(self, uow: UnitOfWork, attempt: Attempt, subscriber_id: str, *, typed: str | None = None) -> None:
        """Record (or update) the subscriber's name, encrypted and with its blind index: the name the store's
        card reader read with this attempt's card wins over a typed one. Self-service at home and relying
        parties' three-element checks compare against it."""
        name = typed
        name_ct = uow.attempts.name_ciphertext(attempt.id)
        if name_ct is not None:
            name = self._d.cipher.decrypt(name_ct, EncryptionContext("attempt", attempt.id, "name")).decode()
        if name is None:
            return
        try:
            normalised = normalise_name(name)
        except InvalidInput:
            return  # a name the reader read that cannot be compared is not recorded
        uow.subscribers.set_name(
            subscriber_id,
            self._d.cipher.encrypt(name.strip().encode(), SUBSCRIBER_NAME.context(subscriber_id)),
            self._d.blind_index.index(name_index_key(subscriber_id, normalised)),
        )


def hash_request(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def replayed_receipt(uow: UnitOfWork, key: str | None, actor: Actor, request_hash: str) -> Receipt | None:
    """The receipt stored under an idempotency key for this actor, if the same request was done before.

    Raises:
        Unprocessable: the key was used with another request (``idempotency.mismatch``).
    """
    stored = uow.idempotency.get(key, actor.ref) if key is not None else None
    if stored is None:
        return None
    if stored[0] != request_hash:
        raise Unprocessable("this Idempotency-Key was used with another request", code="idempotency.mismatch")
    return Receipt(**json.loads(stored[1]))


def remember_receipt(
    uow: UnitOfWork, key: str | None, actor: Actor, request_hash: str, receipt: Receipt, now: datetime
) -> None:
    """Keep the receipt under the idempotency key (a retry answers it) and on its attempt (a reloaded kiosk shows it
    again until the clerk ends the visit). Masked data only."""
    stored = json.dumps(asdict(receipt))
    uow.attempts.keep_receipt(receipt.attempt_id, stored)
    if key is not None:
        uow.idempotency.put(key, actor.ref, request_hash, stored, now)
