"""``/v1/reports…`` over HTTP: the figures as JSON and CSV, the charts as SVG files that parse and are not empty,
the anomaly flags, and the page that shows them; only admins and auditors get the figures."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from realname.app.actors import SYSTEM
from realname.domain.organisation import Role
from tests.e2e.conftest import Service
from tests.integration.report_world import Stream

DAY = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 at UTC+8
QUERY = "first_day=2026-11-23&last_day=2026-11-24&period=day"


def fill(service: Service) -> None:
    stream = Stream(service.container.engine)
    stream.outlets.update({"BJ-001", "SH-001"})
    for i in range(4):
        stream.registration(DAY + timedelta(minutes=i))
    stream.rejection(DAY + timedelta(minutes=5), ["face.mismatch"])
    stream.refusal(DAY + timedelta(minutes=6), "lockout.active")
    stream.registration(DAY + timedelta(hours=16), outlet="SH-001", clerk="staff:clerk-2")  # 02:00 local


def test_an_auditor_gets_the_figures_as_json_and_csv(service: Service) -> None:
    fill(service)
    auditor = service.staff(Role.AUDITOR, outlet="BJ-001", name="Chen Jing")
    answer = service.client.get(f"/v1/reports?{QUERY}", headers=auditor)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    by_outlet = {r["outlet"]: r for r in report["by_outlet"]}
    assert by_outlet["BJ-001"]["registrations"] == 4 and by_outlet["SH-001"]["registrations"] == 1
    assert by_outlet["BJ-001"]["rejections_by_category"]["face"] == 1
    assert by_outlet["BJ-001"]["rejections_by_category"]["lockout"] == 1
    assert by_outlet["BJ-001"]["approval_rate"] == round(4 / 6, 4)
    as_csv = service.client.get(f"/v1/reports?{QUERY}&format=csv", headers=auditor)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["period_start"], r["outlet"], r["registrations"]) for r in rows] == [
        ("2026-11-23", "BJ-001", "4"),
        ("2026-11-24", "SH-001", "1"),
    ]
    assert rows[0]["rejected_face"] == "1" and rows[0]["approval_rate"] == "0.6667"
    # No personal data and no masked numbers: figures only.
    assert "sub:" not in answer.text and "****" not in answer.text


def test_the_report_files_hold_charts_that_parse_and_show_the_figures(service: Service) -> None:
    fill(service)
    admin = service.staff(Role.ADMIN, outlet="BJ-001", name="Zhao Min")
    files = service.client.get(f"/v1/reports/files?{QUERY}&period=week", headers=admin)
    assert files.status_code == 200, files.text
    named = files.json()
    assert set(named) == {
        "report.csv",
        "report.json",
        "registrations.svg",
        "rejections.svg",
        "approval_rate.svg",
        "owner_services.svg",
    }
    assert json.loads(named["report.json"])["period"] == "week"
    for name in (n for n in named if n.endswith(".svg")):
        root = ET.fromstring(named[name])
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        bars = [
            r
            for r in root.iter("{http://www.w3.org/2000/svg}rect")
            if r.find("{http://www.w3.org/2000/svg}title") is not None
        ]
        assert bars, f"{name} has no bars"
    registrations = ET.fromstring(named["registrations.svg"])
    titles = [t.text for t in registrations.iter("{http://www.w3.org/2000/svg}title")]
    assert "11-23 registrations: 5" in titles  # the week of Monday 23 November holds all five


def test_flags_are_listed_after_a_run(service: Service) -> None:
    fill(service)
    run = service.container.report_services().anomalies.run(SYSTEM, start=DAY, end=DAY + timedelta(days=1))
    assert [h.rule for h in run.hits] == ["outside_opening_hours"]
    reviewer = service.staff(Role.REVIEWER, outlet="BJ-001", name="Wang Fang")
    flags = service.client.get("/v1/reports/anomalies", headers=reviewer).json()
    assert [(f["rule"], f["subject"], f["case_state"]) for f in flags] == [("outside_opening_hours", "SH-001", "open")]
    # Reviewers see the flags (they decide them) but not the figures.
    assert service.client.get(f"/v1/reports?{QUERY}", headers=reviewer).status_code == 403


def test_bad_report_requests_are_refused_with_a_code(service: Service) -> None:
    auditor = service.staff(Role.AUDITOR, outlet="BJ-001", name="Chen Jing")
    reversed_days = service.client.get("/v1/reports?first_day=2026-11-24&last_day=2026-11-23", headers=auditor)
    assert reversed_days.status_code == 400 and reversed_days.json()["code"] == "report.range"
    bad_period = service.client.get("/v1/reports?period=month", headers=auditor)
    assert bad_period.status_code == 400 and bad_period.json()["code"] == "report.period"
    clerk = service.staff(Role.CLERK, outlet="BJ-001", name="Li Lei")
    assert service.client.get("/v1/reports", headers=clerk).json()["code"] == "auth.role_forbidden"


def test_the_reports_page_is_served_with_its_assets(service: Service) -> None:
    page = service.client.get("/reports")
    assert page.status_code == 200 and "/static/reports.js" in page.text and 'id="signin-form"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in ("reports.js", "reports.css"):
        assert service.client.get(f"/static/{asset}").status_code == 200


def test_a_regulator_reads_the_figures_and_nothing_else(service: Service) -> None:
    fill(service)
    regulator = service.staff(Role.REGULATOR, outlet="BJ-001", name="Sun Li")
    figures = service.client.get(f"/v1/reports?{QUERY}", headers=regulator)
    assert figures.status_code == 200 and figures.json()["total"]["registrations"] == 5
    for path in ("/v1/reports/anomalies", "/v1/review/cases", "/v1/numbers/available"):
        refused = service.client.get(path, headers=regulator)
        assert refused.status_code == 403 and refused.json()["code"] == "auth.role_forbidden", path
