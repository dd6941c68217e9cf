"""Attempts, challenges, consent records, verification failures (lock-outs), idempotency keys, reviews.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from realname.adapters.storage.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attempt",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(24), nullable=False),
        sa.Column("outlet_code", sa.String(32), sa.ForeignKey("outlet.code"), nullable=False),
        sa.Column("clerk_ref", sa.String(128), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("id_index", sa.String(64), nullable=True),
        sa.Column("id_ciphertext", sa.LargeBinary, nullable=True),
        sa.Column("document_kind", sa.String(32), nullable=True),
        sa.Column("consent_version", sa.String(32), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reasons", sa.Text, nullable=False, server_default="[]"),
        sa.Column("msisdn", sa.String(15), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_attempt_id_index", "attempt", ["id_index"])
    op.create_table(
        "challenge",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("attempt_id", sa.String(64), sa.ForeignKey("attempt.id"), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("actions", sa.String(128), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_challenge_attempt_id", "challenge", ["attempt_id"])
    op.create_table(
        "consent_record",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("attempt_id", sa.String(64), sa.ForeignKey("attempt.id"), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("accepted", sa.Boolean, nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "verification_failure",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("id_index", sa.String(64), nullable=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("failed_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_verification_failure_id_index", "verification_failure", ["id_index", "failed_at"])
    op.create_index("ix_verification_failure_device_id", "verification_failure", ["device_id", "failed_at"])
    op.create_table(
        "idempotency_key",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("scope", sa.String(128), primary_key=True),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "review_case",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("attempt_id", sa.String(64), sa.ForeignKey("attempt.id"), nullable=True),
        sa.Column("id_index", sa.String(64), nullable=True),
        sa.Column("msisdn", sa.String(15), nullable=True),
        sa.Column("opened_at", UtcDateTime(), nullable=False),
        sa.Column("proposed_decision", sa.String(24), nullable=True),
        sa.Column("proposed_by", sa.String(128), nullable=True),
        sa.Column("proposed_reason", sa.String(500), nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_review_case_state", "review_case", ["state", "opened_at"])
    op.create_index("ix_audit_event_subject", "audit_event", ["subject", "seq"])
    outlet = sa.table(
        "outlet", sa.column("code", sa.String), sa.column("name", sa.String), sa.column("created_at", UtcDateTime())
    )
    op.bulk_insert(
        outlet, [{"code": "SELF", "name": "Self-service (web)", "created_at": datetime(2026, 1, 1, tzinfo=UTC)}]
    )


def downgrade() -> None:
    op.execute("DELETE FROM outlet WHERE code = 'SELF'")
    op.drop_index("ix_audit_event_subject", "audit_event")
    for table in ("review_case", "idempotency_key", "verification_failure", "consent_record", "challenge", "attempt"):
        op.drop_table(table)
