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

from realname.adapters.storage import tables
from realname.app.actors import OPERATOR_CLI
from realname.domain.attempts import Outcome
from realname.domain.numbers import Msisdn, NumberState
from realname.domain.organisation import OutletCode, Role
from realname.domain.subscribers import BlindIndex
from tests.e2e.browser_support import (
    OUTLET,
    last_decision_details,
    luhn_complete,
    make_id_photo,
    require_browser_tools,
    submit_sign_in,
)
from tests.e2e.test_browser_capture import CHIP_PHOTO
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
        kiosk.reach_consent(id_photo, "register")

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


def idle_on_the_server(kiosk: Kiosk, minutes: int = 10) -> None:
    """The clerk's sign-ins last seen ``minutes`` ago by the server (a page whose own lock did not run: a sleeping
    PC, a page clock that lagged), and forgotten by the worker's recent sign-ins, as after the cache time."""
    server = kiosk.server
    with server.container.engine.begin() as connection:
        connection.execute(
            tables.staff_session.update()
            .where(tables.staff_session.c.staff_id == server.staff_id)
            .values(last_active_at=datetime.now(UTC) - timedelta(minutes=minutes))
        )
    server.container.recent_sign_ins.forget_member(server.staff_id)


@pytest.mark.browser
def test_a_request_the_server_refuses_as_idle_locks_the_kiosk_and_keeps_the_visit(tmp_path: Path) -> None:
    """The server refuses every request of a sign-in idle past the lock (401 auth.idle_timeout), not only the
    renewal: the kiosk shows its idle lock for it, whether the refused request was a step (starting a visit) or the
    report of a touch; after the password the visit is where it was."""
    require_browser_tools()
    with open_kiosk(tmp_path, None, TABLET, ("turn_left", "turn_right"), idle_lock_minutes=5) as kiosk:
        p = kiosk.p
        kiosk.switch("sessions-server-idle")
        p.clock.install()
        kiosk.sign_in()

        # A step: starting a visit.
        idle_on_the_server(kiosk)
        p.click('[data-screen=start] button[data-purpose="register"]')
        unlock(kiosk, "idle", "已 5 分钟无操作")
        assert attempts_started(kiosk) == []
        p.click('[data-screen=start] button[data-purpose="register"]')
        kiosk.wait_state("document")

        # A touch reported while the page sends nothing else (at most every 30 s).
        idle_on_the_server(kiosk)
        p.clock.run_for("00:31")
        with p.expect_response(lambda r: r.url.endswith("/v1/auth/activity") and r.status == 401):
            p.click("input[name=value]")
        unlock(kiosk, "idle", "已 5 分钟无操作")
        kiosk.wait_state("document")
        started = attempts_started(kiosk)
        assert len(started) == 1 and current_visit_id(kiosk) == started[0]
        with kiosk.server.container.unit_of_work() as uow:
            refused = [e.details["via"] for e in uow.audit.events() if e.action == "staff.idle_timeout"]
        assert refused == ["request", "request"]


@pytest.mark.browser
def test_a_credential_reset_while_the_kiosk_is_locked_asks_for_a_new_password_and_keeps_the_visit(
    tmp_path: Path,
) -> None:
    """An administrator resets the clerk's password while the kiosk is locked: the old password is refused on the
    lock, the one the administrator handed over opens the forced "choose your password" dialog, and once chosen the
    visit is where it was."""
    require_browser_tools()
    with open_kiosk(tmp_path, None, TABLET, ("turn_left", "turn_right")) as kiosk:
        p = kiosk.p
        kiosk.switch("sessions-reset-locked")
        kiosk.sign_in()
        p.click('[data-screen=start] button[data-purpose="register"]')
        kiosk.wait_state("document")
        (attempt_id,) = attempts_started(kiosk)

        expire_the_token(kiosk)
        # The next request the page makes finds the token expired: the page locks.
        p.evaluate("() => window.Realname.guard(() => window.Realname.call('GET', '/v1/numbers/available'))")
        p.wait_for_selector('html[data-locked="expired"] #lock:not([hidden])')
        reset = kiosk.server.container.staff_accounts().reset_credential(OPERATOR_CLI, kiosk.server.staff_code)

        p.fill("#lock-form input[name=password]", kiosk.server.password)  # the old one
        p.click("#lock-unlock")
        p.wait_for_selector('#lock-error[data-code="auth.invalid_credentials"]:not([hidden])')
        p.fill("#lock-form input[name=password]", reset.password)
        p.click("#lock-unlock")
        p.wait_for_selector('html[data-password="forced"] #password-dialog:not([hidden])')
        assert p.get_attribute("html", "data-locked") is None and not p.is_visible("#lock")
        assert not p.is_visible("#error")  # the lock's reason is not left on the page
        assert p.text_content("#password-title") == "设置您的密码"
        assert not p.is_visible("#password-current-field")  # the password just typed on the lock is the current one
        assert untranslated(p) == [], "English left on the zh-CN password dialog"
        kiosk.shot("reset-while-locked")

        # Until a password is chosen the token serves nothing: not even the visit.
        served = p.evaluate(
            "async () => { try { await window.Realname.call('GET', '/v1/numbers/available'); return 'served'; }"
            " catch (err) { return err.code; } }"
        )
        assert served == "auth.password_change_required"
        p.fill("#password-form input[name=new_password]", "tea-and-7-dumplings")
        p.fill("#password-form input[name=repeat]", "tea-and-7-dumplings")
        p.click("#password-save")
        p.wait_for_selector("html:not([data-password]) #password-dialog[hidden]", state="attached")
        kiosk.wait_state("document")  # the visit was resumed: the same step, the same attempt
        assert current_visit_id(kiosk) == attempt_id and attempts_started(kiosk) == [attempt_id]
        with kiosk.server.container.unit_of_work() as uow:
            actions = [e.action for e in uow.audit.events() if e.action.startswith("staff.")]
        assert actions[-4:] == [
            "staff.credential_reset",
            "staff.sign_in_failed",  # the old password, typed on the lock
            "staff.signed_in",
            "staff.password_changed",
        ]


