"""Verifying the person at the counter: an attempt from the ID document through consent and the liveness challenge
to the decision. Every visit goes through it, whatever the service (registration, an owner service) or at home.

Each step is one use case with the same shape (check the actor and scope, load, ask the domain, audit in
the same transaction, commit). Frames, the ID photo and embeddings exist only inside :meth:`Verification.verify`'s
call and are dropped when it returns; only the decision, its reasons and the model figures in the audit
event are kept.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, timedelta

from realname.app.actors import Actor
from realname.app.attempts import (
    AttemptAccess,
    AttemptDeps,
    subject_key,
)
from realname.app.card_front import CardFrontMatch, PrintedPortraitReader, match_with_card_front, read_card_front
from realname.app.liveness import CheckedClip, answer_challenge
from realname.app.liveness import issue_challenge as issue_liveness_challenge
from realname.app.matching import DecodedImage, FaceEngine
from realname.app.ports import EncryptionContext
from realname.app.terminals import audit_refused_read, verify_reader_read
from realname.app.unit_of_work import UnitOfWork
from realname.domain.attempts import Attempt, Outcome, Purpose, ReasonCategory
from realname.domain.audit import AuditRecord, JsonValue
from realname.domain.consent import current_consent
from realname.domain.errors import (
    DependencyUnavailable,
    Forbidden,
    InvalidInput,
    Unauthenticated,
)
from realname.domain.face import FaceMatch
from realname.domain.identity.document_check import check_document, require_validity
from realname.domain.identity.documents import DocumentCheck, LongTerm, Sex, parse_kind_choice
from realname.domain.liveness import Challenge, LivenessResult
from realname.domain.lockout import LockedOut, lockout_reason
from realname.domain.organisation import Role
from realname.domain.reviews import CaseKind
from realname.domain.self_service import SelfServicePortraitRefused
from realname.domain.subscribers import BlindIndex
from realname.domain.terminals import (
    PortraitUntrusted,
    ReaderRequired,
    ReaderSignature,
    Terminal,
    fields_sha256,
)

FRAMES_FOR_MATCHING = 3


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


class Verification:
    """The steps of a visit up to the decision: start, document, consent, challenge, liveness and match."""

    def __init__(self, deps: AttemptDeps) -> None:
        self._d = deps
        self._access = AttemptAccess(deps)

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
            # The next customer: the last visit's printable receipt copy on this kiosk is no longer needed.
            uow.attempts.forget_receipt_copies_of(actor.ref, device_id)
            uow.attempts.add(attempt)
            self._access.audit(uow, actor, "attempt.started", attempt, {"purpose": purpose.value, "device": device_id})
            uow.commit()
        return attempt

    def get_attempt(self, actor: Actor, attempt_id: str) -> Attempt:
        with self._d.uow() as uow:
            attempt = self._access.load(uow, actor, attempt_id, read_only=True)
            if attempt.expire_if_due(self._d.clock.now()):
                uow.attempts.save(attempt)
                uow.commit()
            return attempt

    def submit_document(
        self, actor: Actor, attempt_id: str, document: DocumentInput, reader: ReaderSignature | None = None
    ) -> tuple[Attempt, DocumentCheck]:
        """Check the ID document; a valid one is remembered by its blind index and as ciphertext only.

        At a store, the document must come from the card reader of an enrolled terminal of the attempt's
        outlet, signed by it (``reader``), and give its validity; self-service attempts (at home) take a typed
        document.

        Raises:
            ValidityRequired: ``document.validity_required`` — a store's document without its validity (an MRZ
                carries its own).
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
                attempt = self._access.load(uow, actor, attempt_id)
                if attempt.purpose is not Purpose.SELF_SERVICE:
                    # At a store the validity is read from the card (it is one of the signed fields); at home the
                    # number is typed and the validity not asked.
                    require_validity(document.value, kind=parse_kind_choice(document.kind), expiry=document.expiry)
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
                self._access.audit(
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
            self._access.audit_refused(actor, attempt_id, exc)
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
        card_front_sha256: str | None = None,
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
            card_front_sha256=card_front_sha256,
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
        id_failures, device_failures = uow.failures.recent_for_id_and_device(id_index, device_id, since)
        reason = lockout_reason(
            id_failures=id_failures,
            device_failures=device_failures,
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
            attempt = self._access.load(uow, actor, attempt_id)
            shown = current_consent(version)
            attempt.record_consent(accepted=accepted, version=version, current_version=shown.version, now=now)
            uow.consents.add(self._d.ids.new_id(), attempt.id, version, shown.sha256, accepted, now)
            uow.attempts.save(attempt)
            self._access.audit(
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
            attempt = self._access.load(uow, actor, attempt_id)
            try:
                self._refuse_if_locked(uow, attempt.id_index, attempt)
            except LockedOut as exc:
                uow.rollback()  # releases the write lock before the refusal is recorded on its own
                self._access.audit_refused(actor, attempt_id, exc)
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
            self._access.audit(
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
                attempt = self._access.load(uow, actor, attempt_id)
                if attempt.purpose is Purpose.SELF_SERVICE:
                    raise SelfServicePortraitRefused(
                        "a reference portrait is taken only from the card reader of an enrolled terminal at a "
                        "store; at home, prove your identity with a one-time code"
                    )
                attempt.require_challenged(self._d.clock.now())
                self._refuse_if_locked(uow, attempt.id_index, attempt)
                self._trusted_portrait(uow, attempt, reader, id_photo, card_front)
                uow.commit()  # the read's nonce is spent whatever the analysis gives
        except (Unauthenticated, Forbidden) as exc:
            if exc.code.startswith(("reader.", "terminal.", "self.")):
                audit_refused_read(self._d.uow, self._d.clock, actor, actor.outlet_code, attempt_id, exc)
            raise
        except LockedOut as exc:
            self._access.audit_refused(actor, attempt_id, exc)
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
            attempt = self._access.load(uow, actor, attempt_id)
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
            self._access.audit(
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
        self,
        uow: UnitOfWork,
        attempt: Attempt,
        reader: ReaderSignature | None,
        id_photo: bytes,
        card_front: bytes | None = None,
    ) -> None:
        """The chip portrait must be signed by the terminal whose reader read this attempt's document, for the
        same card (the keyed digest of the fields it read); a card front sent with it must be covered by the same
        signature (the v2 message, ``reader.card_front_unsigned`` otherwise)."""
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
            card_front_sha256=hashlib.sha256(card_front).hexdigest() if card_front is not None else None,
        )

    def abandon(self, actor: Actor, attempt_id: str) -> Attempt:
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt = self._access.load(uow, actor, attempt_id)
            attempt.abandon(now)
            uow.attempts.save(attempt)
            self._access.audit(uow, actor, "attempt.abandoned", attempt, {})
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


def _region_of(check: DocumentCheck) -> dict[str, JsonValue]:
    """The province (first two GB2260 digits) of a valid mainland ID, for the reports' region rule; the full
    region code stays out of the audit log."""
    code = check.fields.get("region_code")
    if not check.valid or not isinstance(code, str) or len(code) != 6 or not code.isdigit():
        return {}
    return {"region": code[:2]}
