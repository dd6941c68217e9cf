"""Sessions that keep the customer's visit, in Chromium, in zh-CN: a token that expires mid-visit locks the kiosk and
the clerk's password brings it back where it was; a page reload resumes the visit from the server; the idle lock; the
renewal while the clerk works; ending a visit gives its number back.

The first test feeds Chromium a real clip (../shared/data/liveness) for the face check; the others need no shared
data (Chromium's test pattern is the camera, and no face is checked). Playwright's clock stands in for the minutes
a clerk waits, so nothing here sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from realname.domain.attempts import Outcome
from realname.domain.numbers import Msisdn, NumberState
from realname.domain.organisation import OutletCode, Role
from realname.domain.subscribers import BlindIndex
from tests.e2e.browser_support import OUTLET, last_decision_details, luhn_complete, make_id_photo, require_browser_tools
from tests.e2e.test_browser_i18n import untranslated
from tests.e2e.test_browser_kiosk import FRONTAL_AT_SECONDS, REAL_CLIP, REAL_CLIP_ACTIONS, TABLET, Kiosk, open_kiosk


@pytest.fixture
def liveness_clips(shared_data: Path) -> Path:
    require_browser_tools()
    return shared_data / "liveness"


def expire_the_token(kiosk: Kiosk) -> None:
    """Put a token of the same clerk that expired an hour ago into the page, as a long wait or a sleeping PC
    leaves it: signed by the server, so the server's answer is the real one (401 auth.token_expired)."""
    server = kiosk.server
    expired = server.container.token_issuer.issue(
        server.staff_id, Role.CLERK, OutletCode(OUTLET), datetime.now(UTC) - timedelta(hours=1)
    )
    kiosk.p.evaluate("token => window.Realname.setToken(token)", expired)


def unlock(kiosk: Kiosk, reason: str, why: str) -> None:
    """The lock is up, in Chinese, saying ``why`` and naming the clerk's code; a wrong password is refused on it,
    the right one takes it away."""
    p = kiosk.p
    p.wait_for_selector(f'html[data-locked="{reason}"] #lock:not([hidden])')
    kiosk.shot(f"locked-{reason}")
    assert untranslated(p) == [], "English left on the zh-CN lock"
    assert p.text_content("#lock-title") == "页面已锁定"
    shown = p.text_content("#lock-why") or ""
    assert why in shown and "本次业务已保留" in shown, shown
    assert p.text_content("#lock-code") == kiosk.server.staff_code
    p.fill("#lock-form input[name=password]", "not-my-password")
    p.click("#lock-unlock")
    p.wait_for_selector('#lock-error[data-code="auth.invalid_credentials"]:not([hidden])')
    assert "员工编号或密码不正确" in (p.text_content("#lock-error") or "")
    p.fill("#lock-form input[name=password]", kiosk.server.password)
    p.click("#lock-unlock")
    p.wait_for_selector("html:not([data-locked]) #lock[hidden]", state="attached")


@pytest.mark.browser
@pytest.mark.shared
def test_an_expired_token_and_a_reload_keep_the_customers_visit(liveness_clips: Path, tmp_path: Path) -> None:
    clip = liveness_clips / REAL_CLIP
    id_photo = make_id_photo(clip, FRONTAL_AT_SECONDS, tmp_path / "chip-photo.jpg")
    with open_kiosk(tmp_path, clip, TABLET, REAL_CLIP_ACTIONS) as kiosk:
        p = kiosk.p
        kiosk.switch("sessions")
        kiosk.sign_in()
        p.click('[data-screen=start] button[data-purpose="register"]')
        kiosk.wait_state("document")
        p.fill("input[name=value]", "11010519491231002X")
        p.check("input[name=long_term]")
        p.fill("input[name=birth_date]", "1949-12-31")
        p.set_input_files("input[name=id_photo]", str(id_photo))
        p.click("#document-form button[type=submit]")
        kiosk.wait_state("document_result")
        p.click("#to-consent")
        kiosk.wait_state("consent")

        # The customer has read the consent; meanwhile the clerk's token ran out.
        expire_the_token(kiosk)
        p.click("#consent-accept")
        unlock(kiosk, "expired", "登录已过期")
        assert p.get_attribute("main#app", "data-state") == "consent"  # the same screen, the same visit
        p.click("#consent-accept")
        kiosk.wait_state("challenge")
        kiosk.start_when_framed()
        p.wait_for_selector('main#app[data-recording="on"]', timeout=30_000)
        outcome = kiosk.wait_decision()
        assert outcome == "approved", f"the real clip was rejected: {last_decision_details(kiosk.server.container)}"

        p.click("#to-numbers")
        kiosk.wait_state("numbers")
        msisdn = kiosk.server.numbers[3]
        p.click(f'button.number[data-msisdn="{msisdn}"]')
        kiosk.wait_state("sim")

        # A reload (or a crash of the tab) comes back to the SIM step with the number still held.
        p.reload()
        kiosk.wait_state("sim")
        assert p.get_attribute("main#app", "data-resumed") == "visit"
        held = p.text_content("#reserved") or ""
        assert msisdn in held and "预留至" in held
        assert "新号码" in (p.text_content("#visit-purpose") or "")
        assert untranslated(p) == [], "English left on the restored zh-CN screen"
        kiosk.shot("restored-after-reload")

        p.fill("input[name=iccid]", luhn_complete("898601" + "3" * 12))
        p.click("#sim-form button[type=submit]")
        kiosk.wait_state("receipt")
        kiosk.shot("receipt-after-reload")
        with kiosk.server.container.unit_of_work() as uow:
            number = uow.numbers.get(Msisdn(msisdn))
            assert number is not None and number.state is NumberState.ACTIVE
            # One visit from start to receipt: one attempt, completed.
            events = [e.details.get("attempt") for e in uow.audit.events() if e.action == "attempt.started"]
        assert len(events) == 1

        # The next customer: the kiosk ends the visit on the server.
        p.click("#next-customer")
        kiosk.wait_state("start")
        with kiosk.server.container.unit_of_work() as uow:
            ended = [e for e in uow.audit.events() if e.action == "visit.ended"]
        assert len(ended) == 1 and (ended[0].details["state"], ended[0].details["released"]) == ("completed", [])


