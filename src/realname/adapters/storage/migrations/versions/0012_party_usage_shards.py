"""Relying parties' usage counters in shards (issue 18, throughput).

``party_usage`` held one row per party, window kind and window start; every check of a party updated it and held
its lock until commit (a WAL flush), so one party's checks ran one after the other. Its rows now carry a
``shard`` (part of the key): a check adds its use to one shard picked at random, and the use counted in a window
is the sum of the window's shards (a bounded read: at most ``USAGE_SHARDS`` rows). Existing counts move to shard 0.

Revision ID: 0012_party_usage_shards
Revises: 0010_store_counter
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from realname.adapters.storage.tables import UtcDateTime

revision = "0012_party_usage_shards"
down_revision = "0010_store_counter"
branch_labels = None
depends_on = None


def _usage_table(*, sharded: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("party_id", sa.String(48), sa.ForeignKey("relying_party.id"), primary_key=True),
        sa.Column("window", sa.String(8), primary_key=True),
        sa.Column("window_start", UtcDateTime(), primary_key=True),
    ]
    if sharded:
        columns.append(sa.Column("shard", sa.SmallInteger, primary_key=True))
    columns += [
        sa.Column("used", sa.Integer, nullable=False),
        sa.CheckConstraint("used >= 0", name="ck_party_usage_used"),
    ]
    op.create_table("party_usage", *columns)


def _rebuild(*, sharded: bool, copy_back: str) -> None:
    # Through a plain copy, so that the rebuilt table keeps the names (table, key, check) that 0007 gave it.
    op.execute('CREATE TABLE party_usage_copy AS SELECT party_id, "window", window_start, used FROM party_usage')
    op.drop_table("party_usage")
    _usage_table(sharded=sharded)
    op.execute(copy_back)
    op.drop_table("party_usage_copy")


def upgrade() -> None:
    _rebuild(
        sharded=True,
        copy_back='INSERT INTO party_usage (party_id, "window", window_start, shard, used) '
        'SELECT party_id, "window", window_start, 0, used FROM party_usage_copy',
    )


def downgrade() -> None:
    _rebuild(
        sharded=False,
        copy_back='INSERT INTO party_usage (party_id, "window", window_start, used) '
        'SELECT party_id, "window", window_start, SUM(used) FROM party_usage_copy '
        'GROUP BY party_id, "window", window_start',
    )
