"""The review queue: manual-path requests, borderline rejections, "not mine" reports, and relying parties
suspended for enumeration or reported for an unwanted check.

A reviewer proposes a decision with a reason. Decisions that override the machine (approving what it
rejected, reinstating a reported number) need a second, different reviewer to confirm (four eyes). Every case
ends: a second reviewer who disagrees does not leave it waiting, their decision closes it — an override needs
two reviewers for it, so one against it is enough to refuse it, and the case ends with the decision that keeps
the machine's outcome (reject, keep the number suspended). The overruled proposal stays on the case.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from realname.domain.errors import Conflict, Forbidden, InvalidInput
from realname.domain.relying_parties import PartyStatus


class CaseKind(enum.StrEnum):
    MANUAL_PATH = "manual_path"
    BORDERLINE = "borderline"
    NOT_MINE = "not_mine"
    PARTY_ENUMERATION = "party_enumeration"
    """A relying party's checks looked like enumeration; its key was suspended."""
    UNWANTED_CHECK = "unwanted_check"
    """A subscriber reported a relying party's check on their number as unwanted."""
    REQUESTED = "requested"
    """The clerk asked for a review of a rejected face check, with their reason."""
    SPOOF_SUSPECTED = "spoof_suspected"
    """The face check suspected a photo, screen or mask: opened by the verification itself."""
    ANOMALY = "anomaly"
    """An anomaly rule flagged an outlet, clerk or terminal (``domain/anomalies.py``): confirmed or dismissed."""


class CaseState(enum.StrEnum):
    OPEN = "open"
    AWAITING_SECOND = "awaiting_second"
    CLOSED = "closed"
    OVERRULED = "overruled"
    """Closed by a second reviewer who refused the proposed override: the machine's outcome stands."""


ENDED_STATES = frozenset({CaseState.CLOSED, CaseState.OVERRULED})


