"""Optional mutual TLS for relying parties (issue 18): a party's pinned client certificate.

- ``relying_party.client_cert_sha256``: the SHA-256 (lower-case hex) of the DER bytes of the client certificate the
  party must present on every check; NULL when none is pinned (the signature alone authenticates it, as before).
  A certificate fingerprint is not personal data, so it is stored in clear.

Revision ID: 0015_party_client_certs
Revises: 0014_receipt_copies
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_party_client_certs"
down_revision = "0014_receipt_copies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("relying_party", sa.Column("client_cert_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("relying_party") as batch:
        batch.drop_column("client_cert_sha256")
