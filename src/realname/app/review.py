"""The review loop: a clerk asks for a review of a rejected face check (a spoof verdict opens one by itself), reviewers
work the queue with what they need to decide, overrides take two reviewers, and the kiosk follows its case and
resumes the visit once the approval stands.

Clerks see a case's state and decision, never the similarity; reviewers (and auditors) see the similarity, the
reasons, the masked document, the clerk and the outlet. Showing a reviewer the masked document reads personal data:
each such read is an audit event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from realname.app.actors import Actor
from realname.app.ports import EncryptionContext
from realname.app.unit_of_work import UnitOfWork
from realname.domain.attempts import Attempt, AttemptExpired, AttemptStateError, Outcome
from realname.domain.audit import AuditRecord, JsonValue
from realname.domain.errors import InvalidInput, NotFound
from realname.domain.identity.documents import mask_identifier
from realname.domain.numbers import Msisdn, NumberState
from realname.domain.organisation import SELF_SERVICE_OUTLET, Role
from realname.domain.relying_parties import PartyStatus
from realname.domain.reviews import (
    ALLOWED_DECISIONS,
    ATTEMPT_REVIEW_KINDS,
    ENDED_STATES,
    PARTY_REVIEW_KINDS,
    CaseDecision,
    CaseKind,
    CaseState,
    ReviewCase,
    party_status_after,
)
from realname.domain.subscribers import BlindIndex

if TYPE_CHECKING:
    from realname.app.attempts import RegistrationDeps

REVIEW_WAIT = timedelta(hours=2)
"""How long a visit waiting for its review stays open: the customer may wait at the counter for the reviewers."""

AttemptLoader = Callable[..., Attempt]
AuditWriter = Callable[[UnitOfWork, Actor, str, Attempt, dict[str, JsonValue]], None]


@dataclass(frozen=True, slots=True)
class CaseForReview:
    """A case as a reviewer sees it."""

    case: ReviewCase
    allowed: tuple[CaseDecision, CaseDecision]
    outlet_code: str | None
    clerk_ref: str | None
    category: str | None
    reasons: tuple[str, ...]
    document_masked: str | None
    document_kind: str | None
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class ReviewStatus:
    """The kiosk's view of its visit's review: no similarity, no reviewer's reason."""

    case: ReviewCase | None
    attempt: Attempt


