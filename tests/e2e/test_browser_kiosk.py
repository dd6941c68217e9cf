"""The pages in Debian's Chromium with a real clip as the camera: a registration end to end, a replay refused, a
returning owner's re-verification, SIM replacement and surrender, the self-service report and its review.

Each test runs the real app (live server), feeds Chromium a Y4M made now from a clip in ../shared/data/liveness,
and waits for explicit page states (``<main data-state>``), taking a PNG of every step into
test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from realname.adapters.reader_bridge.cards import BridgeCard, builtin_cards, load_cards
from realname.adapters.reader_bridge.simulator import BridgeServer
from realname.app.actors import OPERATOR_CLI
from realname.domain.numbers import Msisdn
from tests.conftest import REPO_ROOT
from tests.e2e.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    OUTLET,
    SCREENSHOTS,
    LiveServer,
    last_decision_details,
    live_server,
    luhn_complete,
    make_card_folder,
    make_id_photo,
    make_y4m,
    register_via_api,
    require_browser_tools,
    submit_sign_in,
)
from tests.e2e.conftest import Service

# Long-term card of someone born 1949-12-31 (a valid check digit; a synthetic number).
ID_NUMBER = "11010519491231002X"
DECISION_TIMEOUT_MS = 180_000
# ICAO 9303's specimen passport zone (Anna Maria Eriksson, Utopia), valid until 2012-04-15.
TD3_MRZ = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"

# tvl_real_turnR_turnL.mp4: the subject turns to their own left at about 1.0-4.25 s, then to their own right at
# about 6.5-9.25 s, frontal at 0-0.9 s and 4.5-6.25 s (labels in ../shared/data/liveness/README.txt).
REAL_CLIP = "tvl_real_turnR_turnL.mp4"
REAL_CLIP_ACTIONS = ("turn_left", "turn_right")
FRONTAL_AT_SECONDS = 5.3
# The same man's head turns, filmed off a PC monitor: the actions are performed, but on a screen.
REPLAY_CLIP = "tvl_screenreplay_turnR_turnL.mp4"


@dataclass(frozen=True)
class Viewport:
    name: str
    width: int
    height: int


TABLET = Viewport("tablet", 1280, 800)
PHONE = Viewport("phone", 390, 844)


@pytest.mark.parametrize("path", ["/", "/me", "/review"])
def test_pages_are_served_with_a_strict_content_security_policy(service: Service, path: str) -> None:
    response = service.client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    # No origin is named in a page but the reader bridge's, on the kiosk only, which the policy allows to be called.
    bridge = 'content="http://127.0.0.1:18455"'
    assert response.text.count("http") == (1 if path == "/" else 0) and (bridge in response.text) == (path == "/")
    assert policy.count("http") == 1 and "connect-src 'self' http://127.0.0.1:18455;" in policy
    assert 'data-state="' in response.text
    # The kiosk carries the identity-check screens, put in by the server; the self-service page never asks for a
    # face or a photo (identity at home is proved by a one-time code).
    assert "<!-- include" not in response.text
    assert response.text.count('data-screen="challenge"') == (1 if path == "/" else 0)
    assert ('type="file"' in response.text) == (path == "/")


def test_only_listed_assets_are_served(service: Service) -> None:
    referenced = {
        m for page in ("/", "/me", "/review") for m in re.findall(r'"(/static/[^"]+)"', service.client.get(page).text)
    }
    assert {"/static/kiosk.js", "/static/verification.js", "/static/terminal.js", "/static/me.js"} <= referenced
    for path in referenced:  # every asset a page names is on the allow-list
        asset = service.client.get(path)
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(("text/javascript", "text/css")), (
            path
        )
    for path in (
        "/static/router.py",
        "/static/..%2Frouter.py",
        "/static/missing.js",
        "/static/verification.html",
        "/static/signin.html",
    ):
        response = service.client.get(path)
        assert response.status_code == 404 and response.json()["code"] in ("page.not_found", "not_found"), path


@pytest.fixture
def liveness_clips(shared_data: Path) -> Path:
    require_browser_tools()
    return shared_data / "liveness"


@dataclass
class Kiosk:
    """A Chromium page on the kiosk, with helpers that wait for explicit page states."""

    p: Page
    server: LiveServer
    viewport: Viewport
    shots: list[Path]
    traffic: list[str] = field(default_factory=list)
    """The page's API calls with their status, console errors and page errors: said when a wait fails."""
    bridge: BridgeServer | None = None

    def switch(self, name: str) -> None:
        """Name the screenshots that follow (a new page or viewport), numbering them from 1 again."""
        self.viewport = Viewport(name, self.viewport.width, self.viewport.height)
        self.shots = []

    def wait_state(self, state: str, timeout_ms: int = 30_000) -> None:
        try:
            self.p.wait_for_selector(f'main#app[data-state="{state}"]', timeout=timeout_ms)
        except PlaywrightTimeoutError:
            self.shot(f"not-{state}")
            shown = self.p.get_attribute("main#app", "data-state")
            banner = self.p.text_content("#error") if self.p.is_visible("#error") else "none"
            raise AssertionError(
                f"waited for {state!r}, the page shows {shown!r}; error banner: {banner}; "
                f"latest traffic: {self.traffic[-8:]}"
            ) from None

    def shot(self, step: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.viewport.name}-{len(self.shots) + 1:02d}-{step}.png"
        self.p.screenshot(path=str(path), full_page=True)
        self.shots.append(path)

    def enroll_terminal(self) -> None:
        """First run of the kiosk page: it makes its key, an admin enrolls the public key (as
        `realname terminal add` does), the terminal id is typed into the page."""
        p = self.p
        p.wait_for_selector('main#app:not([data-state="loading"])')
        if p.get_attribute("main#app", "data-state") != "terminal_setup":
            return  # enrolled earlier in this browser
        self.shot("terminal-setup")
        p.click("#terminal-create")
        p.wait_for_selector("#terminal-public-key[data-key=shown]")
        public_key = p.text_content("#terminal-public-key") or ""
        terminal = self.server.container.terminals().enroll(OPERATOR_CLI, OUTLET, "Browser kiosk", public_key.encode())
        p.fill("#terminal-form input[name=terminal_id]", terminal.id)
        p.click("#terminal-form button[type=submit]")

    def sign_in(self) -> None:
        p = self.p
        p.goto(self.server.base_url + "/")
        self.enroll_terminal()
        self.wait_state("signin")
        self.shot("signin")
        submit_sign_in(p, self.server.staff_code, self.server.password)
        self.wait_state("start")
        self.shot("start")

    def sign_in_and_reach_challenge(self, id_photo: Path) -> None:
        self.sign_in()
        self.reach_challenge(id_photo, "register")

    def fill_document(self, id_photo: Path, id_number: str = ID_NUMBER) -> None:
        """Type the card's details by hand (a long-term card, born 1949-12-31) and choose the chip photo file."""
        p = self.p
        p.fill("input[name=value]", id_number)
        p.check("input[name=long_term]")
        p.fill("input[name=birth_date]", "1949-12-31")
        p.set_input_files("input[name=id_photo]", str(id_photo))

    def reach_consent(self, id_photo: Path | None, purpose: str) -> None:
        """Start a visit for ``purpose``, check the document (:meth:`fill_document`; ``id_photo=None`` keeps the
        details already in the form, the same customer's second service) and show the consent."""
        p = self.p
        p.click(f'[data-screen=start] button[data-purpose="{purpose}"]')
        self.wait_state("document")
        assert p.get_attribute("main#app", "data-purpose") == purpose
        if id_photo is not None:
            self.fill_document(id_photo)
        self.shot("document")
        p.click("#document-form button[type=submit]")
        self.wait_state("document_result")
        assert p.text_content("#document-verdict") == "证件核验通过"
        self.shot("document-result")
        p.click("#to-consent")
        self.wait_state("consent")
        assert "人脸识别单独同意书" in (p.text_content("#consent-text") or "")  # zh-CN by default
        self.shot("consent")

    def reach_challenge(self, id_photo: Path | None, purpose: str) -> None:
        """:meth:`reach_consent`, consent given, and the customer framed up to the recording."""
        p = self.p
        self.reach_consent(id_photo, purpose)
        p.click("#consent-accept")
        self.wait_state("challenge")
        self.start_when_framed()
        # The page records while it shows the prompts; catch the first prompt on screen.
        p.wait_for_selector('main#app[data-recording="on"]', timeout=30_000)
        p.wait_for_timeout(1500)
        self.shot("challenge")

    def read_card(self) -> None:
        """Start a visit from the reader's start button and read the card on the reader bridge into the form."""
        p = self.p
        p.click("#start-attempt")
        self.wait_state("document")
        p.wait_for_selector('#reader-panel[data-reader="ready"]')
        p.click("#read-card")
        p.wait_for_selector('#reader-panel[data-reader="read"]')

    def read_card_and_start_recording(self) -> None:
        """:meth:`read_card`, the document checked, consent given, and the recording started once framed."""
        p = self.p
        self.read_card()
        p.click("#document-form button[type=submit]")
        self.wait_state("document_result")
        p.click("#to-consent")
        self.wait_state("consent")
        p.click("#consent-accept")
        self.wait_state("challenge")
        self.start_when_framed()

    def start_when_framed(self) -> None:
        """The ready step: wait for the framing guide to say the customer is framed, then press Start (the
        recording begins then, as a clerk would start it)."""
        p = self.p
        try:
            p.wait_for_selector("#capture-start:not([disabled])", timeout=60_000)
        except PlaywrightTimeoutError:
            self.shot("not-framed")
            framing = p.get_attribute("#framing-guide", "data-framing")
            raise AssertionError(f"never framed: the guide says {framing!r}; traffic: {self.traffic[-8:]}") from None
        p.click("#capture-start")

    def wait_decision(self) -> str:
        self.wait_state("decision", timeout_ms=DECISION_TIMEOUT_MS)
        self.shot("decision")
        outcome: str = self.p.get_attribute("main#app", "data-outcome") or ""
        return outcome


