"""Each outlet's time zone (issue 16): pages and receipts show times on the store's clock.

``outlet.time_zone``: an IANA name, ``Asia/Shanghai`` for existing outlets and by default.

Revision ID: 0010_outlet_time_zone
Revises: 0007_parties
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_outlet_time_zone"
down_revision = "0007_parties"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outlet", sa.Column("time_zone", sa.String(64), nullable=False, server_default="Asia/Shanghai"))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy would drop the outlet table that others reference.
    op.drop_column("outlet", "time_zone")