class Review:
    def __init__(self, deps: RegistrationDeps, load_attempt: AttemptLoader, audit: AuditWriter) -> None:
        self._d = deps
        self._attempt = load_attempt
        self._audit = audit

    # -- the clerk ---------------------------------------------------------------------------------------

    def request_review(self, actor: Actor, attempt_id: str, reason: str) -> ReviewStatus:
        """The clerk asks for a review of a rejected face check, saying why; the visit waits for the reviewers.

        Asking again returns the case already open (a spoof verdict, a borderline rejection or an earlier request)
        and adds nothing.

        Raises:
            InvalidInput: ``review.reason_required`` (1–500 characters).
            AttemptStateError: the attempt's face check was not rejected.
        """
        reason = reason.strip()
        if not reason or len(reason) > 500:
            raise InvalidInput("a review request needs a reason of 1–500 characters", code="review.reason_required")
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt = self._attempt(uow, actor, attempt_id)  # scope first: another's attempt does not exist
            actor.require(Role.CLERK, Role.ADMIN)
            open_case = _open_attempt_case(uow, attempt.id)
            if open_case is None:
                if attempt.expire_if_due(now):
                    uow.attempts.save(attempt)
                    uow.commit()
                    raise AttemptExpired("this attempt has expired; start a new one")
                if attempt.outcome is not Outcome.REJECTED or attempt.id_index is None:
                    raise AttemptStateError("only a rejected face check of a checked document can be reviewed")
                similarity = _latest_similarity(uow, attempt)
                uow.reviews.open(
                    self._d.ids.new_id(),
                    CaseKind.REQUESTED.value,
                    attempt.id,
                    attempt.id_index,
                    None,
                    now,
                    requested_by=actor.ref,
                    request_reason=reason,
                    similarity=similarity,
                )
                # The customer may wait for the reviewers: the visit stays open meanwhile.
                attempt.expires_at = max(attempt.expires_at, now + REVIEW_WAIT)
                uow.attempts.save(attempt)
                self._audit(uow, actor, "review.requested", attempt, {"reason": reason[:200]})
                open_case = _open_attempt_case(uow, attempt.id)
                uow.commit()
            return ReviewStatus(open_case, attempt)

    def review_status(self, actor: Actor, attempt_id: str) -> ReviewStatus:
        """The latest case about the clerk's attempt (None when none was opened), and the attempt as it stands."""
        with self._d.uow() as uow:
            attempt = self._attempt(uow, actor, attempt_id)
            cases = [c for c in uow.reviews.of_attempt(attempt.id) if c.kind in ATTEMPT_REVIEW_KINDS]
            return ReviewStatus(cases[-1] if cases else None, attempt)

    # -- the reviewers -----------------------------------------------------------------------------------

    def pending_cases(self, actor: Actor) -> Sequence[ReviewCase]:
        """Open cases of the actor's outlet (and self-service ones); admins and auditors see every outlet's."""
        actor.require(Role.REVIEWER, Role.ADMIN, Role.AUDITOR)
        with self._d.uow() as uow:
            return [case for case, _ in self._visible(uow, actor)]

    def cases_for_review(self, actor: Actor) -> Sequence[CaseForReview]:
        """The open cases with what a reviewer needs: the masked document (a read of personal data, audited),
        the reasons and category, the clerk, the outlet, and the decisions the case's kind allows."""
        actor.require(Role.REVIEWER, Role.ADMIN, Role.AUDITOR)
        now = self._d.clock.now()
        shown: list[CaseForReview] = []
        with self._d.uow() as uow:
            for case, attempt in self._visible(uow, actor):
                masked = None
                if attempt is not None and case.kind in ATTEMPT_REVIEW_KINDS:
                    ciphertext = uow.attempts.id_ciphertext(attempt.id)
                    if ciphertext is not None:
                        number = self._d.cipher.decrypt(
                            ciphertext, EncryptionContext("attempt", attempt.id, "id_number")
                        ).decode()
                        masked = mask_identifier(number.split(":")[-1])
                        uow.audit.append(
                            AuditRecord(
                                "review.case_viewed",
                                actor.ref,
                                attempt.outlet_code,
                                case.id_index and BlindIndex(case.id_index).reference,
                                {"case": case.id, "attempt": attempt.id},
                            ),
                            now,
                        )
                shown.append(
                    CaseForReview(
                        case=case,
                        allowed=ALLOWED_DECISIONS[case.kind],
                        outlet_code=attempt.outlet_code if attempt else None,
                        clerk_ref=attempt.clerk_ref if attempt else None,
                        category=attempt.category.value if attempt and attempt.category else None,
                        reasons=attempt.reasons if attempt else (),
                        document_masked=masked,
                        document_kind=attempt.document_kind if attempt else None,
                        decided_at=attempt.decided_at if attempt else None,
                    )
                )
            uow.commit()
        return shown

    def _visible(self, uow: UnitOfWork, actor: Actor) -> list[tuple[ReviewCase, Attempt | None]]:
        visible = []
        for case in uow.reviews.pending():
            attempt = uow.attempts.get(case.attempt_id) if case.attempt_id else None
            outlet = attempt.outlet_code if attempt else SELF_SERVICE_OUTLET
            if actor.role in (Role.ADMIN, Role.AUDITOR) or outlet in (actor.outlet_code, SELF_SERVICE_OUTLET):
                visible.append((case, attempt))
        return visible

    def decide_case(self, actor: Actor, case_id: str, decision: CaseDecision, reason: str) -> ReviewCase:
        """Record a reviewer's decision; overrides wait for a second reviewer, then take effect.

        Only the decisions the case's kind allows are accepted (``review.decision_invalid``). A second reviewer who
        refuses the override ends the case (``overruled``): the machine's outcome stands. An approved
        verification case makes its attempt approved: the kiosk resumes the visit.
        """
        actor.require(Role.REVIEWER)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            case = uow.reviews.get(case_id, for_update=True)
            attempt = uow.attempts.get(case.attempt_id, for_update=True) if case and case.attempt_id else None
            outlet = attempt.outlet_code if attempt else SELF_SERVICE_OUTLET
            if case is None or outlet not in (actor.outlet_code, SELF_SERVICE_OUTLET):
                raise NotFound("no such case", code="review.not_found")
            allowed = ALLOWED_DECISIONS[case.kind]
            if decision not in allowed:
                raise InvalidInput(
                    f"a {case.kind.value} case is decided with {' or '.join(allowed)}", code="review.decision_invalid"
                )
            closed = case.decide(actor.ref, decision, reason, now)
            if closed and case.decision is CaseDecision.APPROVE and attempt is not None:
                attempt.approve_by_review(now)
                uow.attempts.save(attempt)
            if closed and decision is CaseDecision.SUSPEND_CONFIRMED and case.kind is CaseKind.NOT_MINE and case.msisdn:
                # A "not mine" report only opens the case; the number is suspended once a reviewer confirms.
                number = uow.numbers.get(Msisdn(case.msisdn), for_update=True)
                if number is not None and number.state is NumberState.ACTIVE:
                    number.suspend()
                    uow.numbers.save(number)
            if closed and decision is CaseDecision.REINSTATE and case.kind is CaseKind.NOT_MINE and case.msisdn:
                number = uow.numbers.get(Msisdn(case.msisdn), for_update=True)
                if number is not None and number.state is NumberState.SUSPENDED:
                    number.reinstate()
                    uow.numbers.save(number)
            if closed and case.kind in PARTY_REVIEW_KINDS and case.party_id:
                _act_on_party(uow, actor, case, now)
            uow.reviews.save(case)
            details: dict[str, JsonValue] = {
                "case": case.id,
                "kind": case.kind.value,
                "decision": decision.value,
                "reason": reason[:200],
            }
            if case.state is CaseState.OVERRULED and case.proposed_decision is not None:
                details["overruled"] = case.proposed_decision.value
            uow.audit.append(
                AuditRecord(
                    "review.decided" if closed else "review.proposed",
                    actor.ref,
                    outlet,
                    case.id_index and BlindIndex(case.id_index).reference,
                    details,
                ),
                now,
            )
            uow.commit()
        return case


