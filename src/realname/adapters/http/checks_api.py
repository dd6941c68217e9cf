"""``/v1/checks`` for relying parties (HMAC-signed requests, no bearer token) and ``/v1/self/checks…`` for the
subscriber (the self-service session). Routes translate HTTP to the use cases in
``app/relying_party_checks.py``; every rule lives there.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from realname.adapters.http import checks_schemas as cs
from realname.adapters.http.api import CurrentActor, Services
from realname.adapters.http.client_certs import presented_fingerprint
from realname.adapters.http.routing import OneHopRoute
from realname.app.relying_party_checks import CheckAnswer, CheckInquiry, SubscriberChecks
from realname.domain.errors import DependencyUnavailable, InvalidInput, Unprocessable
from realname.domain.identity.documents import AUTO, DocumentKind, KindChoice
from realname.domain.numbers import Msisdn
from realname.domain.relying_parties import CheckKind, Consent, SignedRequest

MAX_CHECK_BODY_BYTES = 4096


def _inline_schema() -> dict[str, Any]:
    """The check body's JSON schema with its nested models inlined (the route reads the raw body itself)."""
    schema = cs.CheckRequest.model_json_schema(ref_template="{model}")
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


def _request_body() -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline_schema(), "examples": cs.CHECK_EXAMPLES}},
        }
    }


def parse_check(body: bytes) -> CheckInquiry:
    """The check a signed body asks for. Raises ``Unprocessable`` (``request.invalid``) naming only fields."""
    try:
        request = cs.CheckRequest.model_validate_json(body)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e.get("loc", ())) or "body" for e in exc.errors()})
        raise Unprocessable("invalid check fields: " + ", ".join(fields), code="request.invalid") from None
    id_kind: KindChoice = AUTO if request.id_kind == "auto" else DocumentKind(request.id_kind)
    return CheckInquiry(
        kind=CheckKind(request.kind),
        msisdn=Msisdn.parse(request.number),
        consent=Consent(request.consent.reference, request.consent.given_at),
        id_number=request.id_number,
        id_kind=id_kind,
        name=request.name,
        since=request.since,
    )


