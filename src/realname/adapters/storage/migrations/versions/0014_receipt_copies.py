"""The customer's printed receipt after a reload (issue 16, item 7): the full number and SIM, encrypted.

- ``receipt_copy``: one row per completed visit (``id`` = the attempt's id) with the full number and ICCID its
  receipt prints, envelope-encrypted (AES-256-GCM, bound to the row as ``receipt_copy``/``<attempt id>``), and when it
  must be gone (``delete_after``: the attempt time after the receipt was issued). Deleted when the clerk ends the
  visit or starts the next customer on that kiosk, and by ``serve``'s privacy job once due; never in clear.

Revision ID: 0014_receipt_copies
Revises: 0013_staff_sessions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from realname.adapters.storage.tables import UtcDateTime

revision = "0014_receipt_copies"
down_revision = "0013_staff_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "receipt_copy",
        sa.Column("id", sa.String(64), sa.ForeignKey("attempt.id"), primary_key=True),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("delete_after", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_receipt_copy_delete_after", "receipt_copy", ["delete_after"])


def downgrade() -> None:
    op.drop_index("ix_receipt_copy_delete_after", table_name="receipt_copy")
    op.drop_table("receipt_copy")
