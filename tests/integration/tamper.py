"""What an attacker with the database owner's rights can do that the service never does: drop the triggers
that keep the audit log append-only (migration 0004), so a test can go on to edit, delete or truncate.

Tests that tamper with the audit log call :func:`drop_audit_guards` first and then show that
verification (hash chain, signed checkpoints, the witness outside the database) still catches it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa

from realname.adapters.storage import tables as t
from realname.adapters.storage.repositories import event_row
from realname.domain.audit import AuditEvent

_SQLITE_TRIGGERS = (
    "audit_event_append_only_update",
    "audit_event_append_only_delete",
    "audit_checkpoint_append_only_update",
    "audit_checkpoint_append_only_delete",
    "audit_head_advances_only",
    "audit_head_no_delete",
)


def drop_audit_guards(connection: sa.Connection) -> None:
    """Remove the append-only triggers, as only the database owner could."""
    if connection.dialect.name == "sqlite":
        for trigger in _SQLITE_TRIGGERS:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
        return
    connection.exec_driver_sql("DROP FUNCTION IF EXISTS realname_refuse_change() CASCADE")
    connection.exec_driver_sql("DROP FUNCTION IF EXISTS realname_audit_head_advances() CASCADE")


def drop_audit_guards_in_file(database: Path) -> None:
    """The same on a SQLite file, with the standard library (as a person at a shell would)."""
    with sqlite3.connect(database) as db:
        for trigger in _SQLITE_TRIGGERS:
            db.execute(f"DROP TRIGGER IF EXISTS {trigger}")


def insert_forged_event(connection: sa.Connection, forged: AuditEvent) -> None:
    """Write an event the service never wrote into its chain (the chain's head is the caller's to move)."""
    connection.execute(t.audit_event.insert().values(event_row(forged)))
