"""The review queue: manual-path requests, borderline rejections, "not mine" reports, and relying parties
suspended for enumeration or reported for an unwanted check.

A reviewer proposes a decision with a reason. Decisions that override the machine (approving what it
rejected, reinstating a reported number) need a second, different reviewer to confirm (four eyes).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from realname.domain.errors import Conflict, Forbidden, InvalidInput


class CaseKind(enum.StrEnum):
    MANUAL_PATH = "manual_path"
    BORDERLINE = "borderline"
    NOT_MINE = "not_mine"
    PARTY_ENUMERATION = "party_enumeration"
    """A relying party's checks looked like enumeration; its key was suspended."""
    UNWANTED_CHECK = "unwanted_check"
    """A subscriber reported a relying party's check on their number as unwanted."""


class CaseState(enum.StrEnum):
    OPEN = "open"
    AWAITING_SECOND = "awaiting_second"
    CLOSED = "closed"


class CaseDecision(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    SUSPEND_CONFIRMED = "suspend_confirmed"
    REINSTATE = "reinstate"


OVERRIDES = frozenset({CaseDecision.APPROVE, CaseDecision.REINSTATE})


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

    def decide(self, reviewer_ref: str, decision: CaseDecision, reason: str, now: datetime) -> bool:
        """Record a reviewer's decision. Returns True when the case is closed by it.

        Raises:
            Forbidden: the same reviewer tries to confirm their own override.
            Conflict: the case is closed, or the confirmation differs from the proposal.
        """
        if not reason.strip() or len(reason) > 500:
            raise InvalidInput("a decision needs a reason of 1–500 characters", code="review.reason_required")
        if self.state is CaseState.CLOSED:
            raise Conflict("this case is closed", code="review.closed")
        if self.state is CaseState.AWAITING_SECOND:
            if reviewer_ref == self.proposed_by:
                raise Forbidden("an override needs a second, different reviewer", code="review.four_eyes")
            if decision is not self.proposed_decision:
                raise Conflict("the second reviewer must confirm the same decision", code="review.disagreement")
            self._close(reviewer_ref, now)
            return True
        self.proposed_decision, self.proposed_by, self.proposed_reason = decision, reviewer_ref, reason
        if decision in OVERRIDES:
            self.state = CaseState.AWAITING_SECOND
            return False
        self._close(reviewer_ref, now)
        return True

    def _close(self, reviewer_ref: str, now: datetime) -> None:
        self.state = CaseState.CLOSED
        self.decided_by = reviewer_ref
        self.closed_at = now
