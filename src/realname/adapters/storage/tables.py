"""SQLAlchemy Core tables. The schema carries the invariants; migrations in ``migrations/`` create it.

- ``binding``: partial unique indexes allow one active (``ended_at IS NULL``) binding per number and one
  per SIM (ICCID).
- ``subscriber.held_numbers``: the per-ID quota is taken by a conditional increment; CHECK keeps it ≥ 0.
- ``subscriber.id_index``: unique keyed blind index; the ID number itself only as ciphertext.
- ``audit_event`` is append-only, in ``AUDIT_CHAINS`` hash chains (primary key ``(chain, seq)``); one
  ``audit_head`` row per chain serialises the writers of that chain only (migration 0008). Triggers
  (migrations 0004, 0008) refuse UPDATE and DELETE on events and checkpoints and let each head only
  advance by one, to an event of its chain.
- ``key_fingerprint``: fingerprints (never keys) of the key material the data was written with.
- ``terminal``: enrolled kiosks (public keys only); ``reader_nonce`` makes each signed reader read
  single-use (primary key); ``self_code`` holds one-time codes as keyed hashes; ``throttle_event``
  counts rate-limited events (self-service sessions and codes, staff sign-in failures).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores no zone; we store and return UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use aware UTC datetimes")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

NUMBER_STATES = ("available", "reserved", "active", "suspended", "cancelled", "surrendered", "cooling")

outlet = sa.Table(
    "outlet",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=False, server_default="Asia/Shanghai"),
)

staff = sa.Table(
    "staff",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name_ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("outlet_code", sa.String(32), sa.ForeignKey("outlet.code"), nullable=False),
    sa.Column("credential_hash", sa.String(255), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("code", sa.String(16), nullable=True),
    sa.Column("credential_changed_at", UtcDateTime(), nullable=True),
    sa.Column("password_change_required", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.CheckConstraint("role IN ('clerk', 'reviewer', 'admin', 'auditor', 'regulator')", name="role"),
    sa.Index("ix_staff_code", "code", unique=True),
)

staff_session = sa.Table(
    "staff_session",
    metadata,
    # "<staff id>:<sign-in time, Unix seconds>": what a token (and its renewals) carry, no new claim needed.
    sa.Column("session_key", sa.String(96), primary_key=True),
    sa.Column("staff_id", sa.String(64), sa.ForeignKey("staff.id"), nullable=False),
    sa.Column("last_active_at", UtcDateTime(), nullable=False),
    sa.Index("ix_staff_session_last_active", "last_active_at"),
)

number = sa.Table(
    "number",
    metadata,
    sa.Column("msisdn", sa.String(15), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reserved_by", sa.String(64), nullable=True),
    sa.Column("reserved_until", UtcDateTime(), nullable=True),
    sa.Column("cooling_until", UtcDateTime(), nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint(f"state IN {NUMBER_STATES!r}", name="state"),
    sa.CheckConstraint(
        "state <> 'reserved' OR (reserved_by IS NOT NULL AND reserved_until IS NOT NULL)", name="reservation"
    ),
    sa.CheckConstraint("state <> 'cooling' OR cooling_until IS NOT NULL", name="cooling"),
    sa.Index("ix_number_state_msisdn", "state", "msisdn"),
)

subscriber = sa.Table(
    "subscriber",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("id_index", sa.String(64), nullable=False, unique=True),
    sa.Column("id_ciphertext", sa.LargeBinary, nullable=True),
    sa.Column("name_ciphertext", sa.LargeBinary, nullable=True),
    sa.Column("held_numbers", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("last_service_ended_at", UtcDateTime(), nullable=True),
    sa.CheckConstraint("held_numbers >= 0", name="held_numbers"),
)

binding = sa.Table(
    "binding",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("msisdn", sa.String(15), sa.ForeignKey("number.msisdn"), nullable=False),
    sa.Column("subscriber_id", sa.String(64), sa.ForeignKey("subscriber.id"), nullable=False),
    sa.Column("iccid", sa.String(20), nullable=False),
    sa.Column("outlet_code", sa.String(32), sa.ForeignKey("outlet.code"), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("ended_at", UtcDateTime(), nullable=True),
    sa.Column("end_reason", sa.String(32), nullable=True),
    sa.Index(
        "uq_binding_active_msisdn",
        "msisdn",
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    ),
    sa.Index(
        "uq_binding_active_iccid",
        "iccid",
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    ),
    sa.Index("ix_binding_subscriber_id", "subscriber_id"),
)

AUDIT_CHAINS = 16
"""Audit chains made by migration 0008; concurrent writers each take a free one."""

audit_event = sa.Table(
    "audit_event",
    metadata,
    sa.Column("chain", sa.SmallInteger, primary_key=True, autoincrement=False, server_default=sa.text("0")),
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("outlet", sa.String(32), nullable=True),
    sa.Column("subject", sa.String(128), nullable=True),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_event_subject", "subject", "seq"),
    sa.Index("ix_audit_event_occurred_at", "occurred_at"),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("chain", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("last_seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
    sa.CheckConstraint(f"chain >= 0 AND chain < {AUDIT_CHAINS}", name="chain_range"),
)

key_fingerprint = sa.Table(
    "key_fingerprint",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
    sa.Column("retired_at", UtcDateTime(), nullable=True),
)

attempt = sa.Table(
    "attempt",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("purpose", sa.String(24), nullable=False),
    sa.Column("outlet_code", sa.String(32), sa.ForeignKey("outlet.code"), nullable=False),
    sa.Column("clerk_ref", sa.String(128), nullable=False),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("id_index", sa.String(64), nullable=True),
    sa.Column("id_ciphertext", sa.LargeBinary, nullable=True),
    sa.Column("document_kind", sa.String(32), nullable=True),
    sa.Column("consent_version", sa.String(32), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("reasons", sa.Text, nullable=False, server_default="[]"),
    sa.Column("msisdn", sa.String(15), nullable=True),
    sa.Column("decided_at", UtcDateTime(), nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("terminal_id", sa.String(64), nullable=True),
    sa.Column("reader_digest", sa.String(64), nullable=True),
    sa.Column("name_ciphertext", sa.LargeBinary, nullable=True),
    sa.Column("visit_ended_at", UtcDateTime(), nullable=True),
    sa.Column("receipt", sa.Text, nullable=True),
    sa.Index("ix_attempt_id_index", "id_index"),
    sa.Index("ix_attempt_clerk_device", "clerk_ref", "device_id", "created_at"),
)

receipt_copy = sa.Table(
    "receipt_copy",
    metadata,
    # The attempt's id: a visit's printable receipt, the full number and SIM, encrypted (``RECEIPT_COPY``).
    sa.Column("id", sa.String(64), sa.ForeignKey("attempt.id"), primary_key=True),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("delete_after", UtcDateTime(), nullable=False),
    sa.Index("ix_receipt_copy_delete_after", "delete_after"),
)

challenge = sa.Table(
    "challenge",
    metadata,
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("attempt_id", sa.String(64), sa.ForeignKey("attempt.id"), nullable=False),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("actions", sa.String(128), nullable=False),
    sa.Column("issued_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("used_at", UtcDateTime(), nullable=True),
    sa.Index("ix_challenge_attempt_id", "attempt_id"),
)

consent_record = sa.Table(
    "consent_record",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("attempt_id", sa.String(64), sa.ForeignKey("attempt.id"), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("text_sha256", sa.String(64), nullable=False),
    sa.Column("accepted", sa.Boolean, nullable=False),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
)

verification_failure = sa.Table(
    "verification_failure",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("id_index", sa.String(64), nullable=True),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("failed_at", UtcDateTime(), nullable=False),
    sa.Index("ix_verification_failure_id_index", "id_index", "failed_at"),
    sa.Index("ix_verification_failure_device_id", "device_id", "failed_at"),
)

idempotency_key = sa.Table(
    "idempotency_key",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("scope", sa.String(128), primary_key=True),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

review_case = sa.Table(
    "review_case",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("attempt_id", sa.String(64), sa.ForeignKey("attempt.id"), nullable=True),
    sa.Column("id_index", sa.String(64), nullable=True),
    sa.Column("msisdn", sa.String(15), nullable=True),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
    sa.Column("proposed_decision", sa.String(24), nullable=True),
    sa.Column("proposed_by", sa.String(128), nullable=True),
    sa.Column("proposed_reason", sa.String(500), nullable=True),
    sa.Column("decided_by", sa.String(128), nullable=True),
    sa.Column("closed_at", UtcDateTime(), nullable=True),
    sa.Column("requested_by", sa.String(128), nullable=True),
    sa.Column("request_reason", sa.String(500), nullable=True),
    sa.Column("similarity", sa.Float(), nullable=True),
    sa.Index("ix_review_case_state", "state", "opened_at"),
)

terminal = sa.Table(
    "terminal",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("outlet_code", sa.String(32), sa.ForeignKey("outlet.code"), nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("public_key", sa.LargeBinary, nullable=False, unique=True),
    sa.Column("enrolled_at", UtcDateTime(), nullable=False),
    sa.Column("enrolled_by", sa.String(128), nullable=False),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
)

reader_nonce = sa.Table(
    "reader_nonce",
    metadata,
    sa.Column("terminal_id", sa.String(64), sa.ForeignKey("terminal.id"), primary_key=True),
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("seen_at", UtcDateTime(), nullable=False),
)

self_code = sa.Table(
    "self_code",
    metadata,
    sa.Column("attempt_id", sa.String(64), sa.ForeignKey("attempt.id"), primary_key=True),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("issued_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("tries_left", sa.Integer, nullable=False),
    sa.CheckConstraint("tries_left >= 0", name="tries_left"),
)

throttle_event = sa.Table(
    "throttle_event",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("scope", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(128), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_throttle_event_scope", "scope", "subject", "at"),
)
