"""The review loop in Chromium, in zh-CN, with a real clip as the camera: a face mismatch, the clerk's request, two
reviewers on /review, and the kiosk resuming the visit to its receipt; a screen replay alerting the clerk,
reaching /review by itself and showing in the subscriber's /me."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from realname.adapters.reader_bridge.cards import load_cards
from realname.app.actors import OPERATOR_CLI
from tests.conftest import REPO_ROOT
from tests.e2e.browser_support import (
    LiveServer,
    last_decision_details,
    luhn_complete,
    make_id_photo,
    register_via_api,
    submit_sign_in,
)
from tests.e2e.test_browser_kiosk import (
    FRONTAL_AT_SECONDS,
    ID_NUMBER,
    PHONE,
    REAL_CLIP,
    REAL_CLIP_ACTIONS,
    REPLAY_CLIP,
    TABLET,
    open_kiosk,
)

OTHER_FACE = REPO_ROOT / "tests" / "fixtures" / "faces" / "astronaut_eileen_collins.jpg"


def reviewer_decides(p: Page, server: LiveServer, name: str, kind: str, decision: str, reason: str) -> None:
    """A reviewer of the outlet signs in on /review (this tab) and decides the one case of ``kind``."""
    reviewer = server.add_reviewer(name)
    p.goto(server.base_url + "/review")
    p.wait_for_selector('main#app[data-state="signin"], main#app[data-state="cases"]')
    if p.get_attribute("main#app", "data-state") == "cases":
        p.click("#sign-out")
    submit_sign_in(p, reviewer.staff_code, reviewer.password)
    p.wait_for_selector('main#app[data-state="cases"]')
    case = p.locator(f'li.case[data-kind="{kind}"]')
    assert case.count() == 1
    select = case.locator("select[name=decision]")
    assert select.input_value() == ""  # no decision chosen in advance
    offered = select.locator("option:not([disabled])").evaluate_all("(os) => os.map((o) => o.value)")
    assert offered == ["reject", "approve"]  # only what this kind of case takes
    select.select_option(decision)
    case.locator("input[name=reason]").fill(reason)
    case.locator("button[type=submit]").click()
    p.wait_for_selector("#notice:not([hidden])")


@pytest.mark.browser
@pytest.mark.shared
def test_a_face_mismatch_is_reviewed_by_two_reviewers_and_the_kiosk_resumes_to_the_receipt(
    shared_data: Path, tmp_path: Path
) -> None:
    clip = shared_data / "liveness" / REAL_CLIP
    folder = tmp_path / "cards" / "old-photo"
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(
        '{"kind": "cn_resident", "name": "张三", "sex": "F", "birth_date": "1949-12-31", '
        f'"id_number": "{ID_NUMBER}", "valid_until": "long_term"}}',
        encoding="utf-8",
    )
    (folder / "portrait.jpg").write_bytes(OTHER_FACE.read_bytes())  # not the person on the camera
    with open_kiosk(tmp_path, clip, TABLET, REAL_CLIP_ACTIONS, cards=load_cards(folder.parent)) as kiosk:
        p = kiosk.p
        kiosk.switch("review-loop")
        kiosk.sign_in()
        kiosk.read_card_and_start_recording()
        assert kiosk.wait_decision() == "rejected", last_decision_details(kiosk.server.container)
        assert p.get_attribute("#decision-category", "data-category") == "face_mismatch"
        assert p.is_visible("#review-request-form") and p.is_hidden("#spoof-alert")
        p.fill("#review-request-form input[name=reason]", "证件照片是15年前拍的，客户本人在柜台")
        kiosk.shot("request")
        p.click("#request-review")
        kiosk.wait_state("review_wait")
        p.wait_for_selector('main#app[data-review="open"]')
        kiosk.shot("waiting")

        reviewers = p.context.new_page()
        reviewer_decides(reviewers, kiosk.server, "Zhao Min", "requested", "approve", "同一人，照片较旧")
        p.wait_for_selector('main#app[data-review="awaiting_second"]', timeout=15_000)
        assert "第二位复核员" in (p.text_content("#review-state") or "")
        kiosk.shot("awaiting-second")
        reviewer_decides(reviewers, kiosk.server, "Qian Li", "requested", "approve", "确认为同一人")

        kiosk.wait_state("decision", timeout_ms=15_000)
        assert p.get_attribute("main#app", "data-resumed") == "review"
        assert p.get_attribute("main#app", "data-outcome") == "approved" and p.is_visible("#to-numbers")
        kiosk.shot("resumed")
        p.click("#to-numbers")
        kiosk.wait_state("numbers")
        p.click('button.number[data-msisdn="13800138009"]')
        kiosk.wait_state("sim")
        p.fill("input[name=iccid]", luhn_complete("898601" + "6" * 12))
        p.click("#sim-form button[type=submit]")
        kiosk.wait_state("receipt")
        kiosk.shot("receipt")
        assert "similarity" not in (p.text_content("main") or "").lower()


@pytest.mark.browser
@pytest.mark.shared
def test_a_screen_replay_alerts_the_clerk_reaches_review_and_shows_in_me(shared_data: Path, tmp_path: Path) -> None:
    liveness = shared_data / "liveness"
    id_photo = make_id_photo(liveness / REAL_CLIP, FRONTAL_AT_SECONDS, tmp_path / "chip-photo.jpg")
    msisdn = "13800138011"
    with open_kiosk(tmp_path, liveness / REPLAY_CLIP, TABLET, REAL_CLIP_ACTIONS) as kiosk:
        server = kiosk.server
        register_via_api(
            server, ID_NUMBER, liveness / REAL_CLIP, id_photo, msisdn, luhn_complete("898601" + "7" * 12), "张三"
        )
        p = kiosk.p
        kiosk.switch("spoof")
        kiosk.sign_in_and_reach_challenge(id_photo)
        assert kiosk.wait_decision() == "rejected"
        assert p.get_attribute("#decision-category", "data-category") == "spoof_suspected"
        assert p.get_attribute("main#app", "data-alert") == "spoof_suspected" and p.is_visible("#spoof-alert")
        assert "疑似冒用" in (p.text_content("#spoof-alert") or "")
        assert p.is_hidden("#retry-challenge") and p.is_hidden("#review-request-form") and p.is_visible("#to-review")
        kiosk.shot("alert")
        p.click("#to-review")
        kiosk.wait_state("review_wait")
        p.wait_for_selector('main#app[data-review="open"]')

        reviewers = p.context.new_page()
        reviewer = server.add_reviewer("Zhao Min")
        reviewers.goto(server.base_url + "/review")
        submit_sign_in(reviewers, reviewer.staff_code, reviewer.password)
        reviewers.wait_for_selector('li.case[data-kind="spoof_suspected"]')
        facts = reviewers.text_content('li.case[data-kind="spoof_suspected"] .case-facts') or ""
        # The masked document, the reasons, the clerk and the outlet (no similarity: liveness failed, no match ran).
        assert "1101**********002X" in facts and ID_NUMBER not in facts and "liveness.spoof_suspected" in facts
        assert "BJ-001" in facts and "staff:" in facts and "居民身份证" in facts
        reviewers.screenshot(path=str(kiosk.shots[-1].parent / "spoof-review-case.png"), full_page=True)

        # The subscriber sees the attempt flagged on /me.
        me = p.context.new_page()
        me.goto(server.base_url + "/me")
        me.click("#start")
        me.fill("#identify-form input[name=value]", ID_NUMBER)
        me.fill("#identify-form input[name=name]", "张三")
        me.click("#identify-form button[type=submit]")
        me.wait_for_selector('main#app[data-state="code"]')
        me.fill("#code-form input[name=code]", server.codes.last_to(msisdn))
        me.click("#code-form button[type=submit]")
        me.wait_for_selector('main#app[data-state="records"]')
        flag = me.locator('#attempts-table [data-flag="spoof_suspected"]')
        assert flag.count() == 1 and "冒用" in (flag.text_content() or "")
        me.screenshot(path=str(kiosk.shots[-1].parent / "spoof-me.png"), full_page=True)


NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.mark.browser
@pytest.mark.shared
def test_me_on_a_phone_has_no_sideways_scroll_and_not_mine_asks_first(shared_data: Path, tmp_path: Path) -> None:
    liveness = shared_data / "liveness"
    id_photo = make_id_photo(liveness / REAL_CLIP, FRONTAL_AT_SECONDS, tmp_path / "chip-photo.jpg")
    msisdn = "13800138012"
    with open_kiosk(tmp_path, liveness / REAL_CLIP, PHONE, REAL_CLIP_ACTIONS) as kiosk:
        server = kiosk.server
        register_via_api(
            server, ID_NUMBER, liveness / REAL_CLIP, id_photo, msisdn, luhn_complete("898601" + "8" * 12), "张三"
        )
        p = kiosk.p
        assert p.viewport_size == {"width": 390, "height": 844}
        kiosk.switch("phone-me")
        p.goto(server.base_url + "/me")
        kiosk.wait_state("intro")
        assert p.evaluate(NO_SIDEWAYS_SCROLL)
        p.click("#start")
        kiosk.wait_state("identify")
        assert p.evaluate(NO_SIDEWAYS_SCROLL)
        p.fill("#identify-form input[name=value]", ID_NUMBER)
        p.fill("#identify-form input[name=name]", "张三")
        p.click("#identify-form button[type=submit]")
        kiosk.wait_state("code")
        assert p.evaluate(NO_SIDEWAYS_SCROLL)
        p.fill("#code-form input[name=code]", server.codes.last_to(msisdn))
        p.click("#code-form button[type=submit]")
        kiosk.wait_state("records")
        kiosk.shot("records")
        width = p.evaluate("document.documentElement.scrollWidth")
        assert p.evaluate(NO_SIDEWAYS_SCROLL), f"the records page is {width} px wide on a 390 px phone"
        accesses = p.text_content("#accesses-table tbody") or ""
        assert "staff:" not in accesses and "number.assigned" not in accesses and "号码登记到您名下" in accesses

        # "Not mine" asks first; cancelling reports nothing.
        button = '#numbers-table button.not-mine[data-number="138****8012"]'
        p.click(button)
        kiosk.wait_state("confirm_not_mine")
        assert p.text_content("#not-mine-number") == "138****8012" and p.evaluate(NO_SIDEWAYS_SCROLL)
        kiosk.shot("confirm")
        p.click("#not-mine-cancel")
        kiosk.wait_state("records")
        assert [c.kind.value for c in server.container.review.pending_cases(OPERATOR_CLI)] == []
        p.click(button)
        kiosk.wait_state("confirm_not_mine")
        p.click("#not-mine-confirm")
        kiosk.wait_state("reported")
        kiosk.shot("reported")
        assert [c.kind.value for c in server.container.review.pending_cases(OPERATOR_CLI)] == ["not_mine"]
