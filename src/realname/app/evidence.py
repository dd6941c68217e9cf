"""Inspection evidence bundles: one attempt's evidence as a signed JSON document an inspector verifies offline.

A bundle holds the attempt's summary (``domain/evidence.py``: decision, engine, thresholds, similarities,
liveness actions detected, consent version, clerk, outlet, times), the models installed when it was made, and
the audit chain segment from the attempt's first event to a signed checkpoint at or after its last one, in the
audit export's format (``app/audit_admin.py``: header with the public keys, events, checkpoints). The bundle is
signed with the audit signing key (Ed25519) over everything but its signature.

Verification (:func:`verify_bundle`, offline, with the keys the bundle carries; trust in them is the inspector's
to establish by their ids) checks the export segment with :func:`realname.app.audit_admin.verify_export`, that a
signed checkpoint covers every event of the attempt, that the summary is what the events say, and the bundle's
signature.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from realname.app.actors import SYSTEM, Actor
from realname.app.audit_admin import (
    AuditAdmin,
    ExportRange,
    PublicKeyCheck,
    checkpoint_from_line,
    event_from_line,
    verify_export,
)
from realname.app.ports import Clock
from realname.app.privacy import CheckpointSigner
from realname.app.reports import ReportsUnitOfWorkFactory
from realname.app.unit_of_work import UnitOfWorkFactory
from realname.domain.audit import AuditRecord, JsonValue
from realname.domain.errors import DependencyUnavailable, InvalidInput, NotFound
from realname.domain.evidence import BUNDLE_FORMAT, belongs_to, signed_part, summarise
from realname.domain.organisation import Role

COMPLETION_MARGIN = timedelta(minutes=5)
"""Steps are read until the attempt's expiry and this margin after it (a step begun just before expiry)."""


@dataclass(frozen=True, slots=True)
class BundleVerification:
    intact: bool
    problems: tuple[str, ...]
    attempt_id: str | None
    key_ids: frozenset[str]
    signed_through_seq: int
    decision: str | None


