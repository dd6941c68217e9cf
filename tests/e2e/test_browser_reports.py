"""The reports page in Chromium: an auditor signs in, picks a week, and sees the figures per outlet, the four charts
(drawn, with a size), the downloads and the anomaly flag a run raised; the page is kept as a screenshot in
test-artifacts/screenshots/ to look at the charts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from realname.app.actors import OPERATOR_CLI, SYSTEM
from realname.domain.attempts import Purpose
from realname.domain.organisation import Role
from tests.e2e.browser_support import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, live_server, require_browser_tools
from tests.integration.report_world import Stream

MONDAY = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 at UTC+8


def fill_week(stream: Stream) -> None:
    """A week at two outlets: registrations every day, some rejections of each kind, owner services, and one night
    of registrations at SH-001 (outside opening hours)."""
    stream.outlets.add("BJ-001")
    for day in range(7):
        start = MONDAY + timedelta(days=day)
        for i in range(4 + day % 3):
            registered = stream.registration(start + timedelta(minutes=17 * i), region="11")
            stream.registration(
                start + timedelta(minutes=17 * i + 5), outlet="SH-001", clerk="staff:clerk-2", region="31"
            )
        stream.rejection(start + timedelta(hours=2), ["face.mismatch"], id_number=f"f-{day}")
        if day % 2 == 0:
            stream.rejection(start + timedelta(hours=3), ["liveness.action_missing"], outlet="SH-001")
            stream.invalid_document(start + timedelta(hours=4))
    stream.refusal(MONDAY + timedelta(hours=5), "lockout.active")
    stream.refusal(MONDAY + timedelta(days=2, hours=5), "quota.exceeded", outlet="SH-001")
    for i in range(3):
        stream.registration(MONDAY + timedelta(days=3, hours=17, minutes=i), outlet="SH-001", clerk="staff:clerk-2")
    stream.owner_service(MONDAY + timedelta(days=1, hours=6), "number.surrendered", Purpose.SURRENDER)
    stream.owner_service(MONDAY + timedelta(days=2, hours=6), "sim.replaced", Purpose.SIM_REPLACEMENT)
    stream.owner_service(MONDAY + timedelta(days=4, hours=6), "sim.replaced", Purpose.SIM_REPLACEMENT, outlet="SH-001")
    stream.owner_service(MONDAY + timedelta(days=5, hours=6), "number.reverified", Purpose.REVERIFY, outlet="SH-001")
    stream.not_mine(MONDAY + timedelta(days=6, hours=5), registered)


def until(page: Page, expression: str, timeout_seconds: float = 30.0) -> None:
    """Poll ``expression`` in the page (the page's CSP refuses Playwright's wait_for_function)."""
    deadline = time.monotonic() + timeout_seconds
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"the page never reached: {expression}")
        time.sleep(0.1)


@pytest.mark.browser
def test_an_auditor_sees_figures_charts_and_flags(tmp_path: Path) -> None:
    require_browser_tools()
    with live_server(tmp_path / "data", (), 3) as server:
        registry = server.container.registry()
        registry.add_outlet(OPERATOR_CLI, "SH-001", "Shanghai Nanjing Road")
        auditor = registry.add_staff(OPERATOR_CLI, "Chen Jing", Role.AUDITOR, "BJ-001", password_change_required=False)
        fill_week(Stream(server.container.engine))
        run = server.container.report_services().anomalies.run(
            SYSTEM, start=MONDAY - timedelta(hours=1), end=MONDAY + timedelta(days=7)
        )
        assert [h.rule for h in run.hits] == ["outside_opening_hours"]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(server.base_url + "/reports")
                page.fill("#signin-form [name=staff_code]", auditor.staff_code)
                page.fill("#signin-form [name=password]", auditor.password)
                page.click("#signin-form button[type=submit]")
                page.wait_for_selector("#app[data-state=report]", timeout=30_000)
                page.fill("#report-form [name=first_day]", "2026-11-23")
                page.fill("#report-form [name=last_day]", "2026-11-29")
                page.click("#report-form button[type=submit]")
                until(page, "document.querySelector('#report-range').textContent.startsWith('2026-11-23')")
                until(
                    page,
                    "[...document.querySelectorAll('img.chart')].length === 4 && "
                    "[...document.querySelectorAll('img.chart')].every(i => i.complete && i.naturalWidth > 0)",
                )
                rows = {
                    row.get_attribute("data-outlet"): [c.inner_text() for c in row.query_selector_all("td")]
                    for row in page.query_selector_all("#outlet-table tbody tr")
                }
                # BJ-001: 4+5+6+4+5+6+4 = 34 registrations in the week; SH-001 as many plus 3 at night.
                assert rows["BJ-001"][2] == "34" and rows["SH-001"][2] == "37"
                assert rows["all outlets"][2] == "71"
                assert rows["BJ-001"][6] == "7"  # seven face mismatches, one a day
                assert rows["BJ-001"][11:] == ["1", "1", "0", "0", "1"]  # surrender, SIM, -, -, "not mine"
                widths = page.eval_on_selector_all("img.chart", "images => images.map(i => i.naturalWidth)")
                assert widths == [720, 720, 720, 720]
                flags = page.inner_text("#anomaly-list")
                assert "Registrations outside opening hours" in flags and "SH-001" in flags
                assert (page.get_attribute("#download-csv", "href", timeout=5_000) or "").startswith("blob:")
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                shot = SCREENSHOTS / "reports-01-week.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 20_000
                assert errors == []
            finally:
                browser.close()
