"""``realname report``: the regulator reports (``summary``) and the anomaly rules (``anomalies``).

``report anomalies`` is what a scheduler runs (e.g. cron every 15 minutes, or hourly): each new hit opens a
review case; running it again over the same activity opens none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

import click

from realname.adapters.cli.errors import reports_errors
from realname.adapters.cli.input_files import MIB, require_regular_file
from realname.adapters.cli.privacy_commands import ed25519_valid
from realname.adapters.cli.terminal import printable
from realname.adapters.report_files import report_csv, report_files, report_json
from realname.app.actors import OPERATOR_CLI
from realname.app.anomalies import AnomalyDetection
from realname.app.evidence import EvidenceBundles, verify_bundle
from realname.app.reports import Reports
from realname.domain.errors import InvalidInput
from realname.domain.reports import RejectionCategory, Report, parse_period

DEFAULT_DAYS = 7
MAX_BUNDLE_BYTES = 256 * MIB


@dataclass(frozen=True, slots=True)
class ReportServices:
    """The report use cases, built by ``realname.bootstrap.reports.build_report_services``."""

    reports: Reports
    anomalies: AnomalyDetection
    evidence: EvidenceBundles


class ReportCliWiring(Protocol):
    def report_services(self) -> ReportServices: ...


def services() -> ReportServices:
    obj = click.get_current_context().obj
    if obj is None:
        raise click.UsageError("the realname CLI was started without its composition root")
    wired: ReportCliWiring = obj
    return wired.report_services()


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option} is a day like 2026-11-23", code="report.range") from None


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option} is a moment like 2026-11-23T08:00:00+08:00", code="anomaly.range") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@click.group("report")
def report_group() -> None:
    """Regulator reports and anomaly (dealer-fraud) detection."""


@report_group.command("summary")
@click.option("--from", "first_text", default=None, help="First local day (YYYY-MM-DD); default 6 days ago.")
@click.option("--to", "last_text", default=None, help="Last local day, included; default today.")
@click.option("--period", default="day", show_default=True, help="day or week")
@click.option("--outlet", default=None, help="One outlet's figures only.")
@click.option("--format", "output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write to a file.")
@click.option(
    "--charts",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write report.csv, report.json and the SVG charts into this folder.",
)
@reports_errors
def summary_command(
    first_text: str | None,
    last_text: str | None,
    period: str,
    outlet: str | None,
    output: str,
    out: Path | None,
    charts: Path | None,
) -> None:
    """Counts per day or week and outlet: attempts, registrations, approval rate, rejections by category,
    surrenders, SIM replacements, suspensions, re-verifications and "not mine" reports."""
    reports = services().reports
    chosen = parse_period(period)
    first, last = _day(first_text, "--from"), _day(last_text, "--to")
    first, last = first or last, last or first
    if first is None or last is None:
        window = reports.recent_window(DEFAULT_DAYS, chosen)
    else:
        window = reports.window(first, last, chosen)
    report = reports.report(OPERATOR_CLI, window, outlet=outlet)
    text = {"json": report_json, "csv": report_csv, "table": _table}[output](report)
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
    if charts is not None:
        charts.mkdir(parents=True, exist_ok=True)
        for name, content in report_files(report).items():
            (charts / name).write_text(content, encoding="utf-8")
        click.echo(f"wrote {len(report_files(report))} files to {charts}", err=True)


def _table(report: Report) -> str:
    lines = [
        f"{report.window.first_day} .. {report.window.last_day}, per {report.window.period.value} "
        f"(UTC{report.window.utc_offset_hours:+g})",
        f"{'period':<10} {'outlet':<12} {'attempts':>8} {'regs':>6} {'approved':>8} {'rejected':>8} "
        f"{'rate':>6}  {'doc/face/live/quota/lock/other':<30} {'surr':>5} {'sim':>4} {'susp':>5} {'rever':>5} "
        f"{'notmine':>7}",
    ]
    for row in (*report.rows, report.total):
        rate = "-" if row.approval_rate is None else f"{100 * row.approval_rate:.1f}%"
        categories = "/".join(str(row.rejections_by_category[c]) for c in RejectionCategory)
        period = "total" if row is report.total else row.period_start.isoformat()
        lines.append(
            f"{period:<10} {printable(row.outlet):<12} {row.attempts:>8} {row.registrations:>6} {row.approvals:>8} "
            f"{row.rejections:>8} {rate:>6}  {categories:<30} {row.surrenders:>5} {row.sim_replacements:>4} "
            f"{row.suspensions:>5} {row.reverifications:>5} {row.not_mine_reports:>7}"
        )
    return "\n".join(lines)


@report_group.command("anomalies")
@click.option("--from", "start_text", default=None, help="Start (ISO moment; UTC if no zone); default 24 h ago.")
@click.option("--to", "end_text", default=None, help="End (ISO moment), exclusive; default now.")
@click.option("--list", "list_only", is_flag=True, help="Only list the newest flags; run no rule.")
@reports_errors
def anomalies_command(start_text: str | None, end_text: str | None, list_only: bool) -> None:
    """Run the anomaly rules and flag each new hit with a review case (safe to run again, e.g. from cron)."""
    detection = services().anomalies
    if not list_only:
        run = detection.run(OPERATOR_CLI, start=_moment(start_text, "--from"), end=_moment(end_text, "--to"))
        click.echo(
            f"checked {run.start.isoformat()} .. {run.end.isoformat()}: {len(run.hits)} hits, "
            f"{len(run.opened)} new review cases, {run.already_flagged} flagged before"
        )
    for flag in detection.flagged(OPERATOR_CLI, limit=50):
        hit = flag.hit
        figures = ", ".join(f"{k}={v}" for k, v in hit.figures.items())
        click.echo(
            printable(
                f"{flag.opened_at:%Y-%m-%d %H:%M} {flag.case_state:<9} {hit.rule:<22} {hit.scope} {hit.subject} "
                f"[{hit.window_start:%Y-%m-%d %H:%M}..{hit.window_end:%H:%M}] {figures} case {flag.case_id}"
            )
        )


@click.command("bundle")
@click.argument("attempt_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The bundle file to write.")
@reports_errors
def audit_bundle_command(attempt_id: str, out: Path) -> None:
    """Write one attempt's signed evidence bundle (the attempt id is on its receipt): decision, model, thresholds,
    similarities, liveness actions, consent, clerk, outlet, times, and its audit events up to a signed checkpoint."""
    bundle = services().evidence.build(OPERATOR_CLI, attempt_id.strip())
    out.write_text(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = bundle["summary"]
    decision = summary.get("decision") if isinstance(summary, dict) else None
    click.echo(f"wrote {out}: attempt {printable(attempt_id)}, decision {decision}, key {bundle['key_id']}")


@click.command("verify-bundle")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@reports_errors
def audit_verify_bundle_command(file: Path) -> None:
    """Verify an evidence bundle offline: chain segment, signed checkpoint, summary and signature."""
    require_regular_file(file, max_bytes=MAX_BUNDLE_BYTES, what="evidence bundle")
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{file} is not a JSON evidence bundle", code="evidence.bundle_invalid") from exc
    if not isinstance(document, dict):
        raise InvalidInput(f"{file} is not a JSON evidence bundle", code="evidence.bundle_invalid")
    verdict = verify_bundle(document, ed25519_valid)
    click.echo(f"signing keys in the bundle: {printable(', '.join(sorted(verdict.key_ids))) or 'none'}")
    if not verdict.intact:
        for problem in verdict.problems:
            click.echo(f"bundle BROKEN: {printable(problem)}", err=True)
        raise SystemExit(1)
    click.echo(
        f"bundle intact: attempt {printable(verdict.attempt_id or '')}, decision {verdict.decision}, "
        f"signed through {verdict.signed_through_seq}"
    )


evidence_commands: tuple[click.Command, ...] = (audit_bundle_command, audit_verify_bundle_command)
