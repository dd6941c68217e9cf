"""A report as files: CSV and JSON exports and SVG charts, drawn here (no chart library).

Charts are plain SVG 1.1 with text escaped, no script and no external reference, so a page can show them as
images under its Content-Security-Policy. Only the report's aggregates go in.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from xml.sax.saxutils import escape

from realname.domain.reports import COUNTS, RejectionCategory, Report, ReportRow

CSV_COLUMNS = (
    "period_start",
    "outlet",
    *COUNTS,
    "approval_rate",
    *(f"rejected_{c.value}" for c in RejectionCategory),
)

WIDTH, HEIGHT = 720, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 16, 40, 56
COLOURS = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#c53030", "#718096")


def report_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, sort_keys=True)


def report_csv(report: Report) -> str:
    """One line per period and outlet with any activity."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        writer.writerow(_csv_values(row))
    return out.getvalue()


def _csv_values(row: ReportRow) -> list[str]:
    rate = row.approval_rate
    return [
        row.period_start.isoformat(),
        _csv_safe(row.outlet),
        *(str(getattr(row, name)) for name in COUNTS),
        "" if rate is None else f"{rate:.4f}",
        *(str(row.rejections_by_category[c]) for c in RejectionCategory),
    ]


def _csv_safe(text: str) -> str:
    """Outlet codes are letters, digits and '-', but a cell that a spreadsheet would run as a formula is quoted."""
    return "'" + text if text[:1] in ("=", "+", "@", "\t", "\r") else text


def report_files(report: Report) -> dict[str, str]:
    """``report.csv``, ``report.json`` and the charts, by file name."""
    return {"report.csv": report_csv(report), "report.json": report_json(report), **report_charts(report)}


def report_charts(report: Report) -> dict[str, str]:
    """The report's charts as SVG documents by file name."""
    periods = report.by_period
    labels = [r.period_start.strftime("%m-%d") for r in periods]
    outlets = [r for r in report.by_outlet if r.outlet != "-"]
    return {
        "registrations.svg": grouped_bars(
            "Registrations and attempts per " + report.window.period.value,
            labels,
            {
                "attempts": [r.attempts for r in periods],
                "registrations": [r.registrations for r in periods],
            },
        ),
        "rejections.svg": grouped_bars(
            "Rejections by reason",
            [c.value for c in RejectionCategory],
            {"rejections": [report.total.rejections_by_category[c] for c in RejectionCategory]},
        ),
        "approval_rate.svg": grouped_bars(
            "Approval rate per outlet (%)",
            [r.outlet for r in outlets],
            {"approval rate %": [round(100 * (r.approval_rate or 0.0), 1) for r in outlets]},
            fixed_top=100.0,
        ),
        "owner_services.svg": grouped_bars(
            'Owner services and "not mine" reports per outlet',
            [r.outlet for r in report.by_outlet],
            {
                "surrenders": [r.surrenders for r in report.by_outlet],
                "SIM replacements": [r.sim_replacements for r in report.by_outlet],
                "suspensions": [r.suspensions for r in report.by_outlet],
                "re-verifications": [r.reverifications for r in report.by_outlet],
                "not mine": [r.not_mine_reports for r in report.by_outlet],
            },
        ),
    }


def grouped_bars(
    title: str, labels: Sequence[str], series: dict[str, Sequence[float]], *, fixed_top: float | None = None
) -> str:
    """A bar chart with one group of bars per label and one bar per series, a y axis and a legend."""
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    top = fixed_top if fixed_top is not None else max((max(v, default=0) for v in series.values()), default=0)
    top = _nice_top(top)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    for step in range(5):
        value = top * step / 4
        y = MARGIN_TOP + plot_h - plot_h * step / 4
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>'
        )
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(value)}</text>')
    if not labels:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{MARGIN_TOP + plot_h / 2}" text-anchor="middle" fill="#718096">no data</text>'
        )
    group_w = plot_w / max(len(labels), 1)
    bar_w = max(1.0, group_w * 0.8 / max(len(series), 1))
    for index, label in enumerate(labels):
        x0 = MARGIN_LEFT + index * group_w + group_w * 0.1
        for position, (name, values) in enumerate(series.items()):
            value = values[index]
            height = 0.0 if top == 0 else plot_h * value / top
            x = x0 + position * bar_w
            y = MARGIN_TOP + plot_h - height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{height:.1f}" '
                f'fill="{COLOURS[position % len(COLOURS)]}"><title>{escape(f"{label} {name}: {_number(value)}")}'
                "</title></rect>"
            )
        if len(labels) <= 31 or index % max(1, len(labels) // 31) == 0:
            parts.append(
                f'<text x="{x0 + group_w * 0.4:.1f}" y="{MARGIN_TOP + plot_h + 14}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    legend_x = MARGIN_LEFT
    for position, name in enumerate(series):
        y = HEIGHT - 14
        parts.append(
            f'<rect x="{legend_x}" y="{y - 9}" width="10" height="10" fill="{COLOURS[position % len(COLOURS)]}"/>'
        )
        parts.append(f'<text x="{legend_x + 14}" y="{y}">{escape(name)}</text>')
        legend_x += 26 + 7 * len(name)
    parts.append("</svg>")
    return "\n".join(parts)


def _nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is at least ``value`` (at least 4, so axis steps are whole)."""
    if value <= 4:
        return 4.0
    magnitude = 1.0
    while magnitude * 10 < value:
        magnitude *= 10
    for factor in (1, 2, 2.5, 5, 10):
        if factor * magnitude >= value:
            return factor * magnitude
    return 10 * magnitude


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
