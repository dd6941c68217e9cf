"""Every store flow through the real HTTP API, with real clips as the customer and real models deciding.

The server is made to ask exactly for the actions a clip performs (an injected challenge order), so a
real person's clip can pass; everything else (liveness, anti-spoofing, matching) is the real engine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from realname.adapters.http.app import create_app
from realname.app.actors import OPERATOR_CLI
from realname.bootstrap import Container
from realname.config import PolicySettings
from realname.domain.numbers import Msisdn
from realname.domain.organisation import Role
from tests.conftest import require_shared_data
from tests.contract.conftest import astronaut_rgb
from tests.e2e import flows
from tests.e2e.conftest import Service, settings_for
from tests.e2e.media import card_front_image, chip_photo, frame_at, jpeg_bytes
from tests.fakes import FixedRandom

ID_A = "11010519491231002X"
ID_B = "110105198507040036"
NAME_A = "Zhang Wei"
SIM_1 = "89860012345678901238"
SIM_2 = "89860012345678901246"
REAL = "tvl_real_turnR_turnL.mp4"  # subject turns to their own left, then to their own right
REPLAY = "tvl_screenreplay_turnR_turnL.mp4"


class ClipOrder(FixedRandom):
    """Asks for the actions ``tvl_*_turnR_turnL`` performs, in that order."""

    def shuffle(self, items: list[str]) -> list[str]:
        wanted = ["turn_left", "turn_right"]
        return wanted + [i for i in items if i not in wanted]


@dataclass
class Store(Service):
    liveness_dir: Path
    id_photo: bytes
    card_front: bytes  # the document camera's image of the same card's front (printed portrait = the chip's photo)

    def clip(self, name: str = REAL) -> bytes:
        return (self.liveness_dir / name).read_bytes()

    def verified(
        self,
        headers: dict[str, str],
        purpose: str = "register",
        id_number: str = ID_A,
        clip: str = REAL,
        name: str = NAME_A,
    ) -> dict[str, Any]:
        """Run an attempt up to the decision; return the decision body (with ``attempt_id``)."""
        attempt = self.start(headers, purpose)
        self.prepare(headers, attempt, id_number, name=name)
        challenge = self.client.post(f"/v1/attempts/{attempt}/challenge", headers=headers).json()
        decision = self.answer(headers, attempt, challenge["nonce"], clip)
        assert decision.status_code == 200, decision.text
        return {**decision.json(), "attempt_id": attempt}

    def start(self, headers: dict[str, str], purpose: str = "register") -> str:
        return flows.start_attempt(self.client, headers, purpose)

    def prepare(self, headers: dict[str, str], attempt: str, id_number: str, **fields: Any) -> None:
        flows.prepare_attempt(self.client, headers, attempt, id_number, **fields)

    def answer(
        self, headers: dict[str, str], attempt: str, nonce: str, clip: str = REAL, card_front: bytes | None = None
    ) -> Any:
        return flows.answer_liveness(
            self.client, headers, attempt, nonce, self.clip(clip), self.id_photo, card_front=card_front
        )

    def challenged(self, headers: dict[str, str]) -> tuple[str, str]:
        attempt = self.start(headers)
        self.prepare(headers, attempt, ID_A)
        return attempt, self.client.post(f"/v1/attempts/{attempt}/challenge", headers=headers).json()["nonce"]

    def last_decision(self) -> dict[str, Any]:
        with self.container.unit_of_work() as uow:
            decided = [event for event in uow.audit.events() if event.action == "verification.decided"]
        return dict(decided[-1].details)


@pytest.fixture(scope="module")
def liveness_dir() -> Path:
    return require_shared_data() / "liveness"


@pytest.fixture
def store(tmp_path: Path, liveness_dir: Path) -> Iterator[Store]:
    yield from open_store(tmp_path, liveness_dir)


def open_store(tmp_path: Path, liveness_dir: Path, **policy: Any) -> Iterator[Store]:
    settings = settings_for(tmp_path / "data", policy=PolicySettings(challenge_actions=2, **policy))
    codes = flows.SentCodes()
    container = Container(settings, random=ClipOrder(), code_sender=codes)
    container.initialise()
    registry = container.registry()
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
    registry.add_outlet(OPERATOR_CLI, "SH-001", "Shanghai Nanjing Road")
    registry.import_numbers(OPERATOR_CLI, [Msisdn(f"1380013{i:04d}") for i in range(50)], source="test")
    # The ID photo: a frontal moment of the same clip (0.3 s), reduced to a 102×126 JPEG chip photo.
    photo = chip_photo(container.onnx_models, liveness_dir / REAL, 0.3)
    card = card_front_image(container.onnx_models, frame_at(liveness_dir / REAL, 0.3))
    with TestClient(create_app(container.http_services()), raise_server_exceptions=False) as client:
        flows.install_kiosks(client, container, ("BJ-001", "SH-001"))
        yield Store(container, client, codes, liveness_dir, photo, card)
    container.engine.dispose()


def register(store: Store, clerk: dict[str, str], msisdn: str = "13800130007", id_number: str = ID_A) -> dict[str, Any]:
    decision = store.verified(clerk, id_number=id_number)
    assert decision["passed"], decision
    attempt = decision["attempt_id"]
    assert (
        store.client.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": msisdn}, headers=clerk).status_code
        == 200
    )
    receipt = store.client.post(
        f"/v1/attempts/{attempt}/registration",
        json={"msisdn": msisdn, "iccid": SIM_1},
        headers={**clerk, "Idempotency-Key": f"key-{attempt}"},
    )
    assert receipt.status_code == 200, receipt.text
    return {"attempt": attempt, **receipt.json()}


def test_real_customer_is_approved_and_registered(store: Store) -> None:
    clerk = store.staff()
    decision = store.verified(clerk)
    assert decision["passed"] is True and decision["next_step"] == "choose_number"
    assert decision["similarity"] is None and decision["reasons"] is None  # clerks never see scores
    attempt = decision["attempt_id"]

    page = store.client.get("/v1/numbers/available", params={"pattern": "??7", "limit": 5}, headers=clerk).json()
    assert [n["msisdn"] for n in page["numbers"]][:2] == ["13800130007", "13800130017"]
    store.client.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": "13800130007"}, headers=clerk)

    body = {"msisdn": "13800130007", "iccid": SIM_1}
    key = {**clerk, "Idempotency-Key": "register-0001"}
    first = store.client.post(f"/v1/attempts/{attempt}/registration", json=body, headers=key)
    again = store.client.post(f"/v1/attempts/{attempt}/registration", json=body, headers=key)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["number"] == "138****0007" and "89860012345678901238" not in first.text
    other = store.client.post(
        f"/v1/attempts/{attempt}/registration", json={**body, "msisdn": "13800130008"}, headers=key
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency.mismatch"
    assert store.container.registry().verify_audit(OPERATOR_CLI).intact


def test_only_reviewers_see_similarity_and_reasons(store: Store) -> None:
    clerk = store.staff()
    reviewer = store.staff(Role.REVIEWER)
    other_outlet = store.staff(Role.CLERK, outlet="SH-001", name="Zhang Wei")
    attempt = store.start(clerk)
    store.prepare(clerk, attempt, ID_A)
    nonce = store.client.post(f"/v1/attempts/{attempt}/challenge", headers=clerk).json()["nonce"]
    assert store.answer(other_outlet, attempt, nonce).status_code == 404
    decision = store.answer(reviewer, attempt, nonce).json()
    assert decision["passed"] is True
    assert 0.0 < decision["threshold"] <= decision["similarity"] <= 1.0
    assert decision["reasons"] == []


def test_a_card_front_of_the_same_card_decides_by_its_printed_portrait(store: Store) -> None:
    clerk, reviewer = store.staff(), store.staff(Role.REVIEWER)
    attempt, nonce = store.challenged(clerk)
    decision = store.answer(clerk, attempt, nonce, card_front=store.card_front)
    assert decision.status_code == 200, decision.text
    body = decision.json()
    assert body["passed"] is True and body["similarity"] is None and body["reasons"] is None
    audited = store.last_decision()
    assert audited["card_front"] is True and audited["decided_by"] == "printed_portrait"
    assert audited["reference"] == "printed"  # its own kind and threshold
    assert audited["same_photograph"] >= audited["same_photograph_threshold"]
    attempt, nonce = store.challenged(clerk)
    seen = store.answer(reviewer, attempt, nonce, card_front=store.card_front).json()
    assert seen["passed"] is True and seen["reasons"] == []


def test_a_card_front_with_another_persons_printed_photo_is_refused(store: Store) -> None:
    clerk, reviewer = store.staff(), store.staff(Role.REVIEWER)
    swapped = card_front_image(store.container.onnx_models, astronaut_rgb())
    attempt, nonce = store.challenged(clerk)
    decision = store.answer(clerk, attempt, nonce, card_front=swapped).json()
    assert decision["passed"] is False and decision["reason_category"] == "document"
    assert decision["reasons"] is None  # the clerk sees the category only
    audited = store.last_decision()
    assert audited["reasons"] == ["document.portrait_mismatch"] and audited["decided_by"] is None
    assert audited["same_photograph"] < audited["same_photograph_threshold"]
    attempt, nonce = store.challenged(clerk)
    seen = store.answer(reviewer, attempt, nonce, card_front=swapped).json()
    assert seen["reasons"] == ["document.portrait_mismatch"] and seen["similarity"] is None


def test_a_card_front_without_a_portrait_is_a_400_and_keeps_the_challenge(store: Store) -> None:
    clerk = store.staff()
    attempt, nonce = store.challenged(clerk)
    blank = jpeg_bytes(np.full((900, 1200, 3), 230, dtype=np.uint8))
    refused = store.answer(clerk, attempt, nonce, card_front=blank)
    assert refused.status_code == 400 and refused.json()["code"] == "document.portrait_not_found"
    not_an_image = store.answer(clerk, attempt, nonce, card_front=b"%PDF-1.7 not an image")
    assert not_an_image.status_code == 400 and not_an_image.json()["code"] == "image.invalid"
    # nothing was decided or burnt: the same challenge is answered with a usable card front
    retried = store.answer(clerk, attempt, nonce, card_front=store.card_front)
    assert retried.status_code == 200 and retried.json()["passed"] is True


def test_screen_replay_is_rejected_as_spoof(store: Store) -> None:
    clerk = store.staff()
    decision = store.verified(clerk, clip=REPLAY)
    assert decision["passed"] is False
    assert decision["reason_category"] == "spoof_suspected"
    blocked = store.client.post(
        f"/v1/attempts/{decision['attempt_id']}/reservation", json={"msisdn": "13800130001"}, headers=clerk
    )
    assert blocked.status_code == 409


def test_replayed_nonce_is_refused(store: Store) -> None:
    clerk = store.staff()
    decision = store.verified(clerk, clip=REPLAY)
    attempt = decision["attempt_id"]
    nonce = store.client.post(f"/v1/attempts/{attempt}/challenge", headers=clerk).json()["nonce"]
    assert store.answer(clerk, attempt, nonce, REPLAY).status_code == 200
    store.client.post(f"/v1/attempts/{attempt}/challenge", headers=clerk)
    replay = store.answer(clerk, attempt, nonce)
    assert replay.status_code == 409 and replay.json()["code"] == "challenge.replayed"


def test_clip_for_another_attempt_is_refused(store: Store) -> None:
    clerk = store.staff()
    first, second = store.start(clerk), store.start(clerk)
    for attempt in (first, second):
        store.prepare(clerk, attempt, ID_A)
    nonce_first = store.client.post(f"/v1/attempts/{first}/challenge", headers=clerk).json()["nonce"]
    store.client.post(f"/v1/attempts/{second}/challenge", headers=clerk)
    wrong = store.answer(clerk, second, nonce_first)
    assert wrong.status_code == 403 and wrong.json()["code"] == "challenge.wrong_attempt"


def test_two_clerks_completing_the_same_number_one_wins(store: Store) -> None:
    clerks = [store.staff(name="Clerk A"), store.staff(name="Clerk B")]
    attempts = [store.verified(c, id_number=i)["attempt_id"] for c, i in zip(clerks, (ID_A, ID_B), strict=True)]
    results: list[int] = []

    def complete(i: int) -> None:
        response = store.client.post(
            f"/v1/attempts/{attempts[i]}/registration",
            json={"msisdn": "13800130003", "iccid": SIM_1 if i == 0 else SIM_2},
            headers={**clerks[i], "Idempotency-Key": f"race-{i}-0000"},
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=complete, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]


def test_one_sim_cannot_serve_two_numbers_of_two_people(store: Store) -> None:
    clerk = store.staff()
    register(store, clerk, "13800130001", id_number=ID_A)  # SIM_1
    other = store.verified(clerk, id_number=ID_B)
    attempt = other["attempt_id"]
    reserved = store.client.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": "13800130002"}, headers=clerk)
    assert reserved.status_code == 200
    refused = store.client.post(
        f"/v1/attempts/{attempt}/registration",
        json={"msisdn": "13800130002", "iccid": SIM_1},
        headers={**clerk, "Idempotency-Key": "second-person-0001"},
    )
    assert refused.status_code == 409 and refused.json()["code"] == "sim.in_use", refused.text
    with store.container.engine.connect() as c:
        assert c.execute(sa.text("SELECT COUNT(*) FROM binding")).scalar_one() == 1
    registered = store.client.post(
        f"/v1/attempts/{attempt}/registration",
        json={"msisdn": "13800130002", "iccid": SIM_2},
        headers={**clerk, "Idempotency-Key": "second-person-0002"},
    )
    assert registered.status_code == 200, registered.text


def test_owner_surrenders_replaces_sim_and_reverifies(store: Store) -> None:
    clerk = store.staff()
    register(store, clerk, "13800130005")

    sim = store.verified(clerk, purpose="sim_replacement")
    same = store.client.post(
        f"/v1/attempts/{sim['attempt_id']}/sim-replacement",
        json={"msisdn": "13800130005", "iccid": SIM_1},
        headers=clerk,
    )
    assert same.status_code == 400 and same.json()["code"] == "iccid.same"
    new = store.client.post(
        f"/v1/attempts/{sim['attempt_id']}/sim-replacement",
        json={"msisdn": "13800130005", "iccid": SIM_2},
        headers=clerk,
    )
    assert new.status_code == 200 and new.json()["iccid"].endswith("1246")
    # A reload on the receipt: the customer's printed copy has the new SIM in full (the screen stays masked).
    visit = store.client.get("/v1/visits/current", params={"device_id": "kiosk-1"}, headers=clerk).json()
    assert visit["step"] == "receipt" and visit["printed"] == {"number": "13800130005", "iccid": SIM_2}
    assert visit["receipt"]["iccid"] == new.json()["iccid"]

    store.container.registry().suspend_number(OPERATOR_CLI, Msisdn("13800130005"), "flagged by anti-fraud")
    again = store.verified(clerk, purpose="reverify")
    reverified = store.client.post(
        f"/v1/attempts/{again['attempt_id']}/reverification", json={"msisdn": "13800130005"}, headers=clerk
    )
    assert reverified.status_code == 200, reverified.text
    assert reverified.json()["number"] == "138****0005" and reverified.json()["number_state"] == "active"
    assert reverified.json()["cooling_until"] is None
    assert store.client.get(f"/v1/attempts/{again['attempt_id']}", headers=clerk).json()["state"] == "completed"

    leaving = store.verified(clerk, purpose="surrender")
    gone = store.client.post(
        f"/v1/attempts/{leaving['attempt_id']}/surrender", json={"msisdn": "13800130005"}, headers=clerk
    )
    assert gone.status_code == 200, gone.text
    receipt = gone.json()
    assert receipt["number"] == "138****0005" and receipt["number_state"] == "cooling"
    assert receipt["numbers_held_under_this_id"] == 0
    assert receipt["cooling_until"] > receipt["issued_at"]
    assert "13800130005" not in gone.text
    page = store.client.get("/v1/numbers/available", params={"prefix": "13800130005"}, headers=clerk).json()
    assert page["numbers"] == []  # cooling off, not offered


def test_owner_services_retried_with_the_same_key_return_the_first_receipt(store: Store) -> None:
    clerk = store.staff()
    register(store, clerk, "13800130007")
    sim = store.verified(clerk, purpose="sim_replacement")
    path = f"/v1/attempts/{sim['attempt_id']}/sim-replacement"
    body = {"msisdn": "13800130007", "iccid": SIM_2}
    first = store.client.post(path, json=body, headers={**clerk, "Idempotency-Key": "sim-swap-0001"})
    retry = store.client.post(path, json=body, headers={**clerk, "Idempotency-Key": "sim-swap-0001"})
    assert first.status_code == retry.status_code == 200 and retry.json() == first.json()
    other = store.client.post(
        path, json={**body, "iccid": SIM_1}, headers={**clerk, "Idempotency-Key": "sim-swap-0001"}
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency.mismatch"
    without_key = store.client.post(path, json=body, headers=clerk)
    assert without_key.status_code == 409  # the attempt is completed; nothing happens twice

    leaving = store.verified(clerk, purpose="surrender")
    path = f"/v1/attempts/{leaving['attempt_id']}/surrender"
    first = store.client.post(path, json={"msisdn": "13800130007"}, headers={**clerk, "Idempotency-Key": "leave-0001"})
    retry = store.client.post(path, json={"msisdn": "13800130007"}, headers={**clerk, "Idempotency-Key": "leave-0001"})
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json() and first.json()["number_state"] == "cooling"


def test_someone_else_cannot_surrender_my_number(store: Store) -> None:
    clerk = store.staff()
    register(store, clerk, "13800130009", id_number=ID_A)
    impostor = store.verified(clerk, purpose="surrender", id_number=ID_B)
    refused = store.client.post(
        f"/v1/attempts/{impostor['attempt_id']}/surrender", json={"msisdn": "13800130009"}, headers=clerk
    )
    assert refused.status_code == 404 and refused.json()["code"] == "number.not_held"


def test_subscriber_proves_it_at_home_sees_records_and_reports_a_number(store: Store) -> None:
    clerk = store.staff()
    register(store, clerk, "13800130011")  # the store's reader read the name "Zhang Wei" with the card
    me = flows.prove_at_home(store.client, store.codes, ID_A, "zhang  wei", "13800130011")

    records = store.client.get("/v1/self/records", headers=me).json()
    assert [n["number"] for n in records["numbers"]] == ["138****0011"]
    assert any(a["purpose"] == "register" and a["outlet"] == "BJ-001" for a in records["attempts"])
    assert any(a["action"] == "number.assigned" for a in records["accesses"])
    assert records["lockouts"] == []
    assert ID_A not in str(records) and NAME_A not in str(records)

    assert store.client.get("/v1/numbers/available", headers=me).status_code == 403
    someone_elses = store.client.post("/v1/self/reports", json={"number_ref": "not-a-ref"}, headers=me)
    assert someone_elses.status_code == 404 and someone_elses.json()["code"] == "number.not_held"
    (held,) = records["numbers"]
    reported = store.client.post("/v1/self/reports", json={"number_ref": held["ref"]}, headers=me)
    # From home, a report opens a review; the number keeps working until a reviewer confirms.
    assert reported.status_code == 202 and reported.json() == {
        "status": "reported",
        "number_state": "active",
        "review": "opened",
    }
    again = store.client.get("/v1/self/records", headers=me).json()
    assert [n["state"] for n in again["numbers"]] == ["active"]

    reviewer_1, reviewer_2 = store.staff(Role.REVIEWER, name="R1"), store.staff(Role.REVIEWER, name="R2")
    cases = store.client.get("/v1/review/cases", headers=reviewer_1).json()
    case = next(c for c in cases if c["kind"] == "not_mine")
    proposed = store.client.post(
        f"/v1/review/cases/{case['id']}/decision",
        json={"decision": "reinstate", "reason": "owner called back"},
        headers=reviewer_1,
    )
    assert proposed.json()["state"] == "awaiting_second"
    self_confirm = store.client.post(
        f"/v1/review/cases/{case['id']}/decision",
        json={"decision": "reinstate", "reason": "me again"},
        headers=reviewer_1,
    )
    assert self_confirm.status_code == 403 and self_confirm.json()["code"] == "review.four_eyes"
    confirmed = store.client.post(
        f"/v1/review/cases/{case['id']}/decision",
        json={"decision": "reinstate", "reason": "checked"},
        headers=reviewer_2,
    )
    assert confirmed.json()["state"] == "closed"

    # A second report, which a reviewer confirms: only then is the number suspended.
    assert store.client.post("/v1/self/reports", json={"number_ref": held["ref"]}, headers=me).status_code == 202
    case = next(c for c in store.client.get("/v1/review/cases", headers=reviewer_1).json() if c["kind"] == "not_mine")
    suspended = store.client.post(
        f"/v1/review/cases/{case['id']}/decision",
        json={"decision": "suspend_confirmed", "reason": "store could not show evidence"},
        headers=reviewer_1,
    )
    assert suspended.json()["state"] == "closed"
    final = store.client.get("/v1/self/records", headers=me).json()
    assert [n["state"] for n in final["numbers"]] == ["suspended"]


def evidence_rows(store: Store) -> list[bytes]:
    with store.container.engine.connect() as c:
        return [bytes(r[0]) for r in c.execute(sa.text("SELECT ciphertext FROM evidence"))]


def test_no_biometric_evidence_is_kept_by_default(store: Store) -> None:
    assert store.verified(store.staff())["passed"] is True
    assert evidence_rows(store) == []


def test_evidence_switch_keeps_the_best_frame_encrypted(tmp_path: Path, liveness_dir: Path) -> None:
    for store in open_store(tmp_path, liveness_dir, keep_evidence=True):
        assert store.verified(store.staff())["passed"] is True
        rows = evidence_rows(store)
        assert len(rows) == 1
        assert b"\xff\xd8\xff" not in rows[0] and b"JFIF" not in rows[0]