async def _bounded_body(request: Request) -> bytes:
    """The raw body, refused as soon as it passes ``MAX_CHECK_BODY_BYTES`` (never read whole first)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_CHECK_BODY_BYTES:
            raise InvalidInput(f"a check body is at most {MAX_CHECK_BODY_BYTES} bytes", code="request.too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def answer_view(answer: CheckAnswer) -> cs.CheckAnswerView:
    elements = answer.elements
    return cs.CheckAnswerView(
        check_id=answer.check_id,
        kind=answer.kind.value,
        result=answer.result.value,
        checked_at=answer.checked_at,
        elements=cs.ElementsView(
            number_in_service=elements.number_in_service, id_number=elements.id_number, name=elements.name
        )
        if elements
        else None,
    )


def build_checks_router() -> APIRouter:
    router = APIRouter(prefix="/v1", route_class=OneHopRoute)

    @router.post(
        "/checks",
        response_model=cs.CheckAnswerView,
        tags=["checks"],
        openapi_extra=_request_body(),
        responses={
            401: {
                "description": "party.signature_missing | signature_invalid | signature_expired | signature_replayed"
                " | party.client_cert_required (the party has a pinned client certificate; none was presented)"
            },
            403: {
                "description": "party.disabled | party.suspended | check.kind_not_allowed"
                " | party.client_cert_mismatch (another client certificate than the party's pinned one)"
            },
            422: {"description": "request.invalid (names the fields only)"},
            429: {"description": "party.rate_limited | party.quota_exceeded"},
        },
    )
    async def create_check(
        request: Request,
        svc: Services,
        x_realname_party: Annotated[str | None, Header(description="Your party id")] = None,
        x_realname_timestamp: Annotated[str | None, Header(description="Unix seconds; ±300 s of the server")] = None,
        x_realname_nonce: Annotated[str | None, Header(description="16–64 of [A-Za-z0-9_-], never reused")] = None,
        x_realname_signature: Annotated[
            str | None,
            Header(
                description="hex HMAC-SHA-256 under your client secret of: REALNAME-HMAC-SHA256, method, path, "
                "timestamp, nonce, hex SHA-256 of the body — joined by newlines"
            ),
        ] = None,
    ) -> cs.CheckAnswerView:
        """Ask whether a number belongs to an identity, is held since a date, or is in service.

        Signed, not signed in: see the README's "Number–identity checks" for the signature. A party with a pinned
        client certificate must also connect with exactly that certificate (mutual TLS). The answer is
        ``match``/``no_match`` (or the status), never a name or an ID number; every check is recorded, audited
        and shown to the subscriber with your name, purpose and consent reference.
        """
        checks = svc.party_checks
        if checks is None:
            raise DependencyUnavailable("checks are not configured", code="checks.unavailable")
        body = await _bounded_body(request)
        signed = SignedRequest(
            party_id=x_realname_party or "",
            timestamp=x_realname_timestamp or "",
            nonce=x_realname_nonce or "",
            signature=(x_realname_signature or "").lower(),
            method=request.method,
            path=request.url.path,
            body=body,
            client_cert_sha256=presented_fingerprint(request.scope, svc.client_cert_header),
        )
        return answer_view(await run_in_threadpool(checks.check, signed, parse_check))

    @router.get("/self/checks", response_model=cs.MyChecksView, tags=["self-service"])
    def my_checks(svc: Services, actor: CurrentActor) -> cs.MyChecksView:
        """Every relying party's check on your numbers (party, purpose, kind, time, result, consent) and your
        blocks."""
        seen = _subscriber_checks(svc).list(actor)
        return cs.MyChecksView(
            checks=[
                cs.CheckSeenView(
                    id=c.id,
                    party=c.party_id,
                    party_name=c.party_name,
                    purpose=c.purpose,
                    kind=c.kind,
                    at=c.at,
                    result=c.result,
                    number=c.number_masked,
                    consent_reference=c.consent_reference,
                    consent_given_at=c.consent_given_at,
                    reported=c.reported,
                )
                for c in seen.checks
            ],
            blocks=[
                cs.BlockView(id=b.id, number=b.number_masked, party=b.party_id, party_name=b.party_name, since=b.since)
                for b in seen.blocks
            ],
        )

    @router.post("/self/check-blocks", response_model=cs.BlockView, status_code=201, tags=["self-service"])
    def block_checks(body: cs.BlockRequest, svc: Services, actor: CurrentActor) -> cs.BlockView:
        """Block every check on one of your numbers (``number_ref``) or every check by one party (``party``)."""
        block = _subscriber_checks(svc).block(actor, number_ref=body.number_ref, party_id=body.party)
        return cs.BlockView(
            id=block.id,
            number=Msisdn(block.msisdn).masked if block.msisdn else None,
            party=block.party_id,
            party_name=None,
            since=block.created_at,
        )

    @router.delete("/self/check-blocks/{block_id}", status_code=204, tags=["self-service"])
    def unblock_checks(block_id: str, svc: Services, actor: CurrentActor) -> Response:
        """Lift one of your blocks."""
        _subscriber_checks(svc).unblock(actor, block_id)
        return Response(status_code=204)

    @router.post("/self/checks/{check_id}/report", status_code=202, tags=["self-service"])
    def report_check(check_id: str, svc: Services, actor: CurrentActor) -> dict[str, str]:
        """Report a check on your number as unwanted: a reviewer looks into the party."""
        case_id = _subscriber_checks(svc).report(actor, check_id)
        return {"status": "reported", "case": case_id}

    return router


def _subscriber_checks(svc: Services) -> SubscriberChecks:
    if svc.subscriber_checks is None:
        raise DependencyUnavailable("checks are not configured", code="checks.unavailable")
    return svc.subscriber_checks
