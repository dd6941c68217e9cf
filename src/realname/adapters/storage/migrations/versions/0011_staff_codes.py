"""Sessions that keep the customer's visit (issue 16): staff sign in with a short staff code and a password.

- ``staff.code``: the short, human code a member signs in with (``LL4821``), unique. Members added before this
  migration get ``S00001``, ``S00002``… in the order they were added; ``realname staff list`` shows them.
- ``staff.credential_changed_at``: when the password was set last (``staff add`` or ``staff reset-credential``).
  The existing ``credential_hash`` (argon2id) keeps the password's hash: a member's old one-time credential stays
  their password until it is reset.
- an index on ``attempt (clerk_ref, device_id, created_at)``: the kiosk asks for the clerk's open visit on its
  device after a reload or a new sign-in.

Revision ID: 0011_staff_codes
Revises: 0012_party_usage_shards (0012 reached main first; this one follows it)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from realname.adapters.storage.tables import UtcDateTime

revision = "0011_staff_codes"
down_revision = "0012_party_usage_shards"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("staff", sa.Column("code", sa.String(16), nullable=True))
    op.add_column("staff", sa.Column("credential_changed_at", UtcDateTime(), nullable=True))
    connection = op.get_bind()
    staff = sa.table("staff", sa.column("id", sa.String), sa.column("code", sa.String), sa.column("created_at"))
    rows = connection.execute(sa.select(staff.c.id).order_by(staff.c.created_at, staff.c.id)).all()
    for number, row in enumerate(rows, start=1):
        connection.execute(staff.update().where(staff.c.id == row.id).values(code=f"S{number:05d}"))
    op.create_index("ix_staff_code", "staff", ["code"], unique=True)
    op.create_index("ix_attempt_clerk_device", "attempt", ["clerk_ref", "device_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_attempt_clerk_device", table_name="attempt")
    op.drop_index("ix_staff_code", table_name="staff")
    # Plain DROP COLUMNs (SQLite 3.35+): a batch copy would drop tables that others reference.
    op.drop_column("staff", "credential_changed_at")
    op.drop_column("staff", "code")
