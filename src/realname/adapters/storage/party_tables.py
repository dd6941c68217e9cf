"""Tables of the relying parties and their checks (migration 0007_parties), declared on their own ``MetaData``
so that nothing is added to ``tables.metadata``:

- ``relying_party``: the party, its client secret and contact only as envelope ciphertext; 0015 added
  ``client_cert_sha256``, the fingerprint of its pinned client certificate (not personal data: in clear).
- ``party_nonce``: every nonce a party used (primary key: a replay is an integrity violation).
- ``party_usage``: counters per party, window kind, window start and shard (quota, rate; 0012 added the shard:
  a check counts its use on one shard, a window's use is the sum of its shards).
- ``party_check``: each check; the number's holder at the time, a party-scoped probe reference of the ID
  asked about (never its blind index), the result, the consent reference as ciphertext.
- ``check_block``: a subscriber's blocks of one number or one party.
- ``party_case``: which relying party (and check) a review case is about.
- ``subscriber_name``: the ``subscriber`` table's ``name_index`` column (added by 0007), seen on its own so
  that ``tables.subscriber`` keeps working on databases before 0007, with ``name_ciphertext`` (older), which is
  written together with it.
"""

from __future__ import annotations

import sqlalchemy as sa

from realname.adapters.storage import tables as t

party_metadata = sa.MetaData(naming_convention=t.metadata.naming_convention)

relying_party = sa.Table(
    "relying_party",
    party_metadata,
    sa.Column("id", sa.String(48), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("purpose", sa.String(500), nullable=False),
    sa.Column("allowed_kinds", sa.String(128), nullable=False),
    sa.Column("daily_quota", sa.Integer, nullable=False),
    sa.Column("per_minute_limit", sa.Integer, nullable=False),
    sa.Column("sees_elements", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("secret_ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("secret_version", sa.Integer, nullable=False),
    sa.Column("contact_ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("created_at", t.UtcDateTime(), nullable=False),
    sa.Column("status_changed_at", t.UtcDateTime(), nullable=True),
    sa.Column("client_cert_sha256", sa.String(64), nullable=True),
)

party_nonce = sa.Table(
    "party_nonce",
    party_metadata,
    sa.Column("party_id", sa.String(48), primary_key=True),
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("seen_at", t.UtcDateTime(), nullable=False),
)

party_usage = sa.Table(
    "party_usage",
    party_metadata,
    sa.Column("party_id", sa.String(48), primary_key=True),
    sa.Column("window", sa.String(8), primary_key=True),
    sa.Column("window_start", t.UtcDateTime(), primary_key=True),
    sa.Column("shard", sa.SmallInteger, primary_key=True),
    sa.Column("used", sa.Integer, nullable=False),
)

party_check = sa.Table(
    "party_check",
    party_metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("party_id", sa.String(48), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("msisdn", sa.String(15), nullable=False),
    sa.Column("subscriber_id", sa.String(64), nullable=True),
    sa.Column("probe", sa.String(32), nullable=True),
    sa.Column("result", sa.String(16), nullable=False),
    sa.Column("checked_at", t.UtcDateTime(), nullable=False),
    sa.Column("consent_ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("consent_given_at", t.UtcDateTime(), nullable=False),
    sa.Column("reported_at", t.UtcDateTime(), nullable=True),
    sa.Index("ix_party_check_subscriber_id", "subscriber_id", "checked_at"),
    sa.Index("ix_party_check_probe", "party_id", "probe", "checked_at"),
    sa.Index("ix_party_check_msisdn", "party_id", "msisdn", "checked_at"),
)

check_block = sa.Table(
    "check_block",
    party_metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("subscriber_id", sa.String(64), nullable=False),
    sa.Column("msisdn", sa.String(15), nullable=True),
    sa.Column("party_id", sa.String(48), nullable=True),
    sa.Column("created_at", t.UtcDateTime(), nullable=False),
    sa.Column("lifted_at", t.UtcDateTime(), nullable=True),
    sa.Index("ix_check_block_subscriber_id", "subscriber_id"),
)

party_case = sa.Table(
    "party_case",
    party_metadata,
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("party_id", sa.String(48), nullable=False),
    sa.Column("check_id", sa.String(64), nullable=True),
    sa.Index("ix_party_case_party_id", "party_id"),
)


subscriber_name = sa.Table(
    "subscriber",
    party_metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("id_index", sa.String(64), nullable=False),
    sa.Column("name_index", sa.String(64), nullable=True),
    sa.Column("name_ciphertext", sa.LargeBinary, nullable=True),
)
