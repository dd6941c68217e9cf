"""Audit chains: the audit log becomes 16 hash chains, each with its own head row, so that concurrent
writers no longer queue for one head (issue 15).

- ``audit_event`` gains ``chain`` (0–15); its primary key becomes ``(chain, seq)``. Every existing
  event becomes chain 0's history unchanged (chain 0 hashes exactly as the single chain did).
- ``audit_head`` holds one row per chain (``chain`` replaces ``id``): chain 0 takes the old head,
  chains 1–15 start empty. Rows are never inserted or deleted after this migration.
- ``audit_checkpoint.heads``: the chain heads (JSON) a format-2 checkpoint's Merkle root commits to.
- The append-only triggers are re-created for the new shape; a head advances by one, to an event of
  its own chain.

Revision ID: 0008_audit_chains
Revises: 0007_parties
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from realname.adapters.storage.tables import UtcDateTime
from realname.domain.errors import DependencyUnavailable

revision = "0008_audit_chains"
down_revision = "0007_parties"
branch_labels = None
depends_on = None

CHAINS = 16
GENESIS = "0" * 64
SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")

_OLD_SQLITE_TRIGGERS = (
    "audit_event_append_only_update",
    "audit_event_append_only_delete",
    "audit_head_advances_only",
    "audit_head_no_delete",
)

_SQLITE_TRIGGERS = [
    *(
        f"CREATE TRIGGER audit_event_append_only_{verb.lower()} BEFORE {verb} ON audit_event "
        "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
        for verb in ("UPDATE", "DELETE")
    ),
    "CREATE TRIGGER audit_head_advances_only BEFORE UPDATE ON audit_head "
    "WHEN NEW.chain <> OLD.chain OR NEW.last_seq <> OLD.last_seq + 1 OR NOT EXISTS "
    "(SELECT 1 FROM audit_event WHERE chain = NEW.chain AND seq = NEW.last_seq AND hash = NEW.last_hash) "
    "BEGIN SELECT RAISE(ABORT, 'audit_head only advances by one, to an existing event of its chain'); END",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
    "BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END",
    "CREATE TRIGGER audit_head_no_insert BEFORE INSERT ON audit_head "
    "BEGIN SELECT RAISE(ABORT, 'audit_head rows are made by migrations only'); END",
]

_POSTGRES_STATEMENTS = [
    """
    CREATE OR REPLACE FUNCTION realname_audit_head_advances() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.chain <> OLD.chain OR NEW.last_seq <> OLD.last_seq + 1 OR NOT EXISTS (
            SELECT 1 FROM audit_event WHERE chain = NEW.chain AND seq = NEW.last_seq AND hash = NEW.last_hash
        ) THEN
            RAISE EXCEPTION 'audit_head only advances by one, to an existing event of its chain'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    "CREATE TRIGGER audit_head_advances_only BEFORE UPDATE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION realname_audit_head_advances()",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION realname_refuse_change()",
    "CREATE TRIGGER audit_head_no_insert BEFORE INSERT ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION realname_refuse_change()",
    "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION realname_refuse_change()",
]


