"""Evidence bundles over real storage and real keys (SQLite, and PostgreSQL when configured): a bundle verifies
offline, and edits to its decision, its summary, an event, its chain or its signature make it fail."""

from __future__ import annotations

import base64
import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from realname.adapters.cli.privacy_commands import ed25519_valid
from realname.adapters.crypto.keyfile import LocalKeyFileProvider, create_key_file
from realname.adapters.crypto.signing import Ed25519Signer
from realname.adapters.storage.report_repositories import SqlReportsUnitOfWork
from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.app.actors import Actor
from realname.app.evidence import EvidenceBundles, verify_bundle
from realname.domain.errors import Forbidden, InvalidInput, NotFound
from realname.domain.evidence import signed_part
from realname.domain.organisation import Role
from tests.integration.privacy_world import PrivacyWorld, build_world
from tests.integration.report_world import Stream
from tests.integration.test_registry_storage import CLERK

AUDITOR = Actor("staff:auditor-1", Role.AUDITOR, "HQ")


def bundles(world: PrivacyWorld) -> EvidenceBundles:
    return EvidenceBundles(
        lambda: SqlUnitOfWork(world.engine),
        lambda: SqlReportsUnitOfWork(world.engine),
        world.audit_admin(),
        world.signer,
        world.clock,
        {"face_engine": "sface"},
    )


@pytest.fixture
def bundle_of(engine: sa.Engine, tmp_path: Path) -> tuple[PrivacyWorld, dict[str, Any]]:
    """A bundle of a registration made between two others (their events are in its chain segment)."""
    world = build_world(engine, tmp_path)
    stream = Stream(engine)
    stream.outlets.add("BJ-001")
    at = world.clock.now()
    stream.registration(at - timedelta(minutes=1))
    stream.registration(at, clerk="staff:clerk-7")
    attempt_id = stream.last_attempt
    stream.registration(at + timedelta(minutes=1), outlet="SH-001")
    world.clock.advance(seconds=3600)
    built = bundles(world).build(AUDITOR, attempt_id)
    return world, json.loads(json.dumps(built))  # as an inspector reads it from the file


def test_a_bundle_verifies_offline_and_says_what_was_decided(bundle_of: tuple[PrivacyWorld, dict[str, Any]]) -> None:
    _, bundle = bundle_of
    verdict = verify_bundle(bundle, ed25519_valid)
    assert verdict.intact, verdict.problems
    assert verdict.decision == "approved" and verdict.signed_through_seq >= max(bundle["summary"]["event_seqs"])
    summary = bundle["summary"]
    assert (summary["clerk"], summary["outlet"], summary["consent"]["version"]) == ("staff:clerk-7", "BJ-001", "v1")
    decision = summary["decisions"][0]
    assert (decision["engine"], decision["similarity"], decision["threshold"]) == ("sface", 0.61, 0.35)
    assert decision["actions_detected"] == ["blink", "nod"]
    assert summary["challenges"][0]["actions"] == ["blink", "nod"]
    assert summary["completion"]["action"] == "number.assigned"
    assert bundle["models_installed_at_export"] == {"face_engine": "sface"}
    # Only references and masked values: the ID's blind-index reference, never an ID number or a name.
    assert summary["subject"].startswith("sub:") and "****" in summary["completion"]["number"]


def _event_lines(bundle: dict[str, Any]) -> list[int]:
    return [i for i, line in enumerate(bundle["audit_export"]) if json.loads(line)["type"] == "event"]


def _edit_event(bundle: dict[str, Any], action: str, change: dict[str, Any]) -> None:
    for i in _event_lines(bundle):
        item = json.loads(bundle["audit_export"][i])
        if item["action"] == action and item["details"].get("attempt") == bundle["attempt"]:
            item["details"].update(change)
            bundle["audit_export"][i] = json.dumps(item, sort_keys=True, separators=(",", ":"))
            return
    raise AssertionError(f"no {action} event of the attempt")


def _tamper(bundle: dict[str, Any], how: str, world: PrivacyWorld, tmp_path: Path) -> dict[str, Any]:
    edited = copy.deepcopy(bundle)
    if how == "decision":
        edited["summary"]["decision"] = "rejected"
    elif how == "similarity_in_summary":
        edited["summary"]["decisions"][0]["similarity"] = 0.99
    elif how == "event":
        _edit_event(edited, "verification.decided", {"similarity": 0.99})
    elif how == "event_and_summary":
        _edit_event(edited, "verification.decided", {"outcome": "rejected"})
        edited["summary"]["decisions"][0]["outcome"] = "rejected"
        edited["summary"]["decision"] = "rejected"
    elif how == "event_removed":
        lines = _event_lines(edited)
        del edited["audit_export"][lines[len(lines) // 2]]
    elif how == "signature":
        raw = bytearray(edited["signature"].encode())
        raw[5] = ord("A") if raw[5] != ord("A") else ord("B")
        edited["signature"] = raw.decode()
    elif how == "resigned_with_another_key":
        edited["summary"]["decision"] = "rejected"
        create_key_file(tmp_path / "other" / "keys.json")
        material = LocalKeyFileProvider(tmp_path / "other" / "keys.json").signing_keys()
        other = Ed25519Signer(material.private_key, material.public_keys)
        edited["key_id"] = other.key_id
        edited["signature"] = base64.b64encode(other.sign(signed_part(edited))).decode()
    elif how == "resigned_summary_with_the_real_key":
        # Even the key holder cannot make a bundle say what the audit events do not.
        edited["summary"]["decisions"][0]["similarity"] = 0.99
        edited["signature"] = base64.b64encode(world.signer.sign(signed_part(edited))).decode()
    return edited


@pytest.mark.parametrize(
    ("how", "found"),
    [
        ("decision", "summary is not what"),
        ("similarity_in_summary", "summary is not what"),
        ("event", "segment is broken"),
        ("event_and_summary", "segment is broken"),
        ("event_removed", "segment is broken"),
        ("signature", "signature does not verify"),
        ("resigned_with_another_key", "signature does not verify"),
        ("resigned_summary_with_the_real_key", "summary is not what"),
    ],
)
def test_an_edited_bundle_fails_verification(
    bundle_of: tuple[PrivacyWorld, dict[str, Any]], how: str, found: str, tmp_path: Path
) -> None:
    world, bundle = bundle_of
    verdict = verify_bundle(_tamper(bundle, how, world, tmp_path), ed25519_valid)
    assert not verdict.intact
    assert any(found in problem for problem in verdict.problems), verdict.problems
    if how != "resigned_summary_with_the_real_key":
        assert any("signature does not verify" in problem for problem in verdict.problems)


def test_bundles_are_for_auditors_and_admins_of_known_attempts(engine: sa.Engine, tmp_path: Path) -> None:
    world = build_world(engine, tmp_path)
    with pytest.raises(Forbidden):
        bundles(world).build(CLERK, "whatever")
    with pytest.raises(NotFound):
        bundles(world).build(AUDITOR, "no-such-attempt")
    with pytest.raises(InvalidInput):
        verify_bundle({"format": "something else"}, ed25519_valid)
