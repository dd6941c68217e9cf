"""Tables of the reports and anomaly flags (migration 0009).

- ``anomaly_case``: which anomaly rule hit opened a review case, for which outlet, clerk or terminal and
  window, with the figures that made it fire. ``flag_key`` (unique) names the hit, so a re-run of the rules
  over the same stream opens no second case for it.
- ``ix_audit_event_occurred_at``: reports and rules read the audit log by time.
"""

from __future__ import annotations

import sqlalchemy as sa

from realname.adapters.storage import tables as t

report_metadata = sa.MetaData(naming_convention=t.metadata.naming_convention)

anomaly_case = sa.Table(
    "anomaly_case",
    report_metadata,
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("flag_key", sa.String(64), nullable=False, unique=True),
    sa.Column("rule", sa.String(48), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("subject", sa.String(128), nullable=False),
    sa.Column("outlet", sa.String(32), nullable=True),
    sa.Column("window_start", t.UtcDateTime(), nullable=False),
    sa.Column("window_end", t.UtcDateTime(), nullable=False),
    sa.Column("figures", sa.Text, nullable=False),
    sa.Column("opened_at", t.UtcDateTime(), nullable=False),
    sa.Index("ix_anomaly_case_opened_at", "opened_at"),
)
