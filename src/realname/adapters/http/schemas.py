"""Request and response bodies of the API (pydantic), kept apart from the domain values they carry."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str


class TokenRequest(Strict):
    staff_code: str = Field(min_length=1, max_length=64, description="The short staff code, e.g. LK4821")
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: datetime
    role: str
    outlet: str | None
    time_zone: str = Field(description="The outlet's IANA time zone: show times on the store's clock")
    staff_code: str = Field(description="The code the member signed in with (printed on receipts)")
    expires_in: int = Field(description="Seconds the token is valid from now (count them on the caller's clock)")
    idle_lock_minutes: int = Field(description="Lock the page after this long without activity")
    signed_in_at: datetime | None = Field(None, description="When the password was typed; renewals keep it")
    password_change_required: bool = Field(
        False,
        description="The member must choose a new password (POST /v1/auth/password) before the token serves anything "
        "else: a new member, or after `realname staff reset-credential`",
    )


class PasswordChange(Strict):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class StartAttempt(Strict):
    purpose: Literal["register", "surrender", "sim_replacement", "reverify"] = "register"
    device_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class AttemptView(BaseModel):
    id: str
    purpose: str
    state: str
    outlet: str
    created_at: datetime
    expires_at: datetime
    outcome: str | None
    reason_category: str | None


class DocumentRequest(Strict):
    kind: Literal[
        "auto", "cn_resident", "cn_residence_permit", "cn_foreign_permanent", "hk_macau_permit", "taiwan_permit", "mrz"
    ] = "auto"
    value: str = Field(min_length=1, max_length=200, description="The number, or the MRZ lines joined by newlines")
    expiry: date | Literal["long_term"] | None = None
    issued: date | None = None
    birth_date: date | None = Field(None, description="Printed on the card or read from its chip")
    sex: Literal["M", "F"] | None = None
    name: str | None = Field(None, min_length=1, max_length=100, description="The holder's name as read")


class DocumentCheckView(BaseModel):
    valid: bool
    kind: str
    reasons: list[str]
    fields: dict[str, str | int | bool | None]


class DocumentResponse(BaseModel):
    attempt: AttemptView
    check: DocumentCheckView


class ConsentView(BaseModel):
    version: str
    text: str
    sha256: str
    language: str


class ConsentRequest(Strict):
    version: str = Field(min_length=1, max_length=32)
    accepted: bool


class ChallengeView(BaseModel):
    nonce: str
    actions: list[str]
    prompts: list[str]
    issued_at: datetime
    expires_at: datetime
    ttl_seconds: int


class DecisionView(BaseModel):
    attempt: AttemptView
    passed: bool
    reason_category: str | None
    next_step: str
    reasons: list[str] | None = Field(None, description="Reviewers and auditors only")
    similarity: float | None = Field(None, description="Reviewers and auditors only")
    threshold: float | None = Field(None, description="Reviewers and auditors only")


class NumberView(BaseModel):
    msisdn: str
    state: str


class NumbersPage(BaseModel):
    numbers: list[NumberView]
    next_after: str | None


class ReserveRequest(Strict):
    msisdn: str = Field(min_length=7, max_length=20)


class ReservationView(BaseModel):
    msisdn: str
    reserved_until: datetime | None


class CompleteRequest(Strict):
    msisdn: str = Field(min_length=7, max_length=20)
    iccid: str = Field(min_length=19, max_length=24)
    name: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="The holder's name, stored encrypted for three-element checks; used only when the document step "
        "carried no name (the name the enrolled terminal's reader signed there wins)",
    )


class ReceiptView(BaseModel):
    attempt_id: str
    number: str
    iccid: str = Field(description="The SIM now serving the number (after a surrender: the SIM taken back)")
    outlet: str
    numbers_held_under_this_id: int
    issued_at: str
    number_state: str
    cooling_until: str | None = Field(description="After a surrender: when the number may be offered again")


class PrintedReceiptView(BaseModel):
    number: str
    iccid: str


class HealthView(BaseModel):
    status: str
    version: str


class OwnerStepRequest(Strict):
    msisdn: str = Field(min_length=7, max_length=20)


class NotMineReport(Strict):
    number_ref: str = Field(min_length=1, max_length=64, description="The number's ref from /v1/self/records")


class SimReplacementRequest(Strict):
    msisdn: str = Field(min_length=7, max_length=20)
    iccid: str = Field(min_length=19, max_length=24)


class SelfServiceStart(Strict):
    device_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class SelfServiceSession(BaseModel):
    attempt: AttemptView
    token: str
    expires_at: datetime


class HeldNumberView(BaseModel):
    ref: str = Field(description='Names this number in a "not mine" report')
    number: str
    state: str
    since: str
    outlet: str


class AttemptRecordView(BaseModel):
    at: str
    outlet: str
    purpose: str
    outcome: str | None
    state: str
    spoof_suspected: bool = Field(False, description="A photo, screen or mask was suspected at this attempt")


class AccessRecordView(BaseModel):
    at: str
    actor: str
    action: str
    outlet: str | None


class LockoutView(BaseModel):
    locked_from: str
    locked_until: str
    active: bool


class RecordsView(BaseModel):
    numbers: list[HeldNumberView]
    attempts: list[AttemptRecordView]
    accesses: list[AccessRecordView]
    lockouts: list[LockoutView] = []


class ReviewCaseView(BaseModel):
    id: str
    kind: str
    state: str
    opened_at: datetime
    attempt_id: str | None
    number: str | None
    proposed_decision: str | None
    proposed_by: str | None
    decision: str | None = Field(None, description="How the case ended (overruled: the override was refused)")
    party: str | None = Field(None, description="The relying party a party_enumeration or unwanted_check case is about")
    challenges_issued: int = Field(
        0, description="Liveness challenges the attempt drew (of policy.max_challenges_per_attempt)"
    )
    allowed_decisions: list[str] = Field(
        default_factory=list, description="The only decisions this kind of case takes (the page offers these)"
    )
    outlet: str | None = None
    clerk: str | None = None
    document: str | None = Field(None, description="The document number, masked (reading it is audited)")
    document_kind: str | None = None
    reason_category: str | None = None
    reasons: list[str] = Field(default_factory=list)
    decided_at: datetime | None = Field(None, description="When the face check decided")
    requested_by: str | None = None
    request_reason: str | None = Field(None, description="The clerk's reason for asking for the review")
    proposed_reason: str | None = None
    similarity: float | None = Field(None, description="The face check's similarity: reviewers and auditors only")


class ReviewRequest(Strict):
    reason: str = Field(min_length=1, max_length=500, description="Why the clerk asks for a review")


class ReviewStatusView(BaseModel):
    """A visit's review as the kiosk sees it: no similarity, no reviewer's reasoning."""

    attempt: AttemptView
    case_id: str | None
    kind: str | None
    state: str | None
    decision: str | None
    next_step: str | None = Field(None, description="Set once an approval stands: the visit resumes with it")


class ReviewDecisionRequest(Strict):
    decision: Literal["approve", "reject", "suspend_confirmed", "reinstate"]
    reason: str = Field(min_length=1, max_length=500)


class CodeRequest(Strict):
    name: str = Field(min_length=1, max_length=100, description="Your name as on your ID card")


class CodeRequested(BaseModel):
    status: Literal["sent_if_registered"]
    expires_at: datetime


class CodeVerify(Strict):
    code: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")


class CodeCheckView(BaseModel):
    attempt: AttemptView
    passed: bool
    tries_left: int
    next_step: str


class VisitView(BaseModel):
    """The clerk's open visit on this kiosk, or none (``attempt`` null)."""

    attempt: AttemptView | None
    step: str | None = Field(
        description="document | face_check | decision | review_wait | manual_review | numbers | sim | service | receipt"
    )
    next_step: str | None = Field(description="After an approval: what the decision's next_step said")
    reserved: list[ReservationView] = Field(description="Numbers the visit holds reserved now")
    review_state: str | None = Field(description="The state of the visit's latest review case, if any")
    receipt: ReceiptView | None = Field(
        None, description="At the receipt step: the completed service's receipt (masked), shown again after a reload"
    )
    printed: PrintedReceiptView | None = Field(
        None,
        description="At the receipt step, for the clerk of the visit only: the full number and ICCID the customer's "
        "printed receipt shows (kept encrypted, deleted when the visit ends)",
    )


class EndedVisitView(BaseModel):
    attempt: AttemptView
    released: list[str] = Field(description="Numbers the visit held reserved, back in the pool now")
