"""Integrity: key fingerprints, one SIM per live binding, an append-only audit log enforced by the database.

- ``key_fingerprint``: the fingerprints (never the keys) of the key material the data was written with;
  start-up and every command compare the key file against them.
- ``uq_binding_active_iccid``: an ICCID is on at most one live binding (``ended_at IS NULL``).
- Triggers refuse UPDATE and DELETE on ``audit_event`` and ``audit_checkpoint`` (and TRUNCATE on
  PostgreSQL), and let ``audit_head`` only advance by one, to an event that exists.

Self-contained (it needs nothing from other 0004 revisions), so it can be chained after them by
changing ``down_revision`` only.

Revision ID: 0004_integrity
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from realname.adapters.storage.tables import UtcDateTime
from realname.domain.errors import DependencyUnavailable

revision = "0004_integrity"
down_revision = "0003"
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("audit_event", "audit_checkpoint")

_SQLITE_TRIGGERS = [
    *(
        f"CREATE TRIGGER {table}_append_only_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        for table in APPEND_ONLY_TABLES
        for verb in ("UPDATE", "DELETE")
    ),
    "CREATE TRIGGER audit_head_advances_only BEFORE UPDATE ON audit_head "
    "WHEN NEW.id <> OLD.id OR NEW.last_seq <> OLD.last_seq + 1 OR NOT EXISTS "
    "(SELECT 1 FROM audit_event WHERE seq = NEW.last_seq AND hash = NEW.last_hash) "
    "BEGIN SELECT RAISE(ABORT, 'audit_head only advances by one, to an existing event'); END",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
    "BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END",
]

_POSTGRES_STATEMENTS = [
    """
    CREATE FUNCTION realname_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'integrity_constraint_violation';
    END
    $$
    """,
    """
    CREATE FUNCTION realname_audit_head_advances() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.id <> OLD.id OR NEW.last_seq <> OLD.last_seq + 1 OR NOT EXISTS (
            SELECT 1 FROM audit_event WHERE seq = NEW.last_seq AND hash = NEW.last_hash
        ) THEN
            RAISE EXCEPTION 'audit_head only advances by one, to an existing event'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    *(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION realname_refuse_change()"
        for table in APPEND_ONLY_TABLES
    ),
    *(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION realname_refuse_change()"
        for table in (*APPEND_ONLY_TABLES, "audit_head")
    ),
    "CREATE TRIGGER audit_head_advances_only BEFORE UPDATE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION realname_audit_head_advances()",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION realname_refuse_change()",
]


def _refuse_if_a_sim_is_on_two_live_bindings() -> None:
    shared = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT COUNT(*) FROM (SELECT iccid FROM binding WHERE ended_at IS NULL "
                "GROUP BY iccid HAVING COUNT(*) > 1) AS shared"
            )
        )
        .scalar_one()
    )
    if shared:
        raise DependencyUnavailable(
            f"{shared} SIM cards (ICCIDs) are on more than one live binding; end the wrong bindings "
            "before upgrading (the database now allows one live binding per SIM)",
            code="database.migration_refused",
        )


def upgrade() -> None:
    _refuse_if_a_sim_is_on_two_live_bindings()
    op.create_table(
        "key_fingerprint",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("retired_at", UtcDateTime(), nullable=True),
    )
    op.create_index(
        "uq_binding_active_iccid",
        "binding",
        ["iccid"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_TRIGGERS if dialect == "sqlite" else _POSTGRES_STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        triggers = [f"{t}_append_only_{v}" for t in APPEND_ONLY_TABLES for v in ("update", "delete")]
        for trigger in (*triggers, "audit_head_advances_only", "audit_head_no_delete"):
            op.execute(f"DROP TRIGGER {trigger}")
    else:
        op.execute("DROP FUNCTION realname_refuse_change() CASCADE")  # and the triggers that use it
        op.execute("DROP FUNCTION realname_audit_head_advances() CASCADE")
    op.drop_index("uq_binding_active_iccid", "binding")
    op.drop_table("key_fingerprint")