def approve(kiosk: Kiosk, attempt_id: str) -> None:
    """The customer verified, as an approved face check leaves the attempt."""
    with kiosk.server.container.unit_of_work() as uow:
        attempt = uow.attempts.get(attempt_id)
        assert attempt is not None
        now = datetime.now(UTC)
        attempt.record_document(valid=True, reasons=(), kind="cn_resident", id_index=BlindIndex("d" * 64), now=now)
        attempt.record_consent(accepted=True, version="v1", current_version="v1", now=now)
        attempt.record_challenge(now)
        attempt.record_decision(Outcome.APPROVED, (), now)
        uow.attempts.save(attempt)
        uow.commit()


def approved_visit(kiosk: Kiosk) -> str:
    """A registration started at the kiosk, approved on the server (no clip), and the page reloaded onto the
    decision; the attempt's id."""
    kiosk.p.click('[data-screen=start] button[data-purpose="register"]')
    kiosk.wait_state("document")
    (attempt_id,) = attempts_started(kiosk)
    approve(kiosk, attempt_id)
    kiosk.p.reload()
    kiosk.wait_state("decision")
    return attempt_id


def choose_number(kiosk: Kiosk, index: int) -> str:
    """From the decision, the server's ``index``-th number chosen: the SIM step shows."""
    p = kiosk.p
    p.click("#to-numbers")
    kiosk.wait_state("numbers")
    msisdn = kiosk.server.numbers[index]
    p.click(f'button.number[data-msisdn="{msisdn}"]')
    kiosk.wait_state("sim")
    return msisdn


@pytest.mark.browser
def test_a_reload_resumes_a_verified_visit_and_ending_it_gives_the_number_back(tmp_path: Path) -> None:
    """The face check itself is the first test's; here the server approves the customer directly, so the test needs
    no clip."""
    require_browser_tools()
    with open_kiosk(tmp_path, None, TABLET, ("turn_left", "turn_right")) as kiosk:
        p = kiosk.p
        kiosk.switch("sessions-end")
        kiosk.sign_in()
        attempt_id = approved_visit(kiosk)
        assert p.get_attribute("main#app", "data-outcome") == "approved"
        assert p.get_attribute("main#app", "data-resumed") == "visit"
        assert untranslated(p) == [], "English left on the restored zh-CN decision"
        kiosk.shot("restored-decision")
        msisdn = choose_number(kiosk, 5)
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


@pytest.mark.browser
def test_a_reload_at_the_face_check_comes_back_to_it_without_sending_the_document_again(tmp_path: Path) -> None:
    """Consent given, the camera open: a reload asks for the card again (nothing of the customer is kept in the
    browser) and goes straight back to the face check, without a second document step or consent."""
    require_browser_tools()
    with open_kiosk(tmp_path, None, TABLET, ("turn_left", "turn_right")) as kiosk:
        p = kiosk.p
        kiosk.switch("sessions-face-check")
        kiosk.sign_in()
        kiosk.reach_consent(CHIP_PHOTO, "register")
        p.click("#consent-accept")
        kiosk.wait_state("challenge")

        p.reload()
        kiosk.wait_state("document")
        assert p.get_attribute("main#app", "data-resumed") == "visit"
        assert p.get_attribute("#document-form", "data-then") == "face_check"
        assert untranslated(p) == [], "English left on the restored zh-CN document step"
        kiosk.shot("restored-before-face-check")
        kiosk.fill_document(CHIP_PHOTO)  # the card read again
        p.click("#document-form button[type=submit]")
        kiosk.wait_state("challenge")  # no document result, no consent again
        posted = [line for line in kiosk.traffic if line.startswith("POST ")]
        assert sum("/document " in line for line in posted) == 1, posted
        assert sum("/consent " in line for line in posted) == 1, posted
        started = attempts_started(kiosk)
        assert len(started) == 1 and current_visit_id(kiosk) == started[0]
        with kiosk.server.container.unit_of_work() as uow:
            stored = uow.attempts.get(started[0])
        assert stored is not None and stored.state.value == "consented"


