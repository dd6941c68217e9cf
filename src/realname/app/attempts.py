"""Registration flows: attempts from the ID document to the decision, then the number, SIM, surrender.

Each step is one use case with the same shape (check the actor and scope, load, ask the domain, audit in
the same transaction, commit). Frames, the ID photo and embeddings exist only inside :meth:`verify`'s
call and are dropped when it returns; only the decision, its reasons and the model figures in the audit
event are kept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta

from realname.app.actors import Actor
from realname.app.card_front import CardFrontMatch, PrintedPortraitReader, match_with_card_front, read_card_front
from realname.app.liveness import ChallengeStore, CheckedClip, ImageRgb, LivenessChecker, answer_challenge
from realname.app.liveness import issue_challenge as issue_liveness_challenge
from realname.app.matching import DecodedImage, FaceEngine, ImageDecoder
from realname.app.notices import NoticeDeps, deliver_notices, queue_notices
from realname.app.ports import BlindIndexer, Clock, EncryptionContext, FieldCipher, IdGenerator, RandomSource
from realname.app.privacy import SUBSCRIBER_NAME
from realname.app.registry import Assignment, bind_number
from realname.app.review import Review
from realname.app.terminals import SignatureVerifier, audit_refused_read, verify_reader_read
from realname.app.unit_of_work import UnitOfWork, UnitOfWorkFactory
from realname.domain.attempts import Attempt, Outcome, Purpose, ReasonCategory
from realname.domain.audit import AuditRecord, JsonValue
from realname.domain.consent import current_consent
from realname.domain.errors import (
    Conflict,
    DependencyUnavailable,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unprocessable,
)
from realname.domain.face import FaceMatch
from realname.domain.identity.document_check import check_document
from realname.domain.identity.documents import DocumentCheck, DocumentKind, LongTerm, Sex, parse_kind_choice
from realname.domain.identity.regions import RegionDirectory
from realname.domain.liveness import Challenge, LivenessResult
from realname.domain.lockout import LockedOut, lockout_reason
from realname.domain.notices import Notice, NoticeKind
from realname.domain.numbers import Binding, Msisdn, NumberState, PhoneNumber, QuotaExceeded
from realname.domain.organisation import Role
from realname.domain.policy import Policy
from realname.domain.relying_parties import name_index_key, normalise_name
from realname.domain.reviews import CaseDecision, CaseKind, ReviewCase
from realname.domain.self_service import SelfServicePortraitRefused
from realname.domain.sim import Iccid
from realname.domain.subscribers import BlindIndex
from realname.domain.terminals import (
    PortraitUntrusted,
    ReaderRequired,
    ReaderSignature,
    Terminal,
    fields_sha256,
)

FRAMES_FOR_MATCHING = 3
NUMBER_STAFF = (Role.CLERK, Role.ADMIN)
"""Who binds numbers at the counter: clerks (and admins, who may start attempts too); reviewers decide cases,
auditors read, neither reserves or registers a number."""


@dataclass(frozen=True, slots=True)
class DocumentInput:
    value: str
    kind: str = "auto"
    expiry: date | LongTerm | None = None
    issued: date | None = None
    printed_birth_date: date | None = None
    printed_sex: Sex | None = None
    name: str | None = None
    """The holder's name as the card reader read it (kept encrypted; self-service compares it)."""

    def reader_fields(self) -> tuple[str | None, ...]:
        """The ID fields a terminal signs, in the order of the signed array (see ``domain/terminals.py``)."""
        expiry = "long_term" if isinstance(self.expiry, LongTerm) else self.expiry.isoformat() if self.expiry else None
        return (
            self.kind,
            self.value,
            expiry,
            self.issued.isoformat() if self.issued else None,
            self.printed_birth_date.isoformat() if self.printed_birth_date else None,
            {Sex.MALE: "M", Sex.FEMALE: "F"}.get(self.printed_sex) if self.printed_sex else None,
            self.name,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The verification decision. ``similarity``/``threshold`` are for reviewers and the audit log only."""

    attempt: Attempt
    outcome: Outcome
    category: ReasonCategory | None
    reasons: tuple[str, ...]
    similarity: float | None
    threshold: float | None
    liveness: LivenessResult | None


@dataclass(frozen=True, slots=True, eq=False)
class StartedVerification:
    """A verification between its checks and its decision: the consumed challenge, the decoded ID photo and the
    card front's printed portrait (in memory only, dropped with the decision)."""

    attempt_id: str
    challenge: Challenge
    id_image: DecodedImage
    printed: DecodedImage | None
    portraits: PrintedPortraitReader | None
    card_front_given: bool


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
class RegistrationDeps:
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


class Registration:
    """The use cases behind the kiosk, the self-service page and the review queue."""

    def __init__(self, deps: RegistrationDeps) -> None:
        self._d = deps

    # -- loading with scope -------------------------------------------------------------------------

    def _attempt(self, uow: UnitOfWork, actor: Actor, attempt_id: str, *, read_only: bool = False) -> Attempt:
        if not read_only:
            # Auditors inspect attempts; only the staff who serve customers (and the subscriber) act on them.
            actor.require(Role.CLERK, Role.REVIEWER, Role.ADMIN, Role.SUBSCRIBER)
        else:
            # Regulators read aggregate reports only, never an attempt.
            actor.require(Role.CLERK, Role.REVIEWER, Role.ADMIN, Role.AUDITOR, Role.SUBSCRIBER)
        attempt = uow.attempts.get(attempt_id, for_update=True)
        if attempt is None:
            raise NotFound("no such attempt", code="attempt.not_found")
        try:
            actor.require_outlet(attempt.outlet_code)
        except Forbidden as exc:
            # Another outlet's attempt is indistinguishable from a missing one.
            raise NotFound("no such attempt", code="attempt.not_found") from exc
        if actor.role is Role.CLERK and actor.ref != attempt.clerk_ref:
            raise NotFound("no such attempt", code="attempt.not_found")
        if actor.role is Role.SUBSCRIBER and actor.ref != f"self:{attempt.id}":
            raise NotFound("no such attempt", code="attempt.not_found")
        return attempt

    def _audit(
        self, uow: UnitOfWork, actor: Actor, action: str, attempt: Attempt, details: dict[str, JsonValue]
    ) -> None:
        subject = attempt.id_index.reference if attempt.id_index else f"attempt:{attempt.id}"
        uow.audit.append(
            AuditRecord(action, actor.ref, attempt.outlet_code, subject, {"attempt": attempt.id, **details}),
            self._d.clock.now(),
        )

    def _queue_notices(
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

    def _audit_refused(self, actor: Actor, attempt_id: str, error: LockedOut | QuotaExceeded) -> None:
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

    # -- the steps ----------------------------------------------------------------------------------

    def start_attempt(self, actor: Actor, purpose: Purpose, device_id: str) -> Attempt:
        """Open an attempt at the actor's outlet for one customer visit."""
        actor.require(Role.CLERK, Role.ADMIN)
        if purpose is Purpose.SELF_SERVICE:
            raise InvalidInput(
                "self-service attempts are started on the self-service page", code="attempt.wrong_purpose"
            )
        if actor.outlet_code is None:
            raise Forbidden("attempts are started at an outlet", code="auth.outlet_required")
        now = self._d.clock.now()
        attempt = Attempt.start(
            self._d.ids.new_id(),
            purpose,
            actor.outlet_code,
            actor.ref,
            device_id,
            now,
            self._d.policy.attempt_ttl_minutes,
        )
        with self._d.uow() as uow:
            uow.attempts.add(attempt)
            self._audit(uow, actor, "attempt.started", attempt, {"purpose": purpose.value, "device": device_id})
            uow.commit()
        return attempt

    def get_attempt(self, actor: Actor, attempt_id: str) -> Attempt:
        with self._d.uow() as uow:
            attempt = self._attempt(uow, actor, attempt_id, read_only=True)
            if attempt.expire_if_due(self._d.clock.now()):
                uow.attempts.save(attempt)
                uow.commit()
            return attempt

    def submit_document(
        self, actor: Actor, attempt_id: str, document: DocumentInput, reader: ReaderSignature | None = None
    ) -> tuple[Attempt, DocumentCheck]:
        """Check the ID document; a valid one is remembered by its blind index and as ciphertext only.

        At a store, the document must come from the card reader of an enrolled terminal of the attempt's
        outlet, signed by it (``reader``); self-service attempts (at home) take a typed document.

        Raises:
            LockedOut: too many failed verifications for this ID (at a store) or this device recently.
            ReaderRequired, TerminalUnknown, TerminalRevoked, TerminalWrongOutlet, ReaderSignatureInvalid,
            ReaderStale, ReaderReplayed: the reader's signature is missing or not acceptable.
        """
        now = self._d.clock.now()
        check = self._check(document, now.date())
        id_index = BlindIndex(self._d.blind_index.index(subject_key(check))) if check.valid else None
        fields_digest = fields_sha256(document.reader_fields())
        try:
            with self._d.uow() as uow:
                attempt = self._attempt(uow, actor, attempt_id)
                terminal = self._trusted_read(uow, attempt, reader, portrait_sha256="", id_fields_sha256=fields_digest)
                if id_index is not None:
                    self._refuse_if_locked(uow, id_index, attempt)
                attempt.record_document(
                    valid=check.valid, reasons=check.reasons, kind=check.kind.value, id_index=id_index, now=now
                )
                if terminal is not None:
                    attempt.record_reader(terminal.id, self._reader_digest(fields_digest))
                ciphertext = name_ciphertext = None
                if id_index is not None:
                    ciphertext = self._d.cipher.encrypt(
                        subject_key(check).encode(), EncryptionContext("attempt", attempt.id, "id_number")
                    )
                    if document.name:
                        name_ciphertext = self._d.cipher.encrypt(
                            document.name.encode(), EncryptionContext("attempt", attempt.id, "name")
                        )
                uow.attempts.save(attempt, id_ciphertext=ciphertext, name_ciphertext=name_ciphertext)
                self._audit(
                    uow,
                    actor,
                    "document.checked",
                    attempt,
                    {
                        "kind": check.kind.value,
                        "valid": check.valid,
                        "reasons": list(check.reasons),
                        "terminal": terminal.id if terminal else None,
                        **_region_of(check),
                    },
                )
                uow.commit()
        except (Unauthenticated, Forbidden) as exc:
            if exc.code.startswith(("reader.", "terminal.")):
                audit_refused_read(self._d.uow, self._d.clock, actor, actor.outlet_code, attempt_id, exc)
            raise
        except LockedOut as exc:
            self._audit_refused(actor, attempt_id, exc)
            raise
        return attempt, check

    def _reader_digest(self, id_fields_sha256: str) -> str:
        """A keyed digest of the read fields' hash: binds the portrait read later to the same card, without
        storing an unkeyed hash of ID data."""
        return self._d.blind_index.index(f"reader-fields:{id_fields_sha256}")

    def _trusted_read(
        self,
        uow: UnitOfWork,
        attempt: Attempt,
        reader: ReaderSignature | None,
        *,
        portrait_sha256: str,
        id_fields_sha256: str,
    ) -> Terminal | None:
        """The enrolled terminal that signed this read, or None for a self-service attempt (no reader)."""
        if attempt.purpose is Purpose.SELF_SERVICE:
            return None
        if reader is None:
            raise ReaderRequired(
                "at a store the ID card is read by the enrolled terminal's reader and signed by it; "
                "this request carries no terminal signature"
            )
        return verify_reader_read(
            uow,
            self._d.verifier,
            reader=reader,
            outlet_code=attempt.outlet_code,
            attempt_id=attempt.id,
            portrait_sha256=portrait_sha256,
            id_fields_sha256=id_fields_sha256,
            now_clock=self._d.clock,
        )

    def _refuse_if_locked(self, uow: UnitOfWork, id_index: BlindIndex | None, attempt: Attempt) -> None:
        """Refuse when the device, or (at a store) the ID, is locked. Self-service never checks the ID's lock:
        the owner can always see their records, and a stranger's failures at home never count toward it."""
        now = self._d.clock.now()
        device_id = attempt.device_id
        if attempt.purpose is Purpose.SELF_SERVICE:
            id_index = None
        policy = self._d.policy
        # A lock that began up to ``lockout_minutes`` ago may stem from failures up to a window before it.
        since = now - timedelta(minutes=policy.lockout_window_minutes + policy.lockout_minutes)
        reason = lockout_reason(
            id_failures=uow.failures.recent_for_id(id_index, since) if id_index else (),
            device_failures=uow.failures.recent_for_device(device_id, since),
            now=now,
            max_failed=policy.max_failed_attempts,
            window_minutes=policy.lockout_window_minutes,
            lockout_minutes=policy.lockout_minutes,
        )
        if reason is not None:
            raise LockedOut(reason)

    def record_consent(self, actor: Actor, attempt_id: str, *, accepted: bool, version: str) -> Attempt:
        """Record the customer's biometric consent (or refusal, which opens the attended manual path)."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt = self._attempt(uow, actor, attempt_id)
            shown = current_consent(version)
            attempt.record_consent(accepted=accepted, version=version, current_version=shown.version, now=now)
            uow.consents.add(self._d.ids.new_id(), attempt.id, version, shown.sha256, accepted, now)
            uow.attempts.save(attempt)
            self._audit(
                uow, actor, "consent.accepted" if accepted else "consent.declined", attempt, {"version": version}
            )
            if not accepted:
                uow.reviews.open(self._d.ids.new_id(), "manual_path", attempt.id, attempt.id_index, None, now)
            uow.commit()
        return attempt

    def issue_challenge(self, actor: Actor, attempt_id: str) -> Challenge:
        """Issue a fresh, single-use liveness challenge bound to the attempt and its device.

        It burns the attempt's unanswered challenges; the count is audited and shown to reviewers.

        Raises:
            ChallengeLimitReached: the attempt has had ``policy.max_challenges_per_attempt`` challenges.
        """
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt = self._attempt(uow, actor, attempt_id)
            try:
                self._refuse_if_locked(uow, attempt.id_index, attempt)
            except LockedOut as exc:
                uow.rollback()  # releases the write lock before the refusal is recorded on its own
                self._audit_refused(actor, attempt_id, exc)
                raise
            attempt.record_challenge(now)
            issued = issue_liveness_challenge(
                store=uow.challenges,
                clock=self._d.clock,
                random=self._d.random,
                policy=self._d.policy,
                attempt_id=attempt.id,
                device_id=attempt.device_id,
            )
            uow.attempts.save(attempt)
            self._audit(
                uow,
                actor,
                "challenge.issued",
                attempt,
                {
                    "actions": [a.value for a in issued.challenge.actions],
                    "number": issued.number,
                    "of": self._d.policy.max_challenges_per_attempt,
                    "superseded": issued.superseded,
                },
            )
            uow.commit()
        return issued.challenge

    def verify(
        self,
        actor: Actor,
        attempt_id: str,
        *,
        nonce: str,
        clip: bytes,
        id_photo: bytes,
        reader: ReaderSignature | None = None,
        card_front: bytes | None = None,
    ) -> Decision:
        """Liveness on the clip, then 1:1 match of its best frames against the ID photo; decide.

        With ``card_front`` (a document-camera image of the ID card's front), its printed portrait must be the chip
        portrait's photograph (else the decision is a rejection with ``document.portrait_mismatch``), and the live
        frames are matched against it instead of the chip (``realname.app.card_front``). The card front is only
        read here, never stored.

        The challenge is burnt before analysis (the printed portrait is found before anything is spent). Any
        dependency failure (database, keys, model) raises and leaves the attempt undecided: never an approval.

        Raises:
            Challenge errors (expired, replayed, wrong attempt/device, unknown nonce), clip/image errors,
            PortraitNotFound (``document.portrait_not_found``), LockedOut, DependencyUnavailable.
        """
        started = self.begin_verification(
            actor, attempt_id, nonce=nonce, id_photo=id_photo, reader=reader, card_front=card_front
        )
        checked = self._d.liveness().check(clip, started.challenge.actions)
        return self.decide_verification(actor, started, checked)

    def begin_verification(
        self,
        actor: Actor,
        attempt_id: str,
        *,
        nonce: str,
        id_photo: bytes,
        reader: ReaderSignature | None = None,
        card_front: bytes | None = None,
    ) -> StartedVerification:
        """Everything of :meth:`verify` before the clip is analysed: the card front's printed portrait, the
        attempt's state and lock-outs, the terminal's signed chip portrait (its read nonce spent), the ID photo
        decoded, and the challenge consumed. A streamed clip (``app.streamed_verification``) is analysed between
        this and :meth:`decide_verification`.

        Raises:
            As :meth:`verify`, except the clip errors.
        """
        # The card front is read first: one whose portrait cannot be found is sent back before the card reader's
        # signed read (and the challenge) is spent, so the clerk just takes the picture again.
        portraits: PrintedPortraitReader | None = None
        printed: DecodedImage | None = None
        if card_front is not None:
            if self._d.printed_portraits is None:
                raise DependencyUnavailable("card-front images are not supported here", code="models.missing")
            portraits = self._d.printed_portraits()
            printed = read_card_front(portraits, self._d.image_decoder, card_front, self._d.policy)
        try:
            with self._d.uow() as uow:
                attempt = self._attempt(uow, actor, attempt_id)
                if attempt.purpose is Purpose.SELF_SERVICE:
                    raise SelfServicePortraitRefused(
                        "a reference portrait is taken only from the card reader of an enrolled terminal at a "
                        "store; at home, prove your identity with a one-time code"
                    )
                attempt.require_challenged(self._d.clock.now())
                self._refuse_if_locked(uow, attempt.id_index, attempt)
                self._trusted_portrait(uow, attempt, reader, id_photo)
                uow.commit()  # the read's nonce is spent whatever the analysis gives
        except (Unauthenticated, Forbidden) as exc:
            if exc.code.startswith(("reader.", "terminal.", "self.")):
                audit_refused_read(self._d.uow, self._d.clock, actor, actor.outlet_code, attempt_id, exc)
            raise
        except LockedOut as exc:
            self._audit_refused(actor, attempt_id, exc)
            raise
        id_image = self._d.image_decoder.decode(id_photo, max_pixels=self._d.policy.max_image_pixels)
        challenge = answer_challenge(
            store=self._d.challenges,
            clock=self._d.clock,
            attempt_id=attempt.id,
            device_id=attempt.device_id,
            nonce=nonce,
        )
        return StartedVerification(attempt.id, challenge, id_image, printed, portraits, card_front is not None)

    def decide_verification(
        self, actor: Actor, started: StartedVerification, checked: CheckedClip, engine: FaceEngine | None = None
    ) -> Decision:
        """Match the checked clip's best frames against the reference portrait, then record and audit the decision.
        ``engine`` replaces the configured face engine (a streamed verification passes one that analysed the
        reference portrait while the clip was still arriving).

        Raises:
            LockedOut is not re-checked here; DependencyUnavailable (database, keys, model): nothing is approved.
        """
        attempt_id = started.attempt_id
        id_image, printed, portraits = started.id_image, started.printed, started.portraits
        card_front_given = started.card_front_given
        match: FaceMatch | None = None
        card: CardFrontMatch | None = None
        reasons: list[str] = [r.value for r in checked.result.reasons]
        if checked.passed:
            if not checked.best_frames_rgb:
                reasons.append("face.none")
            else:
                frames = [DecodedImage(rgb) for rgb in checked.best_frames_rgb]
                card = match_with_card_front(
                    id_image, printed, frames, engine or self._d.face_engine(), portraits, k=FRAMES_FOR_MATCHING
                )
                match = card.comparison.match
                reasons.extend(match.reason_codes)
                if not match.matched and not match.reasons:
                    reasons.append("face.mismatch")
        approved = checked.passed and match is not None and match.matched
        outcome = Outcome.APPROVED if approved else Outcome.REJECTED
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt = self._attempt(uow, actor, attempt_id)
            attempt.record_decision(outcome, tuple(dict.fromkeys(reasons)), now)
            if not approved:
                # Only a face mismatch against the chip portrait an enrolled terminal read counts toward the
                # ID's lock-out; liveness and capture failures count against the device alone, so nobody can
                # lock a stranger's ID by failing on purpose.
                against_id = "face.mismatch" in reasons and attempt.terminal_id is not None
                uow.failures.add(self._d.ids.new_id(), attempt.id_index if against_id else None, attempt.device_id, now)
            similarity = round(match.similarity, 4) if match and match.similarity is not None else None
            if checked.result.spoof_suspected and attempt.id_index is not None:
                # Suspected fraud is not a bad photo: a reviewer looks at it, and the subscriber sees it in /me.
                uow.reviews.open(
                    self._d.ids.new_id(),
                    CaseKind.SPOOF_SUSPECTED.value,
                    attempt.id,
                    attempt.id_index,
                    None,
                    now,
                    similarity=similarity,
                )
            elif is_borderline(match, checked.passed):
                uow.reviews.open(
                    self._d.ids.new_id(),
                    CaseKind.BORDERLINE.value,
                    attempt.id,
                    attempt.id_index,
                    None,
                    now,
                    similarity=similarity,
                )
            uow.attempts.save(attempt)
            self._audit(
                uow,
                actor,
                "verification.decided",
                attempt,
                {
                    "outcome": outcome.value,
                    "reasons": list(attempt.reasons),
                    "engine": match.engine if match else None,
                    "similarity": similarity,
                    "threshold": match.threshold if match else None,
                    "reference": match.reference.value if match else None,
                    "frames_used": match.frames_used if match else 0,
                    "spoof_suspected": checked.result.spoof_suspected,
                    "actions_detected": [a.action.value for a in checked.result.actions_detected],
                    **card_front_audit(card_front_given, card),
                },
            )
            uow.commit()
        if approved and self._d.policy.keep_evidence and self._d.keep_evidence and checked.best_frames_rgb:
            self._d.keep_evidence(attempt.id, checked.best_frames_rgb[0])
        return Decision(
            attempt=attempt,
            outcome=outcome,
            category=attempt.category,
            reasons=attempt.reasons,
            similarity=match.similarity if match else None,
            threshold=match.threshold if match else None,
            liveness=checked.result,
        )

    def _trusted_portrait(
        self, uow: UnitOfWork, attempt: Attempt, reader: ReaderSignature | None, id_photo: bytes
    ) -> None:
        """The chip portrait must be signed by the terminal whose reader read this attempt's document, for the
        same card (the keyed digest of the fields it read)."""
        if attempt.terminal_id is None:
            raise PortraitUntrusted("this attempt's document was not read by an enrolled terminal")
        if reader is None:
            raise ReaderRequired("the chip portrait must be signed by the terminal that read the card")
        if reader.terminal_id != attempt.terminal_id or not hmac.compare_digest(
            self._reader_digest(reader.id_fields_sha256), attempt.reader_digest or ""
        ):
            raise PortraitUntrusted("this portrait was not read with this attempt's card at its terminal")
        self._trusted_read(
            uow,
            attempt,
            reader,
            portrait_sha256=hashlib.sha256(id_photo).hexdigest(),
            id_fields_sha256=reader.id_fields_sha256,
        )

    def abandon(self, actor: Actor, attempt_id: str) -> Attempt:
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt = self._attempt(uow, actor, attempt_id)
            attempt.abandon(now)
            uow.attempts.save(attempt)
            self._audit(uow, actor, "attempt.abandoned", attempt, {})
            uow.commit()
        return attempt

    def check_document(self, actor: Actor, document: DocumentInput) -> DocumentCheck:
        """Check a document outside an attempt: nothing stored in clear, audited by its blind index."""
        actor.require(Role.CLERK, Role.REVIEWER, Role.ADMIN)
        now = self._d.clock.now()
        check = self._check(document, now.date())
        subject = None
        if check.valid:
            subject = BlindIndex(self._d.blind_index.index(subject_key(check))).reference
        with self._d.uow() as uow:
            uow.audit.append(
                AuditRecord(
                    "document.checked",
                    actor.ref,
                    actor.outlet_code,
                    subject,
                    {"kind": check.kind.value, "valid": check.valid, "reasons": list(check.reasons)},
                ),
                now,
            )
            uow.commit()
        return check

    def _check(self, document: DocumentInput, today: date) -> DocumentCheck:
        return check_document(
            document.value,
            kind=parse_kind_choice(document.kind),
            today=today,
            regions=self._d.regions,
            min_age=self._d.policy.min_age,
            expiry=document.expiry,
            issued=document.issued,
            printed_birth_date=document.printed_birth_date,
            printed_sex=document.printed_sex,
        )

    # -- after an approved verification -------------------------------------------------------------

    def available_numbers(
        self, actor: Actor, *, prefix: str = "", pattern: str = "", after: str = "", limit: int = 20
    ) -> Sequence[PhoneNumber]:
        """Available numbers in order, filtered by prefix and by a digit pattern (``?`` = any digit)."""
        actor.require(Role.CLERK, Role.ADMIN)
        if prefix and not prefix.isdigit():
            raise InvalidInput("a prefix is digits only", code="numbers.prefix_invalid")
        if pattern and not all(c.isdigit() or c == "?" for c in pattern):
            raise InvalidInput("a pattern is digits and '?' only", code="numbers.pattern_invalid")
        limit = max(1, min(limit, 100))
        found: list[PhoneNumber] = []
        cursor = after
        with self._d.uow() as uow:
            while len(found) < limit:
                batch = uow.numbers.list(
                    state=None, prefix=prefix, limit=200, after=cursor, free_at=self._d.clock.now()
                )
                if not batch:
                    break
                found.extend(n for n in batch if _matches(str(n.msisdn), pattern))
                cursor = str(batch[-1].msisdn)
        return found[:limit]

    def reserve(self, actor: Actor, attempt_id: str, msisdn: Msisdn) -> PhoneNumber:
        """Hold a number for the verified customer (``reservation_ttl_seconds``); renewing one it holds is free.

        Raises:
            Forbidden: the actor is not counter staff (``auth.role_forbidden``).
            Conflict: the attempt already holds ``max_reservations_per_attempt`` numbers
                (``reservation.limit_reached``), or the number is taken.
        """
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt = self._attempt(uow, actor, attempt_id)
            actor.require(*NUMBER_STAFF)  # after the scope check: another outlet's attempt still looks missing
            attempt.require_approved(now)
            if attempt.purpose is not Purpose.REGISTER:
                raise Conflict("numbers are reserved only when registering", code="attempt.wrong_purpose")
            number = uow.numbers.get(msisdn, for_update=True)
            if number is None:
                raise NotFound(f"number {msisdn.masked} is not in the pool", code="number.not_found")
            renewing = number.state is NumberState.RESERVED and number.reserved_by == attempt.id
            limit = self._d.policy.max_reservations_per_attempt
            if not renewing and uow.numbers.reserved_for(attempt.id, now) >= limit:
                # The attempt row is locked (or SQLite serialises writers), so two reservations at once count right.
                raise Conflict(
                    f"this attempt already holds {limit} reserved numbers; complete or let one expire",
                    code="reservation.limit_reached",
                )
            number.reserve(attempt.id, now, self._d.policy.reservation_ttl_seconds)
            uow.numbers.save(number)
            self._audit(uow, actor, "number.reserved", attempt, {"number": msisdn.masked})
            uow.commit()
        return number

    def complete_registration(
        self,
        actor: Actor,
        attempt_id: str,
        *,
        msisdn: Msisdn,
        iccid: Iccid,
        idempotency_key: str,
        name: str | None = None,
    ) -> Receipt:
        """Bind the number to the verified customer, once, with quota and number state re-checked.

        ``name`` (as the card reader read it) is stored encrypted with its blind index, for relying parties'
        three-element checks. A retry with the same idempotency key returns the same receipt; another payload
        with the same key is refused (``idempotency.mismatch``).
        """
        if name is not None:
            normalise_name(name)  # a malformed typed name is refused before any work
        request_hash = _request_hash(attempt_id, str(msisdn), iccid.digits, *([name] if name is not None else []))
        now = self._d.clock.now()
        with self._d.uow() as uow:
            replayed = _replayed(uow, idempotency_key, actor, request_hash)
            if replayed is not None:
                return replayed
            attempt = self._attempt(uow, actor, attempt_id)
            actor.require(*NUMBER_STAFF)
            if attempt.purpose is not Purpose.REGISTER:
                raise Conflict("this attempt is not a registration", code="attempt.wrong_purpose")
            attempt.require_approved(now)
            assert attempt.id_index is not None
            try:
                assignment: Assignment = bind_number(
                    uow,
                    policy=self._d.policy,
                    ids=self._d.ids,
                    now=now,
                    msisdn=msisdn,
                    attempt_id=attempt.id,
                    id_index=attempt.id_index,
                    iccid=iccid.digits,
                    outlet_code=attempt.outlet_code,
                )
            except QuotaExceeded as exc:
                uow.rollback()  # releases the write lock before the refusal is recorded on its own
                self._audit_refused(actor, attempt_id, exc)
                raise
            id_ct = uow.attempts.id_ciphertext(attempt.id)
            if id_ct is not None:
                clear = self._d.cipher.decrypt(id_ct, EncryptionContext("attempt", attempt.id, "id_number"))
                subscriber_id = assignment.binding.subscriber_id
                uow.subscribers.set_id_ciphertext(
                    subscriber_id,
                    self._d.cipher.encrypt(clear, EncryptionContext("subscriber", subscriber_id, "id_number")),
                )
            self._keep_name(uow, attempt, assignment.binding.subscriber_id, typed=name)
            attempt.complete(now, str(msisdn))
            uow.attempts.save(attempt)
            receipt = Receipt(
                attempt_id=attempt.id,
                msisdn_masked=msisdn.masked,
                iccid_masked=iccid.masked,
                outlet_code=attempt.outlet_code,
                held_numbers=assignment.held_numbers,
                issued_at=now.isoformat(timespec="seconds"),
            )
            _remember(uow, idempotency_key, actor, request_hash, receipt, now)
            uow.audit.append(
                AuditRecord(
                    "number.assigned",
                    actor.ref,
                    attempt.outlet_code,
                    attempt.id_index.reference,
                    {"attempt": attempt.id, "number": msisdn.masked, "iccid": iccid.masked},
                ),
                now,
            )
            notices = self._queue_notices(
                uow, actor, attempt, NoticeKind.REGISTERED, msisdn, assignment.binding.subscriber_id
            )
            uow.commit()
        deliver_notices(self._d.notices, notices, self._d.uow, self._d.clock, actor.ref)
        return receipt

    def _keep_name(self, uow: UnitOfWork, attempt: Attempt, subscriber_id: str, *, typed: str | None = None) -> None:
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

    # -- steps by the verified owner of a number ----------------------------------------------------

    def _owner_attempt(self, uow: UnitOfWork, actor: Actor, attempt_id: str, purpose: Purpose) -> Attempt:
        attempt = self._attempt(uow, actor, attempt_id)
        if attempt.purpose is not purpose:
            raise Conflict(f"this attempt is not for {purpose.value}", code="attempt.wrong_purpose")
        attempt.require_approved(self._d.clock.now())
        return attempt

    def _owned_binding(self, uow: UnitOfWork, attempt: Attempt, msisdn: Msisdn) -> tuple[PhoneNumber, Binding, str]:
        """The number, its active binding and the subscriber id, if the verified person holds it."""
        number = uow.numbers.get(msisdn, for_update=True)
        binding = uow.bindings.active_for(msisdn)
        subscriber = uow.subscribers.find(attempt.id_index) if attempt.id_index else None
        if number is None or binding is None or subscriber is None or binding.subscriber_id != subscriber.id:
            raise NotFound("the verified person holds no such number", code="number.not_held")
        return number, binding, subscriber.id

    def complete_surrender(
        self, actor: Actor, attempt_id: str, msisdn: Msisdn, idempotency_key: str | None = None
    ) -> Receipt:
        """The verified owner gives the number up; it cools off before anyone else can have it.

        With an idempotency key, a retry returns the first receipt (as for every owner service)."""
        now = self._d.clock.now()
        request_hash = _request_hash(Purpose.SURRENDER.value, attempt_id, str(msisdn))
        with self._d.uow() as uow:
            replayed = _replayed(uow, idempotency_key, actor, request_hash)
            if replayed is not None:
                return replayed
            attempt = self._owner_attempt(uow, actor, attempt_id, Purpose.SURRENDER)
            number, binding, subscriber_id = self._owned_binding(uow, attempt, msisdn)
            number.surrender(now, self._d.policy.cooling_off_days)
            uow.numbers.save(number)
            uow.bindings.end(binding.id, now, "surrendered")
            uow.subscribers.free_quota_slot(subscriber_id, now)
            attempt.complete(now, str(msisdn))
            uow.attempts.save(attempt)
            self._audit(uow, actor, "number.surrendered", attempt, {"number": msisdn.masked})
            held = len(uow.bindings.active_of_subscriber(subscriber_id))
            receipt = _owner_receipt(attempt, msisdn, number, binding.iccid, held, now)
            _remember(uow, idempotency_key, actor, request_hash, receipt, now)
            notices = self._queue_notices(uow, actor, attempt, NoticeKind.SURRENDERED, msisdn, subscriber_id)
            uow.commit()
        deliver_notices(self._d.notices, notices, self._d.uow, self._d.clock, actor.ref)
        return receipt

    def replace_sim(
        self, actor: Actor, attempt_id: str, msisdn: Msisdn, iccid: Iccid, idempotency_key: str | None = None
    ) -> Receipt:
        """Bind a new SIM to the verified owner's number; the old SIM's binding ends (the card is dead)."""
        now = self._d.clock.now()
        request_hash = _request_hash(Purpose.SIM_REPLACEMENT.value, attempt_id, str(msisdn), iccid.digits)
        with self._d.uow() as uow:
            replayed = _replayed(uow, idempotency_key, actor, request_hash)
            if replayed is not None:
                return replayed
            attempt = self._owner_attempt(uow, actor, attempt_id, Purpose.SIM_REPLACEMENT)
            number, binding, subscriber_id = self._owned_binding(uow, attempt, msisdn)
            if number.state is not NumberState.ACTIVE:
                raise Conflict("a suspended number must be re-verified first", code="number.suspended")
            if binding.iccid == iccid.digits:
                raise InvalidInput("this SIM is the one already bound", code="iccid.same")
            uow.bindings.end(binding.id, now, "sim_replaced")
            uow.bindings.add(
                replace(
                    binding,
                    id=self._d.ids.new_id(),
                    iccid=iccid.digits,
                    started_at=now,
                    outlet_code=attempt.outlet_code,
                )
            )
            attempt.complete(now, str(msisdn))
            uow.attempts.save(attempt)
            self._keep_name(uow, attempt, subscriber_id)
            self._audit(uow, actor, "sim.replaced", attempt, {"number": msisdn.masked, "iccid": iccid.masked})
            held = len(uow.bindings.active_of_subscriber(subscriber_id))
            receipt = _owner_receipt(attempt, msisdn, number, iccid.digits, held, now)
            _remember(uow, idempotency_key, actor, request_hash, receipt, now)
            notices = self._queue_notices(uow, actor, attempt, NoticeKind.SIM_REPLACED, msisdn, subscriber_id)
            uow.commit()
        deliver_notices(self._d.notices, notices, self._d.uow, self._d.clock, actor.ref)
        return receipt

    def complete_reverification(
        self, actor: Actor, attempt_id: str, msisdn: Msisdn, idempotency_key: str | None = None
    ) -> Receipt:
        """The verified owner of a suspended number re-verified in person: the number is active again."""
        now = self._d.clock.now()
        request_hash = _request_hash(Purpose.REVERIFY.value, attempt_id, str(msisdn))
        with self._d.uow() as uow:
            replayed = _replayed(uow, idempotency_key, actor, request_hash)
            if replayed is not None:
                return replayed
            attempt = self._owner_attempt(uow, actor, attempt_id, Purpose.REVERIFY)
            number, binding, subscriber_id = self._owned_binding(uow, attempt, msisdn)
            number.reinstate()
            uow.numbers.save(number)
            attempt.complete(now, str(msisdn))
            uow.attempts.save(attempt)
            self._keep_name(uow, attempt, subscriber_id)
            self._audit(uow, actor, "number.reverified", attempt, {"number": msisdn.masked})
            held = len(uow.bindings.active_of_subscriber(subscriber_id))
            receipt = _owner_receipt(attempt, msisdn, number, binding.iccid, held, now)
            _remember(uow, idempotency_key, actor, request_hash, receipt, now)
            uow.commit()
        return receipt

    # -- review queue -------------------------------------------------------------------------------

    # -- the review queue (app/review.py) -------------------------------------------------------------

    @property
    def review(self) -> Review:
        """The review loop: clerks' requests, the reviewers' queue and decisions, the kiosk's view of a case."""
        return Review(self._d, self._attempt, self._audit)

    def review_cases(self, actor: Actor) -> Sequence[ReviewCase]:
        return self.review.pending_cases(actor)

    def decide_case(self, actor: Actor, case_id: str, decision: CaseDecision, reason: str) -> ReviewCase:
        return self.review.decide_case(actor, case_id, decision, reason)


BORDERLINE_MARGIN = 0.05
"""A live person whose similarity falls this close below the threshold goes to the review queue."""


def card_front_audit(given: bool, card: CardFrontMatch | None) -> dict[str, JsonValue]:
    """The audit fields of a verification with a card front (none without one): the same-photograph similarity
    and threshold, and which reference decided."""
    if not given:
        return {}
    check = card.check if card is not None else None
    return {
        "card_front": True,
        "same_photograph": None if check is None or check.similarity is None else round(check.similarity, 4),
        "same_photograph_threshold": check.threshold if check is not None else None,
        "decided_by": card.decided_by.value if card is not None and card.decided_by is not None else None,
    }


def is_borderline(match: FaceMatch | None, liveness_passed: bool) -> bool:
    if not liveness_passed or match is None or match.matched or match.similarity is None or match.reasons:
        return False
    return match.similarity >= match.threshold - BORDERLINE_MARGIN


def _owner_receipt(
    attempt: Attempt, msisdn: Msisdn, number: PhoneNumber, iccid_digits: str, held: int, now: datetime
) -> Receipt:
    """The masked receipt of an owner service; ``iccid_digits`` is the SIM now serving (or taken back from) it."""
    return Receipt(
        attempt.id,
        msisdn.masked,
        Iccid.parse(iccid_digits).masked,
        attempt.outlet_code,
        held,
        now.isoformat(timespec="seconds"),
        number.state.value,
        number.cooling_until.isoformat(timespec="seconds") if number.cooling_until else None,
    )


def _request_hash(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _replayed(uow: UnitOfWork, key: str | None, actor: Actor, request_hash: str) -> Receipt | None:
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


def _remember(
    uow: UnitOfWork, key: str | None, actor: Actor, request_hash: str, receipt: Receipt, now: datetime
) -> None:
    if key is not None:
        uow.idempotency.put(key, actor.ref, request_hash, json.dumps(asdict(receipt)), now)


def _matches(digits: str, pattern: str) -> bool:
    """Whether the number ends with ``pattern``, where ``?`` stands for any digit."""
    if not pattern:
        return True
    tail = digits[-len(pattern) :]
    return len(tail) == len(pattern) and all(p in ("?", d) for p, d in zip(pattern, tail, strict=True))


def _region_of(check: DocumentCheck) -> dict[str, JsonValue]:
    """The province (first two GB2260 digits) of a valid mainland ID, for the reports' region rule; the full
    region code stays out of the audit log."""
    code = check.fields.get("region_code")
    if not check.valid or not isinstance(code, str) or len(code) != 6 or not code.isdigit():
        return {}
    return {"region": code[:2]}
