"""Relying parties' checks in Chromium: a number registered at an enrolled kiosk (its reader signed the card's number
and name; a real clip passed liveness), a bank checks it (two- and three-element), the subscriber proves who they are
on /me with the one-time code, sees the checks, reports one as unwanted and blocks checks on the number — and the
bank's next check answers ``blocked``."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from realname.app.actors import OPERATOR_CLI
from realname.app.relying_party_checks import NewPartyCredential
from realname.domain.relying_parties import CheckKind, sign_request
from tests.e2e.browser_support import luhn_complete, make_id_photo, register_via_api, require_browser_tools
from tests.e2e.test_browser_kiosk import FRONTAL_AT_SECONDS, ID_NUMBER, REAL_CLIP, REAL_CLIP_ACTIONS, TABLET, open_kiosk

MSISDN = "13800138009"
NAME = "欧阳 娜娜"


@pytest.fixture
def liveness_clips(shared_data: Path) -> Path:
    require_browser_tools()
    return shared_data / "liveness"


def signed_check(base_url: str, credential: NewPartyCredential, body: dict[str, Any]) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    ts, nonce = str(int(time.time())), secrets.token_urlsafe(16)
    signature = sign_request(credential.secret.encode(), "POST", "/v1/checks", ts, nonce, raw)
    response = httpx.post(
        base_url + "/v1/checks",
        content=raw,
        timeout=30,
        headers={
            "Content-Type": "application/json",
            "X-Realname-Party": credential.party_id,
            "X-Realname-Timestamp": ts,
            "X-Realname-Nonce": nonce,
            "X-Realname-Signature": signature,
        },
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.browser
@pytest.mark.shared
def test_subscriber_sees_a_bank_check_reports_it_and_blocks_the_number(liveness_clips: Path, tmp_path: Path) -> None:
    clip = liveness_clips / REAL_CLIP
    id_photo = make_id_photo(clip, FRONTAL_AT_SECONDS, tmp_path / "chip-photo.jpg")
    with open_kiosk(tmp_path, clip, TABLET, REAL_CLIP_ACTIONS) as kiosk:
        server = kiosk.server
        # Registered at an enrolled kiosk whose reader signed the card's number and name.
        register_via_api(server, ID_NUMBER, clip, id_photo, MSISDN, luhn_complete("898601" + "4" * 12), name=NAME)
        bank = server.container.party_admin().add(
            OPERATOR_CLI,
            party_id="demo-bank",
            name="Demo Bank",
            purpose="opening a savings account",
            kinds=frozenset(CheckKind),
            daily_quota=100,
            per_minute_limit=100,
            contact="risk@demo-bank.example",
        )
        consent = {"reference": "demo-consent/42", "given_at": "2026-12-01T09:30:00+08:00"}
        two = {"kind": "two_element", "number": MSISDN, "id_number": ID_NUMBER, "consent": consent}
        assert signed_check(server.base_url, bank, two)["result"] == "match"
        three = {**two, "kind": "three_element", "name": NAME}
        assert signed_check(server.base_url, bank, three)["result"] == "match"
        assert signed_check(server.base_url, bank, {**three, "name": "王五"})["result"] == "no_match"

        # At home: ID number and name, then the one-time code sent to the number.
        p = kiosk.p
        kiosk.switch("me-checks")
        p.goto(server.base_url + "/me")
        kiosk.wait_state("intro")
        p.click("#start")
        kiosk.wait_state("identify")
        p.fill("#identify-form input[name=value]", ID_NUMBER)
        p.fill("#identify-form input[name=name]", NAME)
        p.click("#identify-form button[type=submit]")
        kiosk.wait_state("code")
        p.fill("#code-form input[name=code]", server.codes.last_to(MSISDN))
        p.click("#code-form button[type=submit]")
        kiosk.wait_state("records")
        p.wait_for_selector("#checks-table button.unwanted")
        kiosk.shot("checks")
        checks = p.text_content("#checks-table tbody") or ""
        for shown in (
            "Demo Bank",
            "opening a savings account",
            "二要素",
            "三要素",
            "138****8009",
            "不一致",
        ):
            assert shown in checks, shown
        assert "demo-consent/42" in checks
        assert MSISDN not in checks and ID_NUMBER not in checks and NAME not in checks

        p.locator("#checks-table button.unwanted").first.click()
        p.wait_for_selector("#checks-table >> text=已举报")
        p.click('#numbers-table button.block-number[data-number="138****8009"]')
        p.wait_for_selector("#blocks-table button.lift-block")
        kiosk.shot("blocked")
        assert "138****8009 的全部查询" in (p.text_content("#blocks-table tbody") or "")
        assert signed_check(server.base_url, bank, two)["result"] == "blocked"
        cases = server.container.review.pending_cases(OPERATOR_CLI)
        assert [c.kind.value for c in cases] == ["unwanted_check"]
