"""``/v1`` routes of the store flow: sign-in, attempts, documents, consent, challenge, liveness, numbers.

Routes translate HTTP to use-case calls and back; every rule lives in the use cases. Clerks get the
outcome and a reason category; similarities and detailed reasons go to reviewers and auditors only.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from realname.adapters.http import schemas as s
from realname.adapters.http.reader import reader_signature
from realname.adapters.http.routing import OneHopRoute
from realname.adapters.http.services import HttpServices
from realname.app.actors import Actor
from realname.app.review import CaseForReview, ReviewStatus
from realname.app.staff_auth import SignedIn
from realname.app.verification import Decision, DocumentInput
from realname.domain.attempts import Attempt, AttemptState, Outcome, Purpose
from realname.domain.consent import consent_in
from realname.domain.errors import Forbidden, InvalidInput, Unauthenticated
from realname.domain.identity.documents import LONG_TERM, DocumentCheck, LongTerm, Sex
from realname.domain.liveness import Action
from realname.domain.numbers import Msisdn
from realname.domain.organisation import Role
from realname.domain.reviews import CaseDecision, ReviewCase
from realname.domain.sim import Iccid
from realname.domain.terminals import ReaderSignature

PROMPTS = {
    Action.BLINK: "Blink both eyes once",
    Action.TURN_LEFT: "Turn your head to your left, then back",
    Action.TURN_RIGHT: "Turn your head to your right, then back",
    Action.NOD: "Nod: look down, then back up",
}


def services_of(request: Request) -> HttpServices:
    found: HttpServices = request.app.state.services
    return found


async def services(request: Request) -> HttpServices:
    # async: a sync dependency would cost every request a hop to the thread pool and back for an attribute read.
    return services_of(request)


Services = Annotated[HttpServices, Depends(services)]


def bearer_token(authorization: str | None) -> str:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthenticated("sign in first: send Authorization: Bearer <token>", code="auth.required")
    return authorization[7:].strip()


async def current_actor(request: Request, authorization: Annotated[str | None, Header()] = None) -> Actor:
    # async: a sign-in this worker checked a moment ago needs no read, so most requests resolve their actor on the
    # event loop; only a read of the sign-in goes to the thread pool. The services come from the request, not from
    # the Services dependency: FastAPI solves a dependency's own parameters again for every dependant naming it,
    # even when its value is cached.
    staff_auth = services_of(request).staff_auth
    token = bearer_token(authorization)
    known = staff_auth.known_actor(token)
    return known if known is not None else await run_in_threadpool(staff_auth.actor_for, token)


def token_view(signed: SignedIn) -> s.TokenResponse:
    return s.TokenResponse(
        token=signed.token,
        expires_at=signed.expires_at,
        role=signed.actor.role.value,
        outlet=signed.actor.outlet_code,
        time_zone=signed.time_zone,
        staff_code=signed.staff_code,
        expires_in=signed.expires_in_seconds,
        idle_lock_minutes=signed.idle_lock_minutes,
        signed_in_at=signed.signed_in_at,
        password_change_required=signed.password_change_required,
    )


CurrentActor = Annotated[Actor, Depends(current_actor)]
Reader = Annotated[ReaderSignature | None, Depends(reader_signature)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        description="Optional: a retry with the same key returns the first receipt",
    ),
]


def attempt_view(attempt: Attempt) -> s.AttemptView:
    return s.AttemptView(
        id=attempt.id,
        purpose=attempt.purpose.value,
        state=attempt.state.value,
        outlet=attempt.outlet_code,
        created_at=attempt.created_at,
        expires_at=attempt.expires_at,
        outcome=attempt.outcome.value if attempt.outcome else None,
        reason_category=attempt.category.value if attempt.category else None,
    )


def check_view(check: DocumentCheck) -> s.DocumentCheckView:
    fields = {k: v if isinstance(v, str | int | bool) or v is None else str(v) for k, v in check.fields.items()}
    return s.DocumentCheckView(valid=check.valid, kind=check.kind.value, reasons=list(check.reasons), fields=fields)


def document_input(body: s.DocumentRequest) -> DocumentInput:
    expiry: date | LongTerm | None = LONG_TERM if body.expiry == "long_term" else body.expiry
    return DocumentInput(
        value=body.value,
        kind=body.kind,
        expiry=expiry,
        issued=body.issued,
        printed_birth_date=body.birth_date,
        printed_sex={"M": Sex.MALE, "F": Sex.FEMALE}[body.sex] if body.sex else None,
        name=body.name,
    )


def decision_view(decision: Decision, actor: Actor) -> s.DecisionView:
    """The decision as the caller may see it: clerks get the outcome and a category, never similarities."""
    privileged = actor.role in (Role.REVIEWER, Role.AUDITOR)
    approved = decision.outcome is Outcome.APPROVED
    return s.DecisionView(
        attempt=attempt_view(decision.attempt),
        passed=approved,
        reason_category=decision.category.value if decision.category else None,
        next_step=_next_step(decision.attempt) if approved else "retry_or_review",
        reasons=list(decision.reasons) if privileged else None,
        similarity=decision.similarity if privileged else None,
        threshold=decision.threshold if privileged else None,
    )


def max_id_photo_bytes(max_upload_bytes: int) -> int:
    """The ID photo's upload limit: the clip's, but never more than 10 MiB (a chip photo is a few kB)."""
    return min(max_upload_bytes, 10 * 1024 * 1024)


async def read_upload(upload: UploadFile, max_bytes: int, what: str) -> bytes:
    """Read an upload in memory, refusing it once it passes ``max_bytes`` (never spooled to our disk)."""
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InvalidInput(f"the {what} is larger than {max_bytes // (1024 * 1024)} MB", code=f"{what}.too_large")
    if not data:
        raise InvalidInput(f"the {what} is empty", code=f"{what}.empty")
    return data


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1", route_class=OneHopRoute)

    @router.post("/auth/token", response_model=s.TokenResponse, tags=["auth"])
    def sign_in(body: s.TokenRequest, svc: Services) -> s.TokenResponse:
        """Exchange a staff code and password for a short-lived bearer token (401 ``auth.invalid_credentials``,
        403 ``auth.staff_disabled``, 429 ``auth.locked``)."""
        return token_view(svc.staff_auth.sign_in(body.staff_code, body.password))

    @router.post("/auth/renew", response_model=s.TokenResponse, tags=["auth"])
    def renew(svc: Services, authorization: Annotated[str | None, Header()] = None) -> s.TokenResponse:
        """A fresh token for a valid one, while the clerk works (401 ``auth.token_expired`` / ``auth.session_ended``,
        403 ``auth.staff_disabled``). The sign-in time carries over: ``REALNAME_SESSION_MAX_HOURS`` after it, the
        password is needed again."""
        return token_view(svc.staff_auth.renew(bearer_token(authorization)))

    @router.post("/auth/password", response_model=s.TokenResponse, tags=["auth"])
    def change_password(
        body: s.PasswordChange, svc: Services, authorization: Annotated[str | None, Header()] = None
    ) -> s.TokenResponse:
        """Change the signed-in member's password (the current one and a new one); required after the first
        sign-in and after a reset (``password_change_required``). Answers a fresh token. 403 ``auth.password_wrong``
        (counted toward the sign-in lock-out), 400 ``auth.password_policy``, 429 ``auth.locked``."""
        return token_view(
            svc.staff_auth.change_password(bearer_token(authorization), body.current_password, body.new_password)
        )

    @router.post("/auth/activity", status_code=204, tags=["auth"])
    def activity(actor: CurrentActor) -> Response:
        """The page reports the clerk's touches while it sends no other request: the server refuses a renewal after
        ``REALNAME_IDLE_LOCK_MINUTES`` without a request (401 ``auth.idle_timeout``)."""
        if actor.role is Role.SUBSCRIBER:
            raise Forbidden("only staff sessions have an idle time", code="auth.role_forbidden")
        return Response(status_code=204)

    @router.get("/visits/current", response_model=s.VisitView, tags=["attempts"])
    def current_visit(
        svc: Services,
        actor: CurrentActor,
        device_id: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    ) -> s.VisitView:
        """The clerk's open visit on this kiosk (its device id) and the step it is at: a reloaded page or a new
        sign-in resumes it."""
        visit = svc.visits.current(actor, device_id)
        if visit is None:
            return s.VisitView(attempt=None, step=None, next_step=None, reserved=[], review_state=None)
        approved = visit.attempt.outcome is Outcome.APPROVED
        return s.VisitView(
            attempt=attempt_view(visit.attempt),
            step=visit.step.value,
            next_step=_next_step(visit.attempt) if approved else None,
            reserved=[s.ReservationView(msisdn=str(n.msisdn), reserved_until=n.reserved_until) for n in visit.reserved],
            review_state=visit.review.state.value if visit.review else None,
            receipt=s.ReceiptView(**visit.receipt.as_dict()) if visit.receipt else None,
            printed=s.PrintedReceiptView(number=visit.printed.msisdn, iccid=visit.printed.iccid)
            if visit.printed
            else None,
        )

    @router.post("/attempts/{attempt_id}/end", response_model=s.EndedVisitView, tags=["attempts"])
    def end_visit(attempt_id: str, svc: Services, actor: CurrentActor) -> s.EndedVisitView:
        """End the visit: abandon the attempt if it is open and give back every number it holds reserved (audited
        as ``visit.ended``)."""
        ended = svc.visits.end(actor, attempt_id)
        return s.EndedVisitView(attempt=attempt_view(ended.attempt), released=[str(n.msisdn) for n in ended.released])

    @router.get("/consent", response_model=s.ConsentView, tags=["attempts"])
    def consent_text(
        lang: Annotated[str | None, Query(max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] = None,
    ) -> s.ConsentView:
        """The current biometric consent text in ``lang`` (``zh-CN`` by default, ``en``) and its version (show it
        before any capture; the consent step names the version shown)."""
        shown = consent_in(lang)
        return s.ConsentView(version=shown.version, text=shown.text, sha256=shown.sha256, language=shown.language)

    @router.post("/attempts", response_model=s.AttemptView, status_code=201, tags=["attempts"])
    def start_attempt(body: s.StartAttempt, svc: Services, actor: CurrentActor) -> s.AttemptView:
        """Open an attempt (one customer visit) at the clerk's outlet."""
        return attempt_view(svc.verification.start_attempt(actor, Purpose(body.purpose), body.device_id))

    @router.get("/attempts/{attempt_id}", response_model=s.AttemptView, tags=["attempts"])
    def get_attempt(attempt_id: str, svc: Services, actor: CurrentActor) -> s.AttemptView:
        return attempt_view(svc.verification.get_attempt(actor, attempt_id))

    @router.post("/attempts/{attempt_id}/document", response_model=s.DocumentResponse, tags=["attempts"])
    def submit_document(
        attempt_id: str, body: s.DocumentRequest, svc: Services, actor: CurrentActor, reader: Reader
    ) -> s.DocumentResponse:
        """Check the customer's ID document. A failed check lists every rule it broke.

        At a store the fields are what the enrolled terminal's card reader read, signed by the terminal
        (``X-Terminal-Id``, ``X-Reader-Nonce``, ``X-Reader-Timestamp``, ``X-Reader-Signature``; 401/403
        ``reader.*`` / ``terminal.*`` otherwise), and carry the validity (an end date or ``long_term``; 400
        ``document.validity_required`` without, except in a passport's zone). On the self-service page the fields are
        typed, unsigned, and the validity is not asked."""
        document = document_input(body)
        attempt, check = svc.verification.submit_document(actor, attempt_id, document, reader)
        return s.DocumentResponse(attempt=attempt_view(attempt), check=check_view(check))

    @router.post("/attempts/{attempt_id}/consent", response_model=s.AttemptView, tags=["attempts"])
    def consent(attempt_id: str, body: s.ConsentRequest, svc: Services, actor: CurrentActor) -> s.AttemptView:
        """Record biometric consent; declining opens the attended manual path (review queue)."""
        return attempt_view(
            svc.verification.record_consent(actor, attempt_id, accepted=body.accepted, version=body.version)
        )

    @router.post("/attempts/{attempt_id}/challenge", response_model=s.ChallengeView, tags=["attempts"])
    def challenge(attempt_id: str, svc: Services, actor: CurrentActor) -> s.ChallengeView:
        """Issue a random, single-use liveness challenge for this attempt's device."""
        issued = svc.verification.issue_challenge(actor, attempt_id)
        return s.ChallengeView(
            nonce=issued.nonce,
            actions=[a.value for a in issued.actions],
            prompts=[PROMPTS[a] for a in issued.actions],
            issued_at=issued.issued_at,
            expires_at=issued.expires_at,
            ttl_seconds=issued.ttl_seconds,
        )

    @router.post("/attempts/{attempt_id}/liveness", response_model=s.DecisionView, tags=["attempts"])
    async def liveness(
        attempt_id: str,
        svc: Services,
        actor: CurrentActor,
        nonce: Annotated[str, Form(min_length=32, max_length=32)],
        clip: Annotated[UploadFile, File(description="WebM or MP4 from the kiosk camera, unmirrored")],
        id_photo: Annotated[UploadFile, File(description="Photo read from the ID card's chip (JPEG/PNG/WebP)")],
        reader: Reader,
        card_front: Annotated[
            UploadFile | None,
            File(
                description="Optional: the document camera's image of the ID card's front (JPEG/PNG/WebP). Its "
                "printed portrait must be the chip photo's photograph; the live face is then matched against it"
            ),
        ] = None,
    ) -> s.DecisionView:
        """Answer the challenge with a clip; liveness, then 1:1 match against the ID photo (or, with a card front
        whose printed portrait is the chip photo's photograph, against that portrait), then the decision.

        The chip photo is accepted only signed by the terminal whose reader read this attempt's card
        (``X-Reader-*`` headers with ``X-Reader-Fields-SHA256``); never on a self-service attempt
        (403 ``self.portrait_refused``). With a card front whose printed portrait is the chip photo's photograph,
        the live face is matched against that sharper portrait."""
        clip_bytes = await read_upload(clip, svc.policy.max_upload_bytes, "clip")
        photo_bytes = await read_upload(id_photo, max_id_photo_bytes(svc.policy.max_upload_bytes), "image")
        card_bytes = (
            await read_upload(card_front, max_id_photo_bytes(svc.policy.max_upload_bytes), "image")
            if card_front is not None
            else None
        )
        decision = await svc.run_blocking(
            svc.verification.verify,
            actor,
            attempt_id,
            nonce=nonce,
            clip=clip_bytes,
            id_photo=photo_bytes,
            reader=reader,
            card_front=card_bytes,
        )
        del clip_bytes, photo_bytes, card_bytes
        return decision_view(decision, actor)

    @router.post("/attempts/{attempt_id}/abandon", response_model=s.AttemptView, tags=["attempts"])
    def abandon(attempt_id: str, svc: Services, actor: CurrentActor) -> s.AttemptView:
        return attempt_view(svc.verification.abandon(actor, attempt_id))

    @router.get("/numbers/available", response_model=s.NumbersPage, tags=["numbers"])
    def available(
        svc: Services,
        actor: CurrentActor,
        prefix: Annotated[str, Query(max_length=15, pattern=r"^[0-9]*$")] = "",
        pattern: Annotated[str, Query(max_length=15, pattern=r"^[0-9?]*$")] = "",
        after: Annotated[str, Query(max_length=15, pattern=r"^[0-9]*$")] = "",
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> s.NumbersPage:
        """Available numbers in order; ``pattern`` matches the end of the number, ``?`` = any digit."""
        found = svc.registration.available_numbers(actor, prefix=prefix, pattern=pattern, after=after, limit=limit)
        views = [s.NumberView(msisdn=str(n.msisdn), state="available") for n in found]
        return s.NumbersPage(numbers=views, next_after=views[-1].msisdn if len(views) == limit else None)

    @router.post("/attempts/{attempt_id}/reservation", response_model=s.ReservationView, tags=["numbers"])
    def reserve(attempt_id: str, body: s.ReserveRequest, svc: Services, actor: CurrentActor) -> s.ReservationView:
        number = svc.registration.reserve(actor, attempt_id, Msisdn.parse(body.msisdn))
        return s.ReservationView(msisdn=str(number.msisdn), reserved_until=number.reserved_until)

    @router.post("/attempts/{attempt_id}/registration", response_model=s.ReceiptView, tags=["numbers"])
    def complete(
        attempt_id: str,
        body: s.CompleteRequest,
        svc: Services,
        actor: CurrentActor,
        idempotency_key: Annotated[str, Header(alias="Idempotency-Key", min_length=8, max_length=128)],
    ) -> s.ReceiptView:
        """Bind the number and SIM to the verified customer. Retries with the same key are safe."""
        receipt = svc.registration.complete_registration(
            actor,
            attempt_id,
            msisdn=Msisdn.parse(body.msisdn),
            iccid=Iccid.parse(body.iccid),
            idempotency_key=idempotency_key,
            name=body.name,
        )
        return s.ReceiptView(**receipt.as_dict())

    @router.post("/attempts/{attempt_id}/surrender", response_model=s.ReceiptView, tags=["owner"])
    def surrender(
        attempt_id: str,
        body: s.OwnerStepRequest,
        svc: Services,
        actor: CurrentActor,
        idempotency_key: IdempotencyKey = None,
    ) -> s.ReceiptView:
        """The verified owner surrenders a number; it cools off before it is offered again."""
        receipt = svc.owner_services.complete_surrender(actor, attempt_id, Msisdn.parse(body.msisdn), idempotency_key)
        return s.ReceiptView(**receipt.as_dict())

    @router.post("/attempts/{attempt_id}/sim-replacement", response_model=s.ReceiptView, tags=["owner"])
    def sim_replacement(
        attempt_id: str,
        body: s.SimReplacementRequest,
        svc: Services,
        actor: CurrentActor,
        idempotency_key: IdempotencyKey = None,
    ) -> s.ReceiptView:
        """The verified owner gets a new SIM for their number; the old SIM stops working."""
        receipt = svc.owner_services.replace_sim(
            actor, attempt_id, Msisdn.parse(body.msisdn), Iccid.parse(body.iccid), idempotency_key
        )
        return s.ReceiptView(**receipt.as_dict())

    @router.post("/attempts/{attempt_id}/reverification", response_model=s.ReceiptView, tags=["owner"])
    def reverification(
        attempt_id: str,
        body: s.OwnerStepRequest,
        svc: Services,
        actor: CurrentActor,
        idempotency_key: IdempotencyKey = None,
    ) -> s.ReceiptView:
        """The verified owner of a suspended number re-verified: the number is active again."""
        receipt = svc.owner_services.complete_reverification(
            actor, attempt_id, Msisdn.parse(body.msisdn), idempotency_key
        )
        return s.ReceiptView(**receipt.as_dict())

    @router.post("/self/sessions", response_model=s.SelfServiceSession, status_code=201, tags=["self-service"])
    def self_service_start(body: s.SelfServiceStart, svc: Services) -> s.SelfServiceSession:
        """Start proving your identity on the self-service page; returns a token for this attempt only.

        Then: ``POST /v1/attempts/{id}/document`` (your ID number), ``POST /v1/self/code`` (your name; a
        one-time code goes to a number registered under your ID), ``POST /v1/self/code/verify``. Limited per
        device (429 ``self.rate_limited`` with ``Retry-After``)."""
        attempt = svc.self_service.start(body.device_id)
        token, expires_at = svc.staff_auth.self_service_token(attempt.id)
        return s.SelfServiceSession(attempt=attempt_view(attempt), token=token, expires_at=expires_at)

    @router.post("/self/code", response_model=s.CodeRequested, status_code=202, tags=["self-service"])
    def self_service_code(body: s.CodeRequest, svc: Services, actor: CurrentActor) -> s.CodeRequested:
        """Ask for a one-time code: if your name matches the one recorded under the ID checked in this session
        and a number is registered under it, the code goes to that number. The answer is the same either way.
        Limited per ID and per device (429 ``self.rate_limited`` with ``Retry-After``)."""
        expires_at = svc.self_service.request_code(actor, _own_attempt(actor), body.name)
        return s.CodeRequested(status="sent_if_registered", expires_at=expires_at)

    @router.post("/self/code/verify", response_model=s.CodeCheckView, tags=["self-service"])
    def self_service_verify(body: s.CodeVerify, svc: Services, actor: CurrentActor) -> s.CodeCheckView:
        """Enter the code. Wrong codes count against this session and device; after the last try the attempt is
        rejected (start again). A right code shows your records."""
        checked = svc.self_service.verify_code(actor, _own_attempt(actor), body.code)
        return s.CodeCheckView(
            attempt=attempt_view(checked.attempt),
            passed=checked.passed,
            tries_left=checked.tries_left,
            next_step="view_records" if checked.passed else "retry_or_start_again",
        )

    @router.get("/self/records", response_model=s.RecordsView, tags=["self-service"])
    def self_records(svc: Services, actor: CurrentActor) -> s.RecordsView:
        """After verification: your numbers (masked), every attempt made with your ID, every access to your data,
        and lock-outs on your ID."""
        records = svc.self_service.records(actor, _own_attempt(actor))
        return s.RecordsView(
            numbers=[
                s.HeldNumberView(ref=n.ref, number=n.msisdn_masked, state=n.state, since=n.since, outlet=n.outlet_code)
                for n in records.numbers
            ],
            attempts=[
                s.AttemptRecordView(
                    at=a.at,
                    outlet=a.outlet_code,
                    purpose=a.purpose,
                    outcome=a.outcome,
                    state=a.state,
                    spoof_suspected=a.spoof_suspected,
                )
                for a in records.attempts
            ],
            accesses=[
                s.AccessRecordView(at=a.at, actor=a.actor, action=a.action, outlet=a.outlet_code)
                for a in records.accesses
            ],
            lockouts=[
                s.LockoutView(locked_from=k.locked_from, locked_until=k.locked_until, active=k.active)
                for k in records.lockouts
            ],
        )

    @router.post("/self/reports", status_code=202, tags=["self-service"])
    def report_not_mine(body: s.NotMineReport, svc: Services, actor: CurrentActor) -> dict[str, str]:
        """Report a number under your ID as not yours (by its ``ref`` from your records): a reviewer looks into
        it; the number is suspended only when a reviewer confirms."""
        state = svc.self_service.report_not_mine(actor, _own_attempt(actor), body.number_ref)
        return {"status": "reported", "number_state": state, "review": "opened"}

    @router.post("/attempts/{attempt_id}/review-request", response_model=s.ReviewStatusView, tags=["review"])
    def request_review(
        attempt_id: str, body: s.ReviewRequest, svc: Services, actor: CurrentActor
    ) -> s.ReviewStatusView:
        """The clerk asks for a review of a rejected face check, with their reason; the visit waits for it (a
        second request returns the case already open)."""
        return _status_view(svc.review.request_review(actor, attempt_id, body.reason))

    @router.get("/attempts/{attempt_id}/review", response_model=s.ReviewStatusView, tags=["review"])
    def review_status(attempt_id: str, svc: Services, actor: CurrentActor) -> s.ReviewStatusView:
        """The state of the visit's review; once approved by the reviewers, ``next_step`` says how it resumes."""
        return _status_view(svc.review.review_status(actor, attempt_id))

    @router.get("/review/cases", response_model=list[s.ReviewCaseView], tags=["review"])
    def review_cases(svc: Services, actor: CurrentActor) -> list[s.ReviewCaseView]:
        """Open cases: manual-path requests, clerks' requests, spoof verdicts, borderline rejections, "not mine"
        reports, relying parties'. Each with what a reviewer needs; the masked document is an audited read."""
        privileged = actor.role in (Role.REVIEWER, Role.AUDITOR)
        return [_review_view(c, privileged) for c in svc.review.cases_for_review(actor)]

    @router.post("/review/cases/{case_id}/decision", response_model=s.ReviewCaseView, tags=["review"])
    def decide_case(
        case_id: str, body: s.ReviewDecisionRequest, svc: Services, actor: CurrentActor
    ) -> s.ReviewCaseView:
        """Decide a case with a reason; overrides (approve, reinstate) need a second, different reviewer."""
        return _case_view(svc.review.decide_case(actor, case_id, CaseDecision(body.decision), body.reason))

    @router.post("/documents/check", response_model=s.DocumentCheckView, tags=["documents"])
    def check_document(body: s.DocumentRequest, svc: Services, actor: CurrentActor) -> s.DocumentCheckView:
        """Check a document without an attempt (nothing stored in clear; an audit event by blind index)."""
        return check_view(svc.verification.check_document(actor, document_input(body)))

    return router


def _own_attempt(actor: Actor) -> str:
    if actor.role is not Role.SUBSCRIBER:
        raise Forbidden("this page is for subscribers checking their own records", code="auth.role_forbidden")
    return actor.ref.removeprefix("self:")


def _review_view(shown: CaseForReview, privileged: bool) -> s.ReviewCaseView:
    case = shown.case
    return _case_view(case).model_copy(
        update={
            "allowed_decisions": [d.value for d in shown.allowed],
            "outlet": shown.outlet_code,
            "clerk": shown.clerk_ref,
            "document": shown.document_masked,
            "document_kind": shown.document_kind,
            "reason_category": shown.category,
            "reasons": list(shown.reasons),
            "decided_at": shown.decided_at,
            "requested_by": case.requested_by,
            "request_reason": case.request_reason,
            "proposed_reason": case.proposed_reason,
            "similarity": case.similarity if privileged else None,
        }
    )


def _status_view(status: ReviewStatus) -> s.ReviewStatusView:
    case, attempt = status.case, status.attempt
    resumed = attempt.state is AttemptState.VERIFIED and attempt.outcome is Outcome.APPROVED
    return s.ReviewStatusView(
        attempt=attempt_view(attempt),
        case_id=case.id if case else None,
        kind=case.kind.value if case else None,
        state=case.state.value if case else None,
        decision=case.decision.value if case and case.decision else None,
        next_step=_next_step(attempt) if resumed else None,
    )


def _case_view(case: ReviewCase) -> s.ReviewCaseView:
    return s.ReviewCaseView(
        id=case.id,
        kind=case.kind.value,
        state=case.state.value,
        opened_at=case.opened_at,
        attempt_id=case.attempt_id,
        number=Msisdn(case.msisdn).masked if case.msisdn else None,
        proposed_decision=case.proposed_decision.value if case.proposed_decision else None,
        proposed_by=case.proposed_by,
        party=case.party_id,
        challenges_issued=case.challenges_issued,
        decision=case.decision.value if case.decision else None,
    )


def _next_step(attempt: Attempt) -> str:
    return {
        Purpose.REGISTER: "choose_number",
        Purpose.SURRENDER: "confirm_surrender",
        Purpose.SIM_REPLACEMENT: "scan_new_sim",
        Purpose.REVERIFY: "confirm_reverification",
        Purpose.SELF_SERVICE: "view_records",
    }[attempt.purpose]
