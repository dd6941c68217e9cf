"""Reports and anomaly flags (issue 17).

- ``anomaly_case`` (see ``adapters/storage/report_tables.py``);
(the index on ``audit_event.occurred_at`` that reports and anomaly rules read the log by comes with
``0008_audit_chains``, which rebuilds that table);
- the ``regulator`` staff role (aggregate reports only) in ``staff``'s role check.

Revision ID: 0009_reports
Revises: 0008_audit_chains
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from realname.adapters.storage.tables import UtcDateTime

revision = "0009_reports"
down_revision = "0008_audit_chains"
branch_labels = None
depends_on = None


OLD_ROLES = "role IN ('clerk', 'reviewer', 'admin', 'auditor')"
NEW_ROLES = "role IN ('clerk', 'reviewer', 'admin', 'auditor', 'regulator')"


def _role_check(condition: str) -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_constraint(op.f("ck_staff_role"), type_="check")
        batch.create_check_constraint(op.f("ck_staff_role"), condition)


def upgrade() -> None:
    _role_check(NEW_ROLES)
    op.create_table(
        "anomaly_case",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("flag_key", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(48), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("outlet", sa.String(32), nullable=True),
        sa.Column("window_start", UtcDateTime(), nullable=False),
        sa.Column("window_end", UtcDateTime(), nullable=False),
        sa.Column("figures", sa.Text, nullable=False),
        sa.Column("opened_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("flag_key", name="uq_anomaly_case_flag_key"),
    )
    op.create_index("ix_anomaly_case_opened_at", "anomaly_case", ["opened_at"])


def downgrade() -> None:
    _role_check(OLD_ROLES)
    op.drop_index("ix_anomaly_case_opened_at", table_name="anomaly_case")
    op.drop_table("anomaly_case")