@pytest.mark.browser
def test_a_reload_on_the_receipt_shows_it_again_until_the_next_customer(tmp_path: Path) -> None:
    """The server approves the customer directly (no clip); the number and SIM are done at the kiosk."""
    require_browser_tools()
    with open_kiosk(tmp_path, None, TABLET, ("turn_left", "turn_right")) as kiosk:
        p = kiosk.p
        kiosk.switch("sessions-receipt")
        kiosk.sign_in()
        attempt_id = approved_visit(kiosk)
        msisdn = choose_number(kiosk, 7)
        iccid = luhn_complete("898601" + "4" * 12)
        p.fill("input[name=iccid]", iccid)
        p.click("#sim-form button[type=submit]")
        kiosk.wait_state("receipt")
        shown = p.text_content("#receipt") or ""
        printed = p.text_content("#printed-rows") or ""
        assert msisdn in printed and iccid in printed  # the customer's copy: in full

        p.reload()
        kiosk.wait_state("receipt")
        assert p.get_attribute("main#app", "data-resumed") == "visit"
        assert p.text_content("#receipt-title") == "登记完成"
        again = p.text_content("#receipt") or ""
        assert again == shown and Msisdn(msisdn).masked in again and msisdn not in again  # the same, masked
        # The printed copy after the reload is the customer's, in full, as before it (kept encrypted on the server).
        assert p.text_content("#printed-rows") == printed
        p.emulate_media(media="print")
        kiosk.shot("receipt-printed-after-reload")
        assert p.is_visible("#printed-rows") and not p.is_visible("#receipt")
        p.emulate_media(media="screen")
        assert set(untranslated(p)) <= {attempt_id}, (
            "English left on the restored zh-CN receipt"
        )  # the reference may look so
        kiosk.shot("receipt-restored")

        p.click("#next-customer")
        kiosk.wait_state("start")
        p.reload()
        kiosk.wait_state("start")  # the visit was ended: nothing to show again
        assert current_visit_id(kiosk) is None


@pytest.mark.browser
def test_a_new_clerk_chooses_a_password_at_the_first_sign_in(tmp_path: Path) -> None:
    require_browser_tools()
    with open_kiosk(tmp_path, None, TABLET, ("turn_left", "turn_right")) as kiosk:
        p = kiosk.p
        kiosk.switch("sessions-password")
        member = kiosk.server.container.registry().add_staff(OPERATOR_CLI, "Han Mei", Role.CLERK, OUTLET)
        p.goto(kiosk.server.base_url + "/")
        kiosk.enroll_terminal()
        kiosk.wait_state("signin")
        submit_sign_in(p, member.staff_code, member.password)
        p.wait_for_selector('html[data-password="forced"] #password-dialog:not([hidden])')
        assert p.text_content("#password-title") == "设置您的密码"
        assert not p.is_visible("#password-current-field")  # the password just typed is the current one
        assert untranslated(p) == [], "English left on the zh-CN password dialog"
        kiosk.shot("choose-password")

        def save(new: str, repeat: str, code: str) -> None:
            p.fill("#password-form input[name=new_password]", new)
            p.fill("#password-form input[name=repeat]", repeat)
            p.click("#password-save")
            p.wait_for_selector(f'#password-error[data-code="{code}"]:not([hidden])')

        save("short-1", "short-1", "auth.password_policy")
        assert "至少 10 个字符" in (p.text_content("#password-error") or "")
        save("tea-and-7-dumplings", "tea-and-7-dumpling", "page.password_repeat")
        p.fill("#password-form input[name=new_password]", "tea-and-7-dumplings")
        p.fill("#password-form input[name=repeat]", "tea-and-7-dumplings")
        p.click("#password-save")
        kiosk.wait_state("start")
        assert p.get_attribute("html", "data-password") is None and not p.is_visible("#password-dialog")

        # Later, from the top bar: the current password is asked; a wrong one is refused; cancel closes it.
        p.click("#change-password")
        p.wait_for_selector('html[data-password="chosen"] #password-current-field:not([hidden])')
        assert p.text_content("#change-password") == "修改密码"
        p.fill("#password-form input[name=current]", "not-my-password")
        save("my-next-pass-2027", "my-next-pass-2027", "auth.password_wrong")
        p.click("#password-cancel")
        p.wait_for_selector("#password-dialog[hidden]", state="attached")
        kiosk.wait_state("start")  # still signed in

        p.click("#sign-out")
        kiosk.wait_state("signin")
        submit_sign_in(p, member.staff_code, "tea-and-7-dumplings")
        kiosk.wait_state("start")  # no password dialog any more
        with kiosk.server.container.unit_of_work() as uow:
            changed = [e for e in uow.audit.events() if e.action == "staff.password_changed"]
        assert len(changed) == 1 and changed[0].details == {"forced": True}
