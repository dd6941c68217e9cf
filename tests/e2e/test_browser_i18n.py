"""The pages speak Simplified Chinese by default (English on request) and show times on the store's clock.

Every text a screen shows is checked: a text with Latin letters must be Chinese too (a brand, a code or a number
may stand beside Chinese), so an English string left untranslated fails here. Chromium's own test pattern is the
camera; no shared data is needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.e2e.browser_support import require_browser_tools, submit_sign_in
from tests.e2e.conftest import Service
from tests.e2e.test_browser_kiosk import TABLET, Kiosk, open_kiosk

VISIBLE_TEXTS = """() => {
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    const text = node.nodeValue.replace(/\\s+/g, " ").trim();
    if (!text || !parent || parent.closest("pre, code, option, [data-no-i18n]")) continue;
    if (parent.checkVisibility && !parent.checkVisibility()) continue;
    texts.push(text);
  }
  for (const option of document.querySelectorAll("select:not(#lang) option")) {
    if (option.closest("select").checkVisibility()) texts.push(option.textContent.trim());
  }
  return texts;
}"""
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
ALLOWED = re.compile(r"^(English|[A-Z]{2}-\d{3}|kiosk(-[0-9a-f]{4}){4}|realname|ICCID|SIM)$")


def untranslated(p: Page) -> list[str]:
    texts: list[str] = p.evaluate(VISIBLE_TEXTS)
    return [t for t in texts if LATIN_WORD.search(t) and not CJK.search(t) and not ALLOWED.match(t)]


def assert_chinese(kiosk: Kiosk, screen: str) -> None:
    left = untranslated(kiosk.p)
    kiosk.shot(f"zh-{screen}")
    assert left == [], f"{screen}: English left on a zh-CN screen: {left}"
    assert kiosk.p.get_attribute("html", "lang") == "zh-CN"


@pytest.mark.browser
def test_every_screen_before_the_camera_is_chinese_by_default_and_english_on_request(tmp_path: Path) -> None:
    require_browser_tools()
    with open_kiosk(tmp_path, None, TABLET, ("turn_left", "turn_right")) as kiosk:
        p = kiosk.p
        kiosk.switch("i18n")
        p.goto(kiosk.server.base_url + "/")
        kiosk.wait_state("terminal_setup")
        assert_chinese(kiosk, "terminal-setup")
        kiosk.enroll_terminal()
        kiosk.wait_state("signin")
        assert_chinese(kiosk, "signin")
        assert p.text_content("#signin-form button[type=submit]") == "登录"
        submit_sign_in(p, kiosk.server.staff_code, "wrong")
        p.wait_for_selector('#error[data-code="auth.invalid_credentials"]:not([hidden])')
        assert "员工编号或密码不正确" in (p.text_content("#error") or "")
        p.fill("input[name=password]", kiosk.server.password)
        p.click("#signin-form button[type=submit]")
        kiosk.wait_state("start")
        assert_chinese(kiosk, "start")
        assert "营业员" in (p.text_content("#who") or "")
        p.click("#start-attempt")
        kiosk.wait_state("document")
        p.wait_for_selector('#reader-panel[data-reader="unavailable"]')
        assert_chinese(kiosk, "document")
        p.select_option("#document-form select[name=kind]", "mrz")
        assert_chinese(kiosk, "document-mrz")

        # English on request: the page switches at once and stays English after a reload.
        p.select_option("#lang", "en")
        assert p.get_attribute("html", "lang") == "en"
        assert "Check document" in untranslated(p)  # the check above sees English where it is
        assert "Machine-readable zone" in (p.text_content("[data-screen=document]") or "")
        p.reload()
        kiosk.wait_state("document")  # the visit is resumed from the server (test_browser_sessions.py)
        assert p.get_attribute("main#app", "data-resumed") == "visit"
        assert p.text_content("[data-screen=start] h1") == "New visit"
        assert p.input_value("#lang") == "en"
        p.select_option("#lang", "zh-CN")
        assert p.text_content("[data-screen=start] h1") == "新业务"

        # Times on the store's clock (Asia/Shanghai, UTC+8), whatever the browser's own zone.
        assert p.evaluate("RealnameI18n.formatTime('2026-12-06T16:30:00Z')") == "2026/12/07 00:30"
        assert p.evaluate("RealnameI18n.timeZone()") == "Asia/Shanghai"

        kiosk.switch("i18n-me")
        p.goto(kiosk.server.base_url + "/me")
        kiosk.wait_state("intro")
        assert_chinese(kiosk, "me-intro")
        p.click("#start")
        kiosk.wait_state("identify")
        assert_chinese(kiosk, "me-identify")

        kiosk.switch("i18n-review")
        p.goto(kiosk.server.base_url + "/review")
        kiosk.wait_state("signin")
        assert_chinese(kiosk, "review-signin")


def test_the_consent_is_served_in_each_language_with_its_own_version(service: Service) -> None:
    chinese = service.client.get("/v1/consent").json()
    english = service.client.get("/v1/consent", params={"lang": "en"}).json()
    assert chinese["language"] == "zh-CN" and "人脸识别单独同意书" in chinese["text"]
    assert english["language"] == "en" and english["text"].startswith("Consent to process your face")
    assert chinese["version"] != english["version"] and chinese["sha256"] != english["sha256"]
    assert service.client.get("/v1/consent", params={"lang": "<script>"}).status_code == 422