def attempts_started(kiosk: Kiosk) -> list[str]:
    with kiosk.server.container.unit_of_work() as uow:
        return [str(e.details["attempt"]) for e in uow.audit.events() if e.action == "attempt.started"]


def current_visit_id(kiosk: Kiosk) -> object:
    """What the server says is this clerk's open visit on this kiosk (the page's own token and device id)."""
    return kiosk.p.evaluate(
        "async () => { const v = await window.Realname.call('GET', '/v1/visits/current?device_id=' + "
        "encodeURIComponent(localStorage.getItem('realname.device_id'))); return v.attempt && v.attempt.id; }"
    )


@pytest.mark.browser
def test_an_idle_kiosk_locks_keeps_the_visit_and_a_busy_one_renews_its_token(tmp_path: Path) -> None:
    require_browser_tools()
    with open_kiosk(tmp_path, None, TABLET, ("turn_left", "turn_right"), idle_lock_minutes=5) as kiosk:
        p = kiosk.p
        kiosk.switch("sessions-idle")
        p.clock.install()
        kiosk.sign_in()
        p.click('[data-screen=start] button[data-purpose="register"]')
        kiosk.wait_state("document")

        # A busy clerk clicks something every four minutes: the 15-minute token is renewed before it runs out.
        with p.expect_response(lambda r: r.url.endswith("/v1/auth/renew") and r.status == 200):
            for _ in range(3):
                p.clock.run_for("04:00")
                p.click("input[name=value]")
        assert p.get_attribute("html", "data-locked") is None
        assert not [t for t in kiosk.traffic if "/v1/auth/renew" in t and not t.endswith(" 200")], kiosk.traffic

        # Nobody touches the kiosk for the idle time (5 minutes, the product's default): it locks; the visit stays.
        p.clock.run_for("05:10")
        unlock(kiosk, "idle", "已 5 分钟无操作")
        kiosk.wait_state("document")
        started = attempts_started(kiosk)
        assert len(started) == 1 and current_visit_id(kiosk) == started[0]


@pytest.mark.browser
def test_a_reload_resumes_a_verified_visit_and_ending_it_gives_the_number_back(tmp_path: Path) -> None:
    """The face check itself is the first test's; here the server approves the customer directly, so the test needs
    no clip."""
    require_browser_tools()
    with open_kiosk(tmp_path, None, TABLET, ("turn_left", "turn_right")) as kiosk:
        p = kiosk.p
        kiosk.switch("sessions-end")
        kiosk.sign_in()
        p.click('[data-screen=start] button[data-purpose="register"]')
        kiosk.wait_state("document")
        (attempt_id,) = attempts_started(kiosk)
        with kiosk.server.container.unit_of_work() as uow:
            attempt = uow.attempts.get(attempt_id)
            assert attempt is not None
            now = datetime.now(UTC)
            attempt.record_document(valid=True, reasons=(), kind="cn_resident", id_index=BlindIndex("c" * 64), now=now)
            attempt.record_consent(accepted=True, version="v1", current_version="v1", now=now)
            attempt.record_challenge(now)
            attempt.record_decision(Outcome.APPROVED, (), now)
            uow.attempts.save(attempt)
            uow.commit()

        p.reload()
        kiosk.wait_state("decision")
        assert p.get_attribute("main#app", "data-outcome") == "approved"
        assert p.get_attribute("main#app", "data-resumed") == "visit"
        assert untranslated(p) == [], "English left on the restored zh-CN decision"
        kiosk.shot("restored-decision")
        p.click("#to-numbers")
        kiosk.wait_state("numbers")
        msisdn = kiosk.server.numbers[5]
        p.click(f'button.number[data-msisdn="{msisdn}"]')
        kiosk.wait_state("sim")
        assert p.text_content("#sim-end") == "结束本次业务"

        p.click("#sim-end")
        kiosk.wait_state("start")
        kiosk.shot("visit-ended")
        with kiosk.server.container.unit_of_work() as uow:
            number = uow.numbers.get(Msisdn(msisdn))
            ended = [e for e in uow.audit.events() if e.action == "visit.ended"]
            stored = uow.attempts.get(attempt_id)
        assert number is not None and number.state is NumberState.AVAILABLE  # at once, not in 10 minutes
        assert len(ended) == 1 and ended[0].details["released"] == [Msisdn(msisdn).masked]
        assert stored is not None and stored.state.value == "abandoned"
        assert current_visit_id(kiosk) is None