class CaseDecision(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    SUSPEND_CONFIRMED = "suspend_confirmed"
    REINSTATE = "reinstate"


OVERRIDES = frozenset({CaseDecision.APPROVE, CaseDecision.REINSTATE})

ALLOWED_DECISIONS: dict[CaseKind, tuple[CaseDecision, CaseDecision]] = {
    CaseKind.MANUAL_PATH: (CaseDecision.APPROVE, CaseDecision.REJECT),
    CaseKind.BORDERLINE: (CaseDecision.APPROVE, CaseDecision.REJECT),
    CaseKind.REQUESTED: (CaseDecision.APPROVE, CaseDecision.REJECT),
    CaseKind.SPOOF_SUSPECTED: (CaseDecision.APPROVE, CaseDecision.REJECT),
    CaseKind.NOT_MINE: (CaseDecision.SUSPEND_CONFIRMED, CaseDecision.REINSTATE),
    # A relying party's case acts on the party (see `party_status_after`): the enumeration detection suspended
    # it already, so the reviewers keep it suspended or reinstate it (an override); a check reported as
    # unwanted either suspends the party or is dismissed.
    CaseKind.PARTY_ENUMERATION: (CaseDecision.SUSPEND_CONFIRMED, CaseDecision.REINSTATE),
    CaseKind.UNWANTED_CHECK: (CaseDecision.SUSPEND_CONFIRMED, CaseDecision.REJECT),
    # An anomaly flag is confirmed (suspend_confirmed) or dismissed (reject); people act on it.
    CaseKind.ANOMALY: (CaseDecision.SUSPEND_CONFIRMED, CaseDecision.REJECT),
}
"""The only decisions that make sense for each kind of case: one override (or finding) and one that keeps the
outcome. The review page offers these and no other."""

PARTY_REVIEW_KINDS = frozenset({CaseKind.PARTY_ENUMERATION, CaseKind.UNWANTED_CHECK})
"""Cases about a relying party (the case names it): their decision acts on the party."""


def party_status_after(kind: CaseKind, decision: CaseDecision | None, status: PartyStatus) -> PartyStatus | None:
    """The relying party's status once a case about it ended with ``decision``, or None when it stays as it is.

    Only a party the case is about changes, and only from the status the case expects: reinstating (after an
    enumeration suspension) makes a suspended party active, confirming an unwanted check suspends an active one.
    A party an admin disabled meanwhile stays disabled either way; keeping a suspension or dismissing a report
    changes nothing.
    """
    if kind is CaseKind.PARTY_ENUMERATION and decision is CaseDecision.REINSTATE and status is PartyStatus.SUSPENDED:
        return PartyStatus.ACTIVE
    if kind is CaseKind.UNWANTED_CHECK and decision is CaseDecision.SUSPEND_CONFIRMED and status is PartyStatus.ACTIVE:
        return PartyStatus.SUSPENDED
    return None


ATTEMPT_REVIEW_KINDS = frozenset(
    {CaseKind.MANUAL_PATH, CaseKind.BORDERLINE, CaseKind.REQUESTED, CaseKind.SPOOF_SUSPECTED}
)
"""Cases about a customer's verification at a store, whose approval lets the kiosk resume the visit."""


@dataclass(slots=True)
class ReviewCase:
    id: str
    kind: CaseKind
    state: CaseState
    opened_at: datetime
    attempt_id: str | None = None
    id_index: str | None = None
    msisdn: str | None = None
    proposed_decision: CaseDecision | None = None
    proposed_by: str | None = None
    proposed_reason: str | None = None
    decided_by: str | None = None
    closed_at: datetime | None = None
    challenges_issued: int = 0
    """Liveness challenges the case's attempt drew (read from the challenges; many hint at choosing one)."""
    party_id: str | None = None
    """The relying party a ``party_enumeration`` or ``unwanted_check`` case is about."""
    requested_by: str | None = None
    """The clerk who asked for the review (``requested`` cases)."""
    request_reason: str | None = None
    """The clerk's reason for asking."""
    similarity: float | None = None
    """The face check's similarity, for reviewers only (never shown to clerks)."""

    def decide(self, reviewer_ref: str, decision: CaseDecision, reason: str, now: datetime) -> bool:
        """Record a reviewer's decision. Returns True when the case is closed by it.

        A second reviewer who disagrees with a proposed override closes the case with their own decision
        (which is never an override: each kind has one override and one decision that keeps the outcome).

        Raises:
            Forbidden: the same reviewer tries to confirm their own override.
            Conflict: the case is closed.
        """
        if not reason.strip() or len(reason) > 500:
            raise InvalidInput("a decision needs a reason of 1–500 characters", code="review.reason_required")
        if self.state in ENDED_STATES:
            raise Conflict("this case is closed", code="review.closed")
        if self.state is CaseState.AWAITING_SECOND:
            if reviewer_ref == self.proposed_by:
                raise Forbidden("an override needs a second, different reviewer", code="review.four_eyes")
            if decision in OVERRIDES and decision is not self.proposed_decision:
                raise InvalidInput("a second reviewer confirms or refuses the proposal", code="review.decision_invalid")
            self._close(reviewer_ref, now, overruled=decision is not self.proposed_decision)
            return True
        self.proposed_decision, self.proposed_by, self.proposed_reason = decision, reviewer_ref, reason
        if decision in OVERRIDES:
            self.state = CaseState.AWAITING_SECOND
            return False
        self._close(reviewer_ref, now, overruled=False)
        return True

    @property
    def decision(self) -> CaseDecision | None:
        """What the ended case decided: the proposal, or — overruled — the decision that keeps the outcome."""
        if self.state is CaseState.OVERRULED:
            # The kind's decision that keeps the outcome (keeping a number or a party suspended, or rejecting).
            return next(d for d in ALLOWED_DECISIONS[self.kind] if d not in OVERRIDES)
        return self.proposed_decision if self.state is CaseState.CLOSED else None

    def _close(self, reviewer_ref: str, now: datetime, *, overruled: bool) -> None:
        self.state = CaseState.OVERRULED if overruled else CaseState.CLOSED
        self.decided_by = reviewer_ref
        self.closed_at = now
