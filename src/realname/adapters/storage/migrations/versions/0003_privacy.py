"""Privacy: signed audit checkpoints, and kept evidence with its own retention clock.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from realname.adapters.storage.tables import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_checkpoint",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "evidence",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("attempt_id", sa.String(64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("delete_after", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_evidence_delete_after", "evidence", ["delete_after"])
    op.create_index("ix_evidence_attempt_id", "evidence", ["attempt_id"])


def downgrade() -> None:
    op.drop_table("evidence")
    op.drop_table("audit_checkpoint")
