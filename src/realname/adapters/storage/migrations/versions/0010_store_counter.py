"""The store counter (issue 16): each outlet's time zone, and what a reviewer needs on a review case.

- ``outlet.time_zone``: an IANA name, ``Asia/Shanghai`` for existing outlets and by default; pages and receipts
  show times on the store's clock.
- ``review_case.requested_by`` / ``request_reason``: the clerk who asked for a review of a rejection, and why.
- ``review_case.similarity``: the face check's similarity, shown to reviewers only.

Revision ID: 0010_store_counter
Revises: 0009_reports
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_store_counter"
down_revision = "0009_reports"
branch_labels = None
depends_on = None

CASE_COLUMNS = ("requested_by", "request_reason", "similarity")


def upgrade() -> None:
    op.add_column("outlet", sa.Column("time_zone", sa.String(64), nullable=False, server_default="Asia/Shanghai"))
    op.add_column("review_case", sa.Column("requested_by", sa.String(128), nullable=True))
    op.add_column("review_case", sa.Column("request_reason", sa.String(500), nullable=True))
    op.add_column("review_case", sa.Column("similarity", sa.Float(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35+): a batch copy would drop tables that others reference.
    for column in CASE_COLUMNS:
        op.drop_column("review_case", column)
    op.drop_column("outlet", "time_zone")