class EvidenceBundles:
    """Builds bundles for admins and auditors."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        activity: ReportsUnitOfWorkFactory,
        audit_admin: AuditAdmin,
        signer: CheckpointSigner,
        clock: Clock,
        models: Mapping[str, JsonValue],
    ) -> None:
        self._uow = uow
        self._activity = activity
        self._audit_admin = audit_admin
        self._signer = signer
        self._clock = clock
        self._models = dict(models)

    def build(self, actor: Actor, attempt_id: str) -> dict[str, JsonValue]:
        """The signed bundle of one attempt (a JSON document).

        Signs the audit chain's head first when no checkpoint covers the attempt's last event yet.

        Raises:
            Forbidden: not an admin or auditor. NotFound: ``attempt.not_found``.
            DependencyUnavailable: the database, the signing key or a witness is unavailable.
        """
        actor.require(Role.ADMIN, Role.AUDITOR)
        with self._uow() as uow:
            attempt = uow.attempts.get(attempt_id)
        if attempt is None:
            raise NotFound("no such attempt", code="attempt.not_found")
        with self._activity() as work:
            events = [
                e
                for e in work.activity.events(attempt.created_at, attempt.expires_at + COMPLETION_MARGIN, None)
                if belongs_to(e, attempt.id)
            ]
        if not events:
            raise NotFound("this attempt has no audit events", code="attempt.not_found")
        checkpoint = self._audit_admin.checkpoint(SYSTEM)
        if checkpoint is None or not all(checkpoint.covers(e.chain, e.seq) for e in events):
            raise DependencyUnavailable("the audit chain could not be signed", code="audit.unavailable")
        first_seq = min(e.seq for e in events)
        lines = list(self._audit_admin.export(actor, ExportRange(from_seq=first_seq, to_seq=checkpoint.seq)))
        body: dict[str, JsonValue] = {
            "format": BUNDLE_FORMAT,
            "attempt": attempt.id,
            "created_at": self._clock.now().isoformat(),
            "created_by": actor.ref,
            "summary": summarise(attempt.id, events),
            "models_installed_at_export": dict(self._models),
            "audit_export": list[JsonValue](lines),
            "key_id": self._signer.key_id,
        }
        body["signature"] = base64.b64encode(self._signer.sign(signed_part(body))).decode("ascii")
        with self._uow() as uow:
            uow.audit.append(
                AuditRecord(
                    "evidence.bundled",
                    actor.ref,
                    actor.outlet_code,
                    f"attempt:{attempt.id}",
                    {"attempt": attempt.id, "checkpoint": checkpoint.seq},
                ),
                self._clock.now(),
            )
            uow.commit()
        return body


def verify_bundle(document: Mapping[str, Any], public_key_valid: PublicKeyCheck) -> BundleVerification:
    """Verify a bundle offline. Every problem found is reported, not only the first.

    Raises:
        InvalidInput: ``evidence.bundle_invalid`` — not a bundle of this format.
    """
    if document.get("format") != BUNDLE_FORMAT or not isinstance(document.get("audit_export"), list):
        raise InvalidInput("this is not a realname evidence bundle", code="evidence.bundle_invalid")
    lines = [str(line) for line in document["audit_export"] if str(line).strip()]
    verdict = verify_export(lines, public_key_valid)
    problems: list[str] = []
    if not verdict.result.intact:
        problems.append(
            f"the audit segment is broken at sequence number {verdict.result.first_bad_seq}: {verdict.result.problem}"
        )
    attempt_id = document.get("attempt")
    if not isinstance(attempt_id, str):
        raise InvalidInput("the bundle names no attempt", code="evidence.bundle_invalid")
    items = _parsed(lines)
    events = [event_from_line(line) for line, item in zip(lines, items, strict=True) if item.get("type") == "event"]
    recomputed = summarise(attempt_id, events)
    if document.get("summary") != recomputed:
        problems.append("the summary is not what the attempt's audit events say")
    own = [e for e in events if belongs_to(e, attempt_id)]
    signed = next(
        (
            checkpoint_from_line(line)
            for line, item in zip(lines, items, strict=True)
            if item.get("type") == "checkpoint" and item.get("seq") == verdict.result.signed_through_seq
        ),
        None,
    )
    uncovered = [e for e in own if signed is None or not signed.covers(e.chain, e.seq)]
    if not own:
        problems.append("the segment holds no event of this attempt")
    elif uncovered:
        problems.append(
            "no signed checkpoint covers the attempt's event(s) "
            + ", ".join(f"{e.seq} of chain {e.chain}" for e in uncovered)
        )
    keys = _public_keys(items)
    key_id = str(document.get("key_id", ""))
    try:
        signature = base64.b64decode(str(document.get("signature", "")), validate=True)
    except (ValueError, binascii.Error):
        signature = b""
    public = keys.get(key_id)
    if public is None or not public_key_valid(public, signed_part(document), signature):
        problems.append(f"the bundle's signature does not verify with key {key_id!r}")
    decision = recomputed.get("decision")
    return BundleVerification(
        not problems,
        tuple(problems),
        attempt_id,
        verdict.key_ids,
        verdict.result.signed_through_seq,
        decision if isinstance(decision, str) else None,
    )


def _parsed(lines: list[str]) -> list[dict[str, Any]]:
    """Each line of the bundle's audit segment as a JSON object.

    Raises:
        InvalidInput: ``evidence.bundle_invalid`` — a line is not a JSON object.
    """
    items = []
    for number, line in enumerate(lines, start=1):
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            item = None
        if not isinstance(item, dict):
            raise InvalidInput(
                f"line {number} of the audit segment is not a JSON object", code="evidence.bundle_invalid"
            )
        items.append(item)
    return items


def _public_keys(items: list[dict[str, Any]]) -> dict[str, bytes]:
    for item in items:
        if item.get("type") == "header" and isinstance(item.get("public_keys"), dict):
            try:
                return {str(k): base64.b64decode(str(v), validate=True) for k, v in item["public_keys"].items()}
            except (ValueError, binascii.Error):
                return {}
    return {}
