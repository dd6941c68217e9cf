"""``realname report`` as an operator runs it (the installed script in a subprocess): the summary as a table, CSV
and files with non-empty charts, and anomaly runs that flag a hit once."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from realname.adapters.storage.database import create_database_engine
from tests.e2e.test_cli_registry import run
from tests.integration.report_world import Stream

DAY = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 at UTC+8


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-report") / "data"
    assert run(folder, "init").returncode == 0
    engine = create_database_engine(f"sqlite:///{folder / 'realname.db'}")
    stream = Stream(engine)
    for i in range(3):
        stream.registration(DAY + timedelta(minutes=i))
    stream.rejection(DAY + timedelta(minutes=4), ["id.expired"])
    stream.registration(DAY + timedelta(hours=17), outlet="SH-001", clerk="staff:clerk-2")  # 03:00 local
    engine.dispose()
    (folder / "last-attempt").write_text(stream.last_attempt, encoding="utf-8")
    return folder


def test_the_summary_prints_a_table_and_csv(data_dir: Path) -> None:
    table = run(data_dir, "report", "summary", "--from", "2026-11-23", "--to", "2026-11-24")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "2026-11-23 .. 2026-11-24, per day (UTC+8)"
    bj = next(line.split() for line in lines if "BJ-001" in line)
    assert bj[:7] == ["2026-11-23", "BJ-001", "4", "3", "3", "1", "75.0%"] and bj[7] == "1/0/0/0/0/0"
    csv_out = run(data_dir, "report", "summary", "--from", "2026-11-23", "--to", "2026-11-24", "--format", "csv")
    assert csv_out.stdout.splitlines()[1].startswith("2026-11-23,BJ-001,4,3,1,3,")


def test_the_summary_writes_files_with_non_empty_charts(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    result = run(
        data_dir,
        "report",
        "summary",
        "--from",
        "2026-11-23",
        "--to",
        "2026-11-24",
        "--period",
        "week",
        "--format",
        "json",
        "--out",
        str(tmp_path / "r.json"),
        "--charts",
        str(folder),
    )
    assert result.returncode == 0, result.stderr
    charts = sorted(folder.glob("*.svg"))
    assert [c.name for c in charts] == [
        "approval_rate.svg",
        "owner_services.svg",
        "registrations.svg",
        "rejections.svg",
    ]
    for chart in charts:
        assert chart.stat().st_size > 500
        assert ET.parse(chart).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    assert (folder / "report.csv").read_text(encoding="utf-8").startswith("period_start,outlet,")
    assert '"period": "week"' in (tmp_path / "r.json").read_text(encoding="utf-8")


def test_bad_input_exits_non_zero_with_a_code(data_dir: Path) -> None:
    result = run(data_dir, "report", "summary", "--period", "month")
    assert result.returncode == 2 and "[report.period]" in result.stderr
    reversed_days = run(data_dir, "report", "summary", "--from", "2026-11-24", "--to", "2026-11-23")
    assert reversed_days.returncode == 2 and "[report.range]" in reversed_days.stderr


def test_anomaly_runs_flag_a_hit_once(data_dir: Path) -> None:
    window = ("--from", "2026-11-23T00:00:00+08:00", "--to", "2026-11-25T00:00:00+08:00")
    first = run(data_dir, "report", "anomalies", *window)
    assert first.returncode == 0, first.stderr
    assert "1 hits, 1 new review cases, 0 flagged before" in first.stdout
    assert "outside_opening_hours" in first.stdout and "SH-001" in first.stdout
    again = run(data_dir, "report", "anomalies", *window)
    assert "1 hits, 0 new review cases, 1 flagged before" in again.stdout
    listed = run(data_dir, "report", "anomalies", "--list")
    assert listed.stdout.count("outside_opening_hours") == 1


def test_an_evidence_bundle_is_written_and_verified_offline_and_an_edit_is_caught(
    data_dir: Path, tmp_path: Path
) -> None:
    attempt_id = (data_dir / "last-attempt").read_text(encoding="utf-8")
    bundle = tmp_path / "bundle.json"
    written = run(data_dir, "audit", "bundle", attempt_id, "--out", str(bundle))
    assert written.returncode == 0, written.stderr
    assert "decision approved" in written.stdout
    checked = run(data_dir, "audit", "verify-bundle", str(bundle))
    assert checked.returncode == 0 and "bundle intact" in checked.stdout and "decision approved" in checked.stdout
    document = json.loads(bundle.read_text(encoding="utf-8"))
    document["summary"]["decision"] = "rejected"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document), encoding="utf-8")
    refused = run(data_dir, "audit", "verify-bundle", str(edited))
    assert refused.returncode == 1 and "bundle BROKEN" in refused.stderr
    missing = run(data_dir, "audit", "bundle", "no-such-attempt", "--out", str(tmp_path / "x.json"))
    assert missing.returncode == 3 and "[attempt.not_found]" in missing.stderr
