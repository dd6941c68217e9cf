"""The store counter in real use (issue 16): password changes, server-side sessions, a visit's receipt kept.

- ``staff.password_change_required``: set for a new member and after ``staff reset-credential``; the sign-in then
  answers that the password must be changed, and the token serves nothing else until it is. Existing members keep
  their password (false).
- ``staff_session``: one row per sign-in (``<staff id>:<sign-in time>``, as the tokens carry it) with the time of
  its last request, written at most every few seconds: ``/v1/auth/renew`` is refused after the idle time.
- ``attempt.visit_ended_at`` and ``attempt.receipt``: when the clerk ended a visit, and the masked receipt of the
  service it completed (JSON; the number and SIM masked as the API answered them). A completed visit's receipt is
  shown again after a reload until the clerk ends the visit or starts the next customer.

Revision ID: 0013_staff_sessions
Revises: 0011_staff_codes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from realname.adapters.storage.tables import UtcDateTime

revision = "0013_staff_sessions"
down_revision = "0011_staff_codes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("staff", sa.Column("password_change_required", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "staff_session",
        sa.Column("session_key", sa.String(96), primary_key=True),
        sa.Column("staff_id", sa.String(64), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("last_active_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_staff_session_last_active", "staff_session", ["last_active_at"])
    op.add_column("attempt", sa.Column("visit_ended_at", UtcDateTime(), nullable=True))
    op.add_column("attempt", sa.Column("receipt", sa.Text, nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35+): a batch copy would drop tables that others reference.
    op.drop_column("attempt", "receipt")
    op.drop_column("attempt", "visit_ended_at")
    op.drop_index("ix_staff_session_last_active", table_name="staff_session")
    op.drop_table("staff_session")
    op.drop_column("staff", "password_change_required")