def _event_table(name: str, *, chained: bool) -> list[sa.schema.SchemaItem]:
    columns: list[sa.schema.SchemaItem] = []
    if chained:
        columns.append(sa.Column("chain", sa.SmallInteger, nullable=False, server_default=sa.text("0")))
    columns += [
        sa.Column("seq", SEQ, nullable=False, autoincrement=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("outlet", sa.String(32), nullable=True),
        sa.Column("subject", sa.String(128), nullable=True),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint(*(("chain", "seq") if chained else ("seq",)), name=f"pk_{name}"),
    ]
    return columns


def _rebuild_sqlite_events(*, chained: bool) -> None:
    """SQLite cannot change a primary key in place: copy into a new table (in the migration's transaction)."""
    op.create_table("audit_event_rebuilt", *_event_table("audit_event", chained=chained))
    op.execute(
        "INSERT INTO audit_event_rebuilt (seq, occurred_at, action, actor, outlet, subject, details, prev_hash, hash) "
        "SELECT seq, occurred_at, action, actor, outlet, subject, details, prev_hash, hash FROM audit_event"
    )
    op.drop_index("ix_audit_event_subject", "audit_event")
    op.drop_table("audit_event")
    op.rename_table("audit_event_rebuilt", "audit_event")
    op.create_index("ix_audit_event_subject", "audit_event", ["subject", "seq"])


def _replace_heads(*, chained: bool) -> None:
    bind = op.get_bind()
    old = bind.execute(sa.text("SELECT last_seq, last_hash FROM audit_head")).all()
    if chained:
        last_seq, last_hash = old[0] if old else (0, GENESIS)
        rows = [{"chain": 0, "last_seq": last_seq, "last_hash": last_hash}]
        rows += [{"chain": c, "last_seq": 0, "last_hash": GENESIS} for c in range(1, CHAINS)]
    else:
        chain_zero = bind.execute(sa.text("SELECT last_seq, last_hash FROM audit_head WHERE chain = 0")).one()
        rows = [{"id": 1, "last_seq": chain_zero[0], "last_hash": chain_zero[1]}]
    op.drop_table("audit_head")
    key = sa.Column("chain", sa.SmallInteger, primary_key=True, autoincrement=False)
    check = sa.CheckConstraint(f"chain >= 0 AND chain < {CHAINS}", name="chain_range")
    if not chained:
        key = sa.Column("id", sa.Integer, primary_key=True, autoincrement=False)
        check = sa.CheckConstraint("id = 1", name="single_row")
    head = op.create_table(
        "audit_head",
        key,
        sa.Column("last_seq", SEQ, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        check,
    )
    op.bulk_insert(head, rows)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in _OLD_SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        _rebuild_sqlite_events(chained=True)
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_head_advances_only ON audit_head")
        op.add_column("audit_event", sa.Column("chain", sa.SmallInteger, nullable=False, server_default=sa.text("0")))
        pk = sa.inspect(op.get_bind()).get_pk_constraint("audit_event")["name"]
        op.execute(f"ALTER TABLE audit_event DROP CONSTRAINT {pk}")
        op.create_primary_key("pk_audit_event", "audit_event", ["chain", "seq"])
    _replace_heads(chained=True)
    op.create_index("ix_audit_event_occurred_at", "audit_event", ["occurred_at"])
    op.add_column("audit_checkpoint", sa.Column("heads", sa.Text, nullable=True))
    if dialect == "sqlite":
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _POSTGRES_STATEMENTS:
            op.execute(statement)
        # audit_event keeps its 0004 append-only and no-truncate triggers (they name no column).


def downgrade() -> None:
    bind = op.get_bind()
    beyond = bind.execute(sa.text("SELECT COUNT(*) FROM audit_event WHERE chain <> 0")).scalar_one()
    if beyond:
        raise DependencyUnavailable(
            f"{beyond} audit events are in chains other than 0; a single-chain schema cannot hold them",
            code="database.migration_refused",
        )
    dialect = bind.dialect.name
    if dialect == "sqlite":
        for trigger in (*_OLD_SQLITE_TRIGGERS, "audit_head_no_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    else:
        for trigger in ("audit_head_advances_only", "audit_head_no_delete", "audit_head_no_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON audit_head")
    with op.batch_alter_table("audit_checkpoint") as batch:
        batch.drop_column("heads")
    if dialect == "sqlite":  # the batch copy of the table dropped its triggers
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_checkpoint_append_only_{verb.lower()}")
            op.execute(
                f"CREATE TRIGGER audit_checkpoint_append_only_{verb.lower()} BEFORE {verb} ON audit_checkpoint "
                "BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END"
            )
    op.drop_index("ix_audit_event_occurred_at", "audit_event")
    _replace_heads(chained=False)
    if dialect == "sqlite":
        _rebuild_sqlite_events(chained=False)
        op.execute(
            "CREATE TRIGGER audit_head_advances_only BEFORE UPDATE ON audit_head "
            "WHEN NEW.id <> OLD.id OR NEW.last_seq <> OLD.last_seq + 1 OR NOT EXISTS "
            "(SELECT 1 FROM audit_event WHERE seq = NEW.last_seq AND hash = NEW.last_hash) "
            "BEGIN SELECT RAISE(ABORT, 'audit_head only advances by one, to an existing event'); END"
        )
        for statement in _SQLITE_TRIGGERS[:2]:
            op.execute(statement)
        op.execute(
            "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
            "BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END"
        )
    else:
        op.execute("ALTER TABLE audit_event DROP CONSTRAINT pk_audit_event")
        op.drop_column("audit_event", "chain")
        op.create_primary_key("pk_audit_event", "audit_event", ["seq"])
        op.execute(
            """
            CREATE OR REPLACE FUNCTION realname_audit_head_advances() RETURNS trigger LANGUAGE plpgsql AS $$
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
            """
        )
        for statement in _POSTGRES_STATEMENTS[1:3]:
            op.execute(statement)
        op.execute(
            "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
            "FOR EACH STATEMENT EXECUTE FUNCTION realname_refuse_change()"
        )
