"""Registry core: outlets, staff, numbers, subscribers, bindings, audit chain.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from realname.adapters.storage.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "outlet",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name_ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("outlet_code", sa.String(32), sa.ForeignKey("outlet.code"), nullable=False),
        sa.Column("credential_hash", sa.String(255), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.CheckConstraint("role IN ('clerk', 'reviewer', 'admin', 'auditor')", name="role"),
    )
    op.create_table(
        "number",
        sa.Column("msisdn", sa.String(15), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reserved_by", sa.String(64), nullable=True),
        sa.Column("reserved_until", UtcDateTime(), nullable=True),
        sa.Column("cooling_until", UtcDateTime(), nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.CheckConstraint(
            "state IN ('available', 'reserved', 'active', 'suspended', 'cancelled', 'surrendered', 'cooling')",
            name="state",
        ),
        sa.CheckConstraint(
            "state <> 'reserved' OR (reserved_by IS NOT NULL AND reserved_until IS NOT NULL)", name="reservation"
        ),
        sa.CheckConstraint("state <> 'cooling' OR cooling_until IS NOT NULL", name="cooling"),
    )
    op.create_index("ix_number_state_msisdn", "number", ["state", "msisdn"])
    op.create_table(
        "subscriber",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("id_index", sa.String(64), nullable=False, unique=True),
        sa.Column("id_ciphertext", sa.LargeBinary, nullable=True),
        sa.Column("name_ciphertext", sa.LargeBinary, nullable=True),
        sa.Column("held_numbers", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_service_ended_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint("held_numbers >= 0", name="held_numbers"),
    )
    op.create_table(
        "binding",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("msisdn", sa.String(15), sa.ForeignKey("number.msisdn"), nullable=False),
        sa.Column("subscriber_id", sa.String(64), sa.ForeignKey("subscriber.id"), nullable=False),
        sa.Column("iccid", sa.String(20), nullable=False),
        sa.Column("outlet_code", sa.String(32), sa.ForeignKey("outlet.code"), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
    )
    op.create_index(
        "uq_binding_active_msisdn",
        "binding",
        ["msisdn"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_index("ix_binding_subscriber_id", "binding", ["subscriber_id"])
    op.create_table(
        "audit_event",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("outlet", sa.String(32), nullable=True),
        sa.Column("subject", sa.String(128), nullable=True),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_seq", SEQ, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="single_row"),
    )
    op.bulk_insert(head, [{"id": 1, "last_seq": 0, "last_hash": "0" * 64}])


def downgrade() -> None:
    for table in ("audit_head", "audit_event", "binding", "subscriber", "number", "staff", "outlet"):
        op.drop_table(table)