def _act_on_party(uow: UnitOfWork, actor: Actor, case: ReviewCase, now: datetime) -> None:
    """A closed case about a relying party suspends or reinstates it (``party_status_after``), audited as the
    party's change with the case that made it; the party's next check sees the new status."""
    assert case.party_id is not None
    party = uow.parties.get(case.party_id, for_update=True)
    if party is None:
        return
    to = party_status_after(case.kind, case.decision, party.status)
    if to is None:
        return
    uow.parties.set_status(party.id, to, now)
    uow.audit.append(
        AuditRecord(
            "party.reinstated" if to is PartyStatus.ACTIVE else "party.suspended",
            actor.ref,
            None,
            f"party:{party.id}",
            {"reason": "review", "case": case.id, "kind": case.kind.value, "was": party.status.value},
        ),
        now,
    )


def _open_attempt_case(uow: UnitOfWork, attempt_id: str) -> ReviewCase | None:
    for case in reversed(uow.reviews.of_attempt(attempt_id)):
        if case.kind in ATTEMPT_REVIEW_KINDS and case.state not in ENDED_STATES:
            return case
    return None


def _latest_similarity(uow: UnitOfWork, attempt: Attempt) -> float | None:
    """The similarity of the attempt's latest face check, from its audit event (the only place it is kept)."""
    subject = attempt.id_index.reference if attempt.id_index else f"attempt:{attempt.id}"
    for event in uow.audit.about(subject):
        if event.action == "verification.decided" and event.details.get("attempt") == attempt.id:
            value = event.details.get("similarity")
            return float(value) if isinstance(value, int | float) else None
    return None
