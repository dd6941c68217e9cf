"""Terminals and self-service without a portrait.

- ``terminal``: kiosks enrolled to an outlet with their Ed25519 public key (unique); ``reader_nonce``:
  the nonces of signed reader reads already seen (primary key: a replay fails to insert).
- ``attempt.terminal_id`` / ``attempt.reader_digest``: which terminal's reader read the document and a
  keyed digest of the fields it read; ``attempt.name_ciphertext``: the name read, encrypted.
- ``self_code``: one-time codes of self-service attempts, as keyed hashes, with expiry and tries left.
- ``throttle_event``: rate-limited events (self-service sessions and codes, staff sign-in failures).

Revision ID: 0005_terminals
Revises: 0004_integrity
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from realname.adapters.storage.tables import UtcDateTime

revision = "0005_terminals"
down_revision = "0004_integrity"
branch_labels = None
depends_on = None

_ATTEMPT_COLUMNS = ("terminal_id", "reader_digest", "name_ciphertext")


def upgrade() -> None:
    op.create_table(
        "terminal",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("outlet_code", sa.String(32), sa.ForeignKey("outlet.code"), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False, unique=True),
        sa.Column("enrolled_at", UtcDateTime(), nullable=False),
        sa.Column("enrolled_by", sa.String(128), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "reader_nonce",
        sa.Column("terminal_id", sa.String(64), sa.ForeignKey("terminal.id"), primary_key=True),
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "self_code",
        sa.Column("attempt_id", sa.String(64), sa.ForeignKey("attempt.id"), primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("tries_left", sa.Integer, nullable=False),
        sa.CheckConstraint("tries_left >= 0", name="tries_left"),
    )
    op.create_table(
        "throttle_event",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_throttle_event_scope", "throttle_event", ["scope", "subject", "at"])
    op.add_column("attempt", sa.Column("terminal_id", sa.String(64), nullable=True))
    op.add_column("attempt", sa.Column("reader_digest", sa.String(64), nullable=True))
    op.add_column("attempt", sa.Column("name_ciphertext", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempt") as batch:
        for column in _ATTEMPT_COLUMNS:
            batch.drop_column(column)
    op.drop_index("ix_throttle_event_scope", "throttle_event")
    for table in ("throttle_event", "self_code", "reader_nonce", "terminal"):
        op.drop_table(table)
