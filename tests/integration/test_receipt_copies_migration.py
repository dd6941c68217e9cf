"""Migration 0014 on SQLite and PostgreSQL: the encrypted printable receipt copies, as ``tables.py`` declares them;
and back down."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from realname.adapters.storage import tables as t
from realname.adapters.storage.migrate import downgrade, upgrade


def test_0014_creates_the_receipt_copies_as_tables_declares_and_goes_back_down(engine: sa.Engine) -> None:
    with engine.begin() as c:
        diffs = compare_metadata(MigrationContext.configure(c), t.metadata)
    assert [d for d in diffs if "receipt_copy" in repr(d)] == []
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("receipt_copy")}
    assert "ix_receipt_copy_delete_after" in indexes

    downgrade(engine, "0013_staff_sessions")
    assert "receipt_copy" not in sa.inspect(engine).get_table_names()
    upgrade(engine)
    assert "receipt_copy" in sa.inspect(engine).get_table_names()
