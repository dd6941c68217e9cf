"""Inspection evidence of one attempt (a registration, surrender, SIM replacement or re-verification), read
from its audit events.

The summary an inspector reads (decision, model, thresholds, similarities, liveness actions detected, consent
version, clerk, outlet, times) is computed from the audit events by :func:`summarise`, and a verifier computes
it again from the events in the bundle's chain segment: a summary that says something the events do not is
caught even before the bundle's signature is checked. Events carry references and masked values only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from realname.domain.audit import AuditEvent, JsonValue, canonical_json

BUNDLE_FORMAT = "realname-evidence-bundle/1"

COMPLETIONS = ("number.assigned", "number.surrendered", "sim.replaced", "number.reverified")
DECISION_FIELDS = (
    "outcome",
    "reasons",
    "engine",
    "similarity",
    "threshold",
    "reference",
    "frames_used",
    "spoof_suspected",
    "actions_detected",
    "card_front",
    "same_photograph",
    "same_photograph_threshold",
    "decided_by",
)


def belongs_to(event: AuditEvent, attempt_id: str) -> bool:
    """Whether ``event`` records a step of the attempt (its details or its subject name it)."""
    return event.details.get("attempt") == attempt_id or event.subject == f"attempt:{attempt_id}"


def _at(event: AuditEvent) -> str:
    return str(event.payload()["at"])


def summarise(attempt_id: str, events: Iterable[AuditEvent]) -> dict[str, JsonValue]:
    """What the attempt's events say, in the order they happened (``events`` may hold others' events too, in any
    order); ``event_seqs``/``event_chains`` name each of its events by audit chain and sequence number."""
    # In time order, whatever order the events come in (an export lists the audit chains one after the other).
    mine = sorted((e for e in events if belongs_to(e, attempt_id)), key=lambda e: (e.occurred_at, e.chain, e.seq))
    summary: dict[str, JsonValue] = {
        "attempt": attempt_id,
        "event_seqs": [e.seq for e in mine],
        "event_chains": [e.chain for e in mine],
    }
    decisions: list[JsonValue] = []
    challenges: list[JsonValue] = []
    refusals: list[JsonValue] = []
    for event in mine:
        details: Mapping[str, JsonValue] = event.details
        if event.subject and event.subject.startswith("sub:"):
            summary["subject"] = event.subject
        if event.action == "attempt.started":
            summary.update(
                purpose=details.get("purpose"),
                outlet=event.outlet,
                clerk=event.actor,
                device=details.get("device"),
                started_at=_at(event),
            )
        elif event.action == "document.checked":
            summary["document"] = {
                "kind": details.get("kind"),
                "valid": details.get("valid"),
                "reasons": details.get("reasons"),
                "terminal": details.get("terminal"),
                "at": _at(event),
            }
        elif event.action in ("consent.accepted", "consent.declined"):
            summary["consent"] = {
                "version": details.get("version"),
                "accepted": event.action == "consent.accepted",
                "at": _at(event),
            }
        elif event.action == "challenge.issued":
            challenges.append({"actions": details.get("actions"), "at": _at(event)})
        elif event.action == "verification.decided":
            decision: dict[str, JsonValue] = {k: details[k] for k in DECISION_FIELDS if k in details}
            decision["at"] = _at(event)
            decision["clerk"] = event.actor
            decisions.append(decision)
        elif event.action == "attempt.refused":
            refusals.append({"code": details.get("code"), "at": _at(event)})
        elif event.action in COMPLETIONS:
            summary["completion"] = {
                "action": event.action,
                "number": details.get("number"),
                "iccid": details.get("iccid"),
                "clerk": event.actor,
                "outlet": event.outlet,
                "at": _at(event),
            }
    summary["challenges"] = challenges
    summary["decisions"] = decisions
    summary["refusals"] = refusals
    final = decisions[-1] if decisions else None
    summary["decision"] = final["outcome"] if isinstance(final, dict) else None
    return summary


def signed_part(bundle: Mapping[str, Any]) -> bytes:
    """The bytes a bundle's signature covers: the canonical JSON of everything but the signature."""
    return canonical_json({k: v for k, v in bundle.items() if k != "signature"}).encode("utf-8")