def kiosk_page(
    browser: Browser,
    server: LiveServer,
    viewport: Viewport,
    *,
    grant_camera: bool = True,
    bridge: BridgeServer | None = None,
) -> Kiosk:
    """A new page of ``browser`` on the kiosk (nothing loaded yet), its traffic, console and errors noted."""
    context = browser.new_context(
        viewport={"width": viewport.width, "height": viewport.height},
        permissions=["camera"] if grant_camera else [],
        locale="zh-CN",  # a Chinese store's browser: its date fields and file pickers speak Chinese
        is_mobile=viewport is PHONE,
        has_touch=viewport is PHONE,
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    kiosk = Kiosk(page, server, viewport, [], bridge=bridge)
    page.on("response", lambda r: kiosk.traffic.append(f"{r.request.method} {r.url} {r.status}"))
    page.on("requestfailed", lambda r: kiosk.traffic.append(f"{r.method} {r.url} failed: {r.failure}"))
    page.on("console", lambda m: kiosk.traffic.append(f"console {m.type}: {m.text}"))
    page.on("pageerror", lambda e: kiosk.traffic.append(f"page error: {e}"))
    return kiosk


@contextmanager
def reader_bridge(cards: list[BridgeCard] | None) -> Iterator[BridgeServer | None]:
    """The reader-bridge simulator on a free port serving ``cards`` (None: no bridge on this PC)."""
    if cards is None:
        yield None
        return
    bridge = BridgeServer(0, cards, [])
    thread = threading.Thread(target=bridge.serve_forever, name="reader-bridge", daemon=True)
    thread.start()
    try:
        yield bridge
    finally:
        bridge.shutdown()
        bridge.server_close()


@contextmanager
def open_kiosk(
    tmp_path: Path,
    clip: Path | None,
    viewport: Viewport,
    first_actions: Sequence[str],
    cards: list[BridgeCard] | None = None,
    idle_lock_minutes: int = 30,
) -> Iterator[Kiosk]:
    """The live server asking for ``first_actions`` and Chromium whose camera plays ``clip`` (looping; None:
    Chromium's own test pattern), with the reader-bridge simulator serving ``cards`` when given."""
    args = list(CHROMIUM_ARGS)
    if clip is not None:
        args.append(f"--use-file-for-fake-video-capture={make_y4m(clip, tmp_path / 'camera.y4m')}")
    with (
        reader_bridge(cards) as bridge,
        live_server(
            tmp_path / "data",
            first_actions,
            challenge_actions=len(first_actions),
            keep_uploads=tmp_path,
            reader_bridge_url=bridge.url if bridge else "http://127.0.0.1:9",
            idle_lock_minutes=idle_lock_minutes,
        ) as server,
        sync_playwright() as playwright,
    ):
        if bridge is not None:
            bridge.allowed_origins = frozenset({server.base_url})
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
        try:
            yield kiosk_page(browser, server, viewport, bridge=bridge)
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.shared
@pytest.mark.parametrize("viewport", [TABLET, PHONE], ids=lambda v: v.name)
def test_real_clip_registers_a_number_end_to_end(liveness_clips: Path, tmp_path: Path, viewport: Viewport) -> None:
    clip = liveness_clips / REAL_CLIP
    id_photo = make_id_photo(clip, FRONTAL_AT_SECONDS, tmp_path / "chip-photo.jpg")
    with open_kiosk(tmp_path, clip, viewport, REAL_CLIP_ACTIONS) as kiosk:
        p = kiosk.p
        kiosk.sign_in_and_reach_challenge(id_photo)
        assert p.get_attribute("#prompt", "data-action") == "turn_left"
        assert "向左转头" in (p.text_content("#prompt") or "")
        assert p.locator("#steps li").count() == 2

        outcome = kiosk.wait_decision()
        details = last_decision_details(kiosk.server.container)
        assert outcome == "approved", f"the real clip was rejected: {details}"
        # The clip was streamed while it was recorded: several pieces, each accepted, then the end of the stream.
        chunks = [t for t in kiosk.traffic if t.startswith("PUT ") and "/liveness/streams/" in t]
        assert len(chunks) >= 5 and all(t.endswith(" 200") for t in chunks), kiosk.traffic
        assert any(t.startswith("POST ") and t.endswith("/end 200") for t in kiosk.traffic), kiosk.traffic
        assert "similarity" not in (p.text_content("main") or "").lower()

        p.click("#to-numbers")
        kiosk.wait_state("numbers")
        kiosk.shot("numbers")
        p.fill("input[name=pattern]", "8?0?")
        p.click("#numbers-form button[type=submit]")
        p.wait_for_selector('button.number[data-msisdn="13800138000"]')
        shown = [p.locator("button.number").nth(i).get_attribute("data-msisdn") for i in range(10)]
        assert shown == [f"1380013800{n}" for n in range(10)] and p.locator("button.number").count() == 10
        msisdn = "13800138003"
        p.click(f'button.number[data-msisdn="{msisdn}"]')
        kiosk.wait_state("sim")
        p.fill("input[name=iccid]", luhn_complete("898601" + "2" * 12))
        kiosk.shot("sim")
        p.click("#sim-form button[type=submit]")
        kiosk.wait_state("receipt")
        kiosk.shot("receipt")
        receipt = p.text_content("#receipt") or ""
        assert msisdn not in receipt and msisdn[:3] in receipt and msisdn[-4:] in receipt
        assert "BJ-001" in receipt
        shown_rows = dict(
            zip(p.locator("#receipt dt").all_text_contents(), p.locator("#receipt dd").all_text_contents(), strict=True)
        )
        assert shown_rows["该证件名下号码数"] == "1" and shown_rows["号码状态"] == "正常"


@pytest.mark.browser
@pytest.mark.shared
def test_screen_replay_is_rejected_with_a_category(liveness_clips: Path, tmp_path: Path) -> None:
    real_clip = liveness_clips / REAL_CLIP
    id_photo = make_id_photo(real_clip, FRONTAL_AT_SECONDS, tmp_path / "chip-photo.jpg")
    with open_kiosk(tmp_path, liveness_clips / REPLAY_CLIP, TABLET, REAL_CLIP_ACTIONS) as kiosk:
        p = kiosk.p
        kiosk.switch("tablet-replay")
        kiosk.sign_in_and_reach_challenge(id_photo)
        outcome = kiosk.wait_decision()
        assert outcome == "rejected"
        category = p.get_attribute("#decision-category", "data-category") or ""
        assert category == "spoof_suspected", last_decision_details(kiosk.server.container)
        assert "原因：" in (p.text_content("#decision-category") or "")
        # Suspected fraud is not a bad photo: no "try again"; the clerk is alerted and follows the review.
        assert p.is_hidden("#retry-challenge") and not p.is_visible("#to-numbers")
        assert p.is_visible("#spoof-alert") and p.is_visible("#to-review")
        assert "similarity" not in (p.text_content("main") or "").lower()


@pytest.mark.browser
@pytest.mark.shared
def test_subscriber_sees_their_number_reports_it_and_a_reviewer_confirms(liveness_clips: Path, tmp_path: Path) -> None:
    clip = liveness_clips / REAL_CLIP
    id_photo = make_id_photo(clip, FRONTAL_AT_SECONDS, tmp_path / "chip-photo.jpg")
    msisdn = "13800138007"
    with open_kiosk(tmp_path, clip, TABLET, REAL_CLIP_ACTIONS) as kiosk:
        register_via_api(
            kiosk.server, ID_NUMBER, clip, id_photo, msisdn, luhn_complete("898601" + "3" * 12), name="Zhang San"
        )
        p = kiosk.p
        kiosk.switch("me")
        p.goto(kiosk.server.base_url + "/me")
        kiosk.wait_state("intro")
        kiosk.shot("intro")
        p.click("#start")
        kiosk.wait_state("identify")
        assert p.locator("input[type=file]").count() == 0  # no photo is ever asked for at home
        p.fill("#identify-form input[name=value]", ID_NUMBER)
        p.fill("#identify-form input[name=name]", "Zhang San")
        kiosk.shot("identify")
        p.click("#identify-form button[type=submit]")
        kiosk.wait_state("code")
        kiosk.shot("code")
        p.fill("#code-form input[name=code]", "000000" if kiosk.server.codes.last_to(msisdn) != "000000" else "111111")
        p.click("#code-form button[type=submit]")
        p.wait_for_selector("#code-result.bad")
        assert "剩余次数：4" in (p.text_content("#code-result") or "")
        p.fill("#code-form input[name=code]", kiosk.server.codes.last_to(msisdn))
        p.click("#code-form button[type=submit]")
        kiosk.wait_state("records")
        kiosk.shot("records")
        numbers = p.text_content("#numbers-table tbody") or ""
        assert "138****8007" in numbers and msisdn not in numbers and "BJ-001" in numbers
        attempts = p.text_content("#attempts-table tbody") or ""
        assert "BJ-001" in attempts and "新号码入网" in attempts
        p.click('#numbers-table button.not-mine[data-number="138****8007"]')
        kiosk.wait_state("confirm_not_mine")
        p.click("#not-mine-confirm")
        kiosk.wait_state("reported")
        kiosk.shot("reported")
        assert "举报核实后号码将停机" in (p.text_content("#reported-text") or "")

        reviewer = kiosk.server.add_reviewer("Zhao Min")
        kiosk.switch("review")
        p.goto(kiosk.server.base_url + "/review")
        kiosk.wait_state("signin")
        submit_sign_in(p, reviewer.staff_code, reviewer.password)
        kiosk.wait_state("cases")
        case = p.locator('li.case[data-kind="not_mine"]')
        assert case.count() == 1
        kiosk.shot("cases")
        case.locator("select[name=decision]").select_option("suspend_confirmed")
        case.locator("input[name=reason]").fill("Subscriber never visited BJ-001; store asked for evidence.")
        case.locator("button[type=submit]").click()
        p.wait_for_selector("#notice:not([hidden])")
        kiosk.shot("decided")
        assert "已结案" in (p.text_content("#notice") or "")
        assert p.locator('li.case[data-kind="not_mine"]').count() == 0


@pytest.mark.browser
@pytest.mark.shared
def test_document_reasons_are_readable_and_declining_consent_requests_manual_review(
    liveness_clips: Path, tmp_path: Path
) -> None:
    with open_kiosk(tmp_path, liveness_clips / REAL_CLIP, PHONE, REAL_CLIP_ACTIONS) as kiosk:
        kiosk.switch("phone-declined")
        p = kiosk.p
        # A device id stored by an older page, shaped like a phone number: the API refuses it, the page drops it.
        p.goto(kiosk.server.base_url + "/")
        p.evaluate("localStorage.setItem('realname.device_id', 'kiosk-13800138000')")
        kiosk.sign_in()
        p.click("#start-attempt")
        p.wait_for_selector('#error[data-code="attempt.device_invalid"]:not([hidden])')
        assert p.get_attribute("main#app", "data-state") == "start"
        device = p.text_content("#device-id") or ""
        assert re.fullmatch(r"kiosk(-[0-9a-f]{4}){4}", device), device
        p.click("#start-attempt")
        kiosk.wait_state("document")
        assert p.is_hidden("#error")
        p.fill("input[name=value]", ID_NUMBER[:-1] + "1")  # one wrong check character
        p.check("input[name=long_term]")
        p.set_input_files(
            "input[name=id_photo]", str(make_id_photo(liveness_clips / REAL_CLIP, 5.3, tmp_path / "p.jpg"))
        )
        p.click("#document-form button[type=submit]")
        kiosk.wait_state("document_result")
        kiosk.shot("document-refused")
        assert p.text_content("#document-verdict") == "证件核验未通过"
        assert p.get_attribute('#document-reasons li[data-reason="id.check_digit"]', "data-reason") == "id.check_digit"
        assert "校验位" in (p.text_content("#document-reasons") or "")
        assert not p.is_visible("#to-consent")
        p.click("#document-again")
        kiosk.wait_state("document")
        p.fill("input[name=value]", ID_NUMBER)
        p.click("#document-form button[type=submit]")
        kiosk.wait_state("document_result")
        p.click("#to-consent")
        kiosk.wait_state("consent")
        p.click("#consent-decline")
        kiosk.wait_state("manual_review")
        kiosk.shot("manual-review")
        assert "已申请人工复核" in (p.text_content("section[data-screen=manual_review] h1") or "")


def _number_now(server: LiveServer, msisdn: str) -> tuple[str, str | None]:
    """The number's state and the ICCID of its active binding (None when no SIM serves it), from the database."""
    with server.container.unit_of_work() as uow:
        number = uow.numbers.get(Msisdn(msisdn))
        binding = uow.bindings.active_for(Msisdn(msisdn))
    assert number is not None
    return number.state.value, binding.iccid if binding else None


@contextmanager
def _clerk_api(server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client signed in as the kiosk's clerk, to read what the API says after the screens."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        token = client.post("/v1/auth/token", json={"staff_code": server.staff_code, "password": server.password})
        client.headers["Authorization"] = f"Bearer {token.json()['token']}"
        yield client


@pytest.mark.browser
@pytest.mark.shared
def test_returning_owner_reverifies_replaces_the_sim_and_surrenders_at_the_kiosk(
    liveness_clips: Path, tmp_path: Path
) -> None:
    clip = liveness_clips / REAL_CLIP
    id_photo = make_id_photo(clip, FRONTAL_AT_SECONDS, tmp_path / "chip-photo.jpg")
    msisdn, shown = "13800138005", "138****8005"
    first_sim, new_sim = luhn_complete("898601" + "4" * 12), luhn_complete("898601" + "5" * 12)
    with open_kiosk(tmp_path, clip, TABLET, REAL_CLIP_ACTIONS) as kiosk, _clerk_api(kiosk.server) as api:
        server, p = kiosk.server, kiosk.p
        register_via_api(server, ID_NUMBER, clip, id_photo, msisdn, first_sim)
        server.container.registry().suspend_number(OPERATOR_CLI, Msisdn(msisdn), "flagged by anti-fraud")
        assert _number_now(server, msisdn) == ("suspended", first_sim)
        kiosk.switch("tablet-owner")
        kiosk.sign_in()

        def verified_service(purpose: str, id_photo: Path | None) -> None:
            kiosk.reach_challenge(id_photo, purpose)
            assert kiosk.wait_decision() == "approved", last_decision_details(server.container)
            assert p.is_visible("#to-service") and not p.is_visible("#to-numbers")
            p.click("#to-service")
            kiosk.wait_state("service")
            p.fill("#service-form input[name=msisdn]", msisdn)

        def receipt() -> dict[str, str]:
            terms = p.locator("#receipt dt").all_text_contents()
            return dict(zip(terms, p.locator("#receipt dd").all_text_contents(), strict=True))

        # The number was suspended: the customer re-verifies it.
        verified_service("reverify", id_photo)
        assert not p.is_visible("#service-form input[name=iccid]")
        kiosk.shot("reverify")
        p.click("#service-submit")
        kiosk.wait_state("receipt")
        kiosk.shot("reverified")
        assert p.text_content("#receipt-title") == "号码已恢复"
        assert p.text_content("#receipt-what") == f"号码 {shown} 已恢复使用。"
        assert receipt()["号码"] == shown and receipt()["号码状态"] == "正常"
        assert msisdn not in (p.text_content("main") or "")
        assert _number_now(server, msisdn) == ("active", first_sim)
        reverify_attempt = api.get(f"/v1/attempts/{receipt()['业务编号']}").json()
        assert (reverify_attempt["purpose"], reverify_attempt["state"]) == ("reverify", "completed")

        # Same customer, new SIM: the details stay in the form, the face is checked again.
        p.click("#same-customer")
        kiosk.wait_state("start")
        assert p.is_visible("#same-customer-note")
        assert p.input_value("input[name=value]") == ID_NUMBER
        verified_service("sim_replacement", None)
        for iccid, code in (
            (first_sim, "iccid.same"),
            (new_sim[:-1] + str((int(new_sim[-1]) + 1) % 10), "iccid.check_digit"),
        ):
            p.fill("#service-form input[name=iccid]", iccid)
            p.click("#service-submit")
            p.wait_for_selector(f'#error[data-code="{code}"]:not([hidden])')
            assert p.get_attribute("main#app", "data-state") == "service"
        kiosk.shot("sim-refused")
        p.fill("#service-form input[name=iccid]", new_sim)
        p.click("#service-submit")
        kiosk.wait_state("receipt")
        kiosk.shot("sim-replaced")
        assert p.is_hidden("#error")
        assert p.text_content("#receipt-title") == "SIM 卡已补换"
        masked_sim = new_sim[:6] + "*" * (len(new_sim) - 10) + new_sim[-4:]
        assert receipt()["号码"] == shown and receipt()["新 SIM 卡"] == masked_sim
        assert receipt()["该证件名下号码数"] == "1"
        assert "旧卡已失效" in (p.text_content("#receipt-what") or "")
        assert new_sim not in (p.text_content("main") or "")
        assert _number_now(server, msisdn) == ("active", new_sim)

        # Same customer gives the number up.
        p.click("#same-customer")
        kiosk.wait_state("start")
        verified_service("surrender", None)
        assert p.get_attribute("#service-form input[name=confirm]", "required") is not None
        p.check("#service-form input[name=confirm]")
        kiosk.shot("surrender")
        p.click("#service-submit")
        kiosk.wait_state("receipt")
        kiosk.shot("surrendered")
        assert p.text_content("#receipt-title") == "号码已注销"
        assert shown in (p.text_content("#receipt-what") or "") and "冷冻期" in (p.text_content("#receipt-next") or "")
        assert receipt()["号码状态"] == "冷冻期" and "重新放号时间" in receipt()
        assert receipt()["该证件名下号码数"] == "0"
        assert "similarity" not in (p.text_content("main") or "").lower()
        assert _number_now(server, msisdn) == ("cooling", None)
        surrender_attempt = api.get(f"/v1/attempts/{receipt()['业务编号']}").json()
        assert (surrender_attempt["purpose"], surrender_attempt["state"]) == ("surrender", "completed")
        assert api.get("/v1/numbers/available", params={"prefix": msisdn}).json()["numbers"] == []

        p.click("#next-customer")
        kiosk.wait_state("start")
        assert p.input_value("input[name=value]") == "" and not p.is_visible("#same-customer-note")


def _document_posts(kiosk: Kiosk) -> int:
    return sum(1 for line in kiosk.traffic if line.startswith("POST ") and line.split()[1].endswith("/document"))


@pytest.mark.browser
def test_card_reader_fills_the_document_and_the_server_checks_what_the_chip_holds(tmp_path: Path) -> None:
    require_browser_tools()
    with open_kiosk(tmp_path, None, TABLET, REAL_CLIP_ACTIONS, cards=builtin_cards()) as kiosk:
        assert kiosk.bridge is not None
        p = kiosk.p
        kiosk.switch("tablet-reader")
        kiosk.sign_in()
        kiosk.read_card()
        kiosk.shot("card-read")
        form = "#document-form"
        assert p.get_attribute(form, "data-source") == "reader"
        assert p.input_value(f"{form} input[name=value]") == ID_NUMBER
        assert p.input_value(f"{form} input[name=name]") == "张秀兰"
        assert p.input_value(f"{form} input[name=address]").startswith("北京市西城区")
        assert p.input_value(f"{form} input[name=issuing_authority]") == "北京市公安局西城分局"
        assert p.input_value(f"{form} input[name=issued]") == "2010-01-15" and p.is_checked("input[name=long_term]")
        assert p.evaluate("document.querySelector('#document-form input[name=value]').readOnly")
        assert p.is_visible("#photo-preview") and p.is_visible("#front-preview")
        assert not p.is_visible("input[name=id_photo]")  # no file picker when the reader read the chip
        p.click(f"{form} button[type=submit]")
        kiosk.wait_state("document_result")
        assert p.text_content("#document-verdict") == "证件核验通过"

        # The chip's sex contradicts the number: refused, as a typed one would be.
        for label, reason in (("sex-mismatch", "id.mismatch.sex"), ("expired", "id.expired")):
            p.click("#document-again")
            kiosk.wait_state("document")
            httpx.post(kiosk.bridge.url + "/simulator/card", json={"label": label})
            p.click("#read-card")
            p.wait_for_selector('#reader-panel[data-reader="read"]')
            assert p.input_value(f"{form} input[name=value]") != ID_NUMBER
            p.click(f"{form} button[type=submit]")
            kiosk.wait_state("document_result")
            assert p.text_content("#document-verdict") == "证件核验未通过"
            assert p.locator(f'#document-reasons li[data-reason="{reason}"]').count() == 1, label
            kiosk.shot(f"refused-{label}")

        # No card on the reader: the bridge's refusal is on the page, nothing is sent.
        p.click("#document-again")
        kiosk.wait_state("document")
        httpx.post(kiosk.bridge.url + "/simulator/card", json={"label": None})
        posts = _document_posts(kiosk)
        p.click("#read-card")
        p.wait_for_selector('#error[data-code="reader.no_card"]:not([hidden])')

        # By hand: a passport's zone is typed on several lines; a missing validity stops the form.
        p.click("#manual-entry")
        assert p.get_attribute(form, "data-source") == "manual" and p.is_visible("input[name=id_photo]")
        assert not p.evaluate("document.querySelector('#document-form input[name=value]').readOnly")
        p.fill(f"{form} input[name=value]", ID_NUMBER)
        p.set_input_files("input[name=id_photo]", str(REPO_ROOT / "tests/fixtures/faces/astronaut_eileen_collins.jpg"))
        p.click(f"{form} button[type=submit]")
        assert p.evaluate("document.querySelector('#document-form input[name=expiry]').validity.valueMissing")
        assert p.get_attribute("main#app", "data-state") == "document" and _document_posts(kiosk) == posts
        p.select_option(f"{form} select[name=kind]", "mrz")
        assert p.is_visible("textarea[name=mrz]") and not p.is_visible(f"{form} input[name=value]")
        p.fill("textarea[name=mrz]", TD3_MRZ.lower())
        p.keyboard.press("Enter")  # a new line in the zone, never a submit
        assert p.get_attribute("main#app", "data-state") == "document" and _document_posts(kiosk) == posts
        assert p.input_value("textarea[name=mrz]").count("\n") >= 1
        kiosk.shot("manual-mrz")
        p.click(f"{form} button[type=submit]")
        kiosk.wait_state("document_result")
        # The zone was read as a zone: its own expiry date (2012) is what refuses it.
        assert p.locator('#document-reasons li[data-reason="id.expired"]').count() == 1
        assert p.locator('#document-reasons li[data-reason="mrz.format"]').count() == 0


@pytest.mark.browser
@pytest.mark.shared
def test_card_reader_and_document_camera_register_a_number_end_to_end(liveness_clips: Path, tmp_path: Path) -> None:
    clip = liveness_clips / REAL_CLIP
    card = make_card_folder(
        clip,
        FRONTAL_AT_SECONDS,
        tmp_path / "cards" / "customer",
        {
            "kind": "cn_resident",
            "name": "张三",
            "sex": "F",
            "ethnicity": "汉",
            "birth_date": "1949-12-31",
            "address": "北京市西城区西单北大街120号",
            "id_number": ID_NUMBER,
            "issuing_authority": "北京市公安局西城分局",
            "valid_from": "2010-01-15",
            "valid_until": "long_term",
        },
    )
    with open_kiosk(tmp_path, clip, TABLET, REAL_CLIP_ACTIONS, cards=load_cards(card.parent)) as kiosk:
        p = kiosk.p
        kiosk.switch("tablet-reader-clip")
        kiosk.sign_in()
        kiosk.read_card_and_start_recording()
        outcome = kiosk.wait_decision()
        details = last_decision_details(kiosk.server.container)
        assert outcome == "approved", f"rejected: {details}"
        # The document camera's card front went with the clip (the streamed clip's opening), and the server
        # compared it with the chip photo.
        uploads = sorted(tmp_path.glob("liveness-upload-*.multipart"))
        assert len(uploads) == 1 and b'name="card_front"' in uploads[0].read_bytes()
        assert details.get("card_front") is True and details.get("decided_by") in ("chip", "printed_portrait"), details
        p.click("#to-numbers")
        kiosk.wait_state("numbers")
        p.click('button.number[data-msisdn="13800138005"]')
        kiosk.wait_state("sim")
        iccid = luhn_complete("898601" + "4" * 12)
        p.fill("input[name=iccid]", iccid)
        p.click("#sim-form button[type=submit]")
        kiosk.wait_state("receipt")
        kiosk.shot("receipt")
        screen = p.text_content("[data-screen=receipt]") or ""
        assert "13800138005" not in screen and iccid not in screen  # masked on screen

        # The printed receipt carries the customer's full number and SIM, a short reference, outlet, clerk, time.
        p.click("#print-80mm")  # headless Chromium prints nowhere; the page is now set for 80 mm paper
        assert p.get_attribute("html", "data-paper") == "80mm"
        p.emulate_media(media="print")
        assert p.is_visible("#printed-receipt") and not p.is_visible("main#app")
        printed = dict(
            zip(
                p.locator("#printed-rows dt").all_text_contents(),
                p.locator("#printed-rows dd").all_text_contents(),
                strict=True,
            )
        )
        assert printed["号码"] == "13800138005" and printed["SIM 卡"] == iccid and printed["营业厅"] == "BJ-001"
        assert printed["营业员工号"] == kiosk.server.staff_code
        assert re.fullmatch(r"[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", printed["业务编号"]), printed
        assert re.fullmatch(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}", printed["办理时间"]), printed
        width_mm = p.evaluate("document.getElementById('printed-receipt').getBoundingClientRect().width") * 25.4 / 96
        assert 70 <= width_mm <= 76, width_mm  # fits 80 mm thermal paper
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        p.locator("#printed-receipt").screenshot(path=str(SCREENSHOTS / "receipt-print-80mm.png"))
        p.evaluate("document.documentElement.dataset.paper = 'a4'")
        p.screenshot(path=str(SCREENSHOTS / "receipt-print-a4.png"), full_page=True)
        p.emulate_media(media="screen")
