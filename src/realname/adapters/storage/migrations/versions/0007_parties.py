"""Relying parties and number–identity checks (issue 18).

- ``subscriber.name_index``: blind index of the subscriber's normalised name, bound to the row.
- ``relying_party``, ``party_nonce``, ``party_usage``, ``party_check``, ``check_block``, ``party_case``
  (see ``adapters/storage/party_repositories.py``).

Self-contained (it needs nothing from the 0005/0006 revisions of other work), so it can be chained after
them by changing ``down_revision`` only.

Revision ID: 0007_parties
Revises: 0005_terminals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from realname.adapters.storage.tables import UtcDateTime

revision = "0007_parties"
down_revision = "0005_terminals"
branch_labels = None
depends_on = None

TABLES = ("party_case", "check_block", "party_check", "party_usage", "party_nonce", "relying_party")


def upgrade() -> None:
    op.add_column("subscriber", sa.Column("name_index", sa.String(64), nullable=True))
    op.create_table(
        "relying_party",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(500), nullable=False),
        sa.Column("allowed_kinds", sa.String(128), nullable=False),
        sa.Column("daily_quota", sa.Integer, nullable=False),
        sa.Column("per_minute_limit", sa.Integer, nullable=False),
        sa.Column("sees_elements", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("secret_ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("secret_version", sa.Integer, nullable=False),
        sa.Column("contact_ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("status_changed_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint("status IN ('active', 'disabled', 'suspended')", name="ck_relying_party_status"),
        sa.CheckConstraint("daily_quota > 0 AND per_minute_limit > 0", name="ck_relying_party_limits"),
    )
    op.create_table(
        "party_nonce",
        sa.Column("party_id", sa.String(48), sa.ForeignKey("relying_party.id"), primary_key=True),
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "party_usage",
        sa.Column("party_id", sa.String(48), sa.ForeignKey("relying_party.id"), primary_key=True),
        sa.Column("window", sa.String(8), primary_key=True),
        sa.Column("window_start", UtcDateTime(), primary_key=True),
        sa.Column("used", sa.Integer, nullable=False),
        sa.CheckConstraint("used >= 0", name="ck_party_usage_used"),
    )
    op.create_table(
        "party_check",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("party_id", sa.String(48), sa.ForeignKey("relying_party.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("msisdn", sa.String(15), nullable=False),
        sa.Column("subscriber_id", sa.String(64), sa.ForeignKey("subscriber.id"), nullable=True),
        sa.Column("probe", sa.String(32), nullable=True),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("checked_at", UtcDateTime(), nullable=False),
        sa.Column("consent_ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("consent_given_at", UtcDateTime(), nullable=False),
        sa.Column("reported_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('three_element', 'two_element', 'held_since', 'status')", name="ck_party_check_kind"
        ),
    )
    op.create_index("ix_party_check_subscriber_id", "party_check", ["subscriber_id", "checked_at"])
    op.create_index("ix_party_check_probe", "party_check", ["party_id", "probe", "checked_at"])
    op.create_index("ix_party_check_msisdn", "party_check", ["party_id", "msisdn", "checked_at"])
    op.create_table(
        "check_block",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("subscriber_id", sa.String(64), sa.ForeignKey("subscriber.id"), nullable=False),
        sa.Column("msisdn", sa.String(15), nullable=True),
        sa.Column("party_id", sa.String(48), sa.ForeignKey("relying_party.id"), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("lifted_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint("(msisdn IS NULL) <> (party_id IS NULL)", name="ck_check_block_one_target"),
    )
    op.create_index("ix_check_block_subscriber_id", "check_block", ["subscriber_id"])
    op.create_table(
        "party_case",
        sa.Column("case_id", sa.String(64), sa.ForeignKey("review_case.id"), primary_key=True),
        sa.Column("party_id", sa.String(48), sa.ForeignKey("relying_party.id"), nullable=False),
        sa.Column("check_id", sa.String(64), sa.ForeignKey("party_check.id"), nullable=True),
    )
    op.create_index("ix_party_case_party_id", "party_case", ["party_id"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
    op.drop_column("subscriber", "name_index")
