"""Migration 0013 on SQLite and PostgreSQL: what ``tables.py`` declares for staff sessions, the password-change flag
and a visit's kept receipt; existing members keep their password (no change required); and back down."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from realname.adapters.storage import tables as t
from realname.adapters.storage.migrate import downgrade, upgrade

NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
NEW = ("staff_session", "password_change_required", "visit_ended_at", "receipt")


def test_0013_creates_what_tables_declares_keeps_members_passwords_and_goes_back_down(engine: sa.Engine) -> None:
    with engine.begin() as c:
        diffs = compare_metadata(MigrationContext.configure(c), t.metadata)
    assert [d for d in diffs if any(name in repr(d) for name in NEW)] == []

    downgrade(engine, "0011_staff_codes")
    inspector = sa.inspect(engine)
    assert "staff_session" not in inspector.get_table_names()
    assert "password_change_required" not in {col["name"] for col in inspector.get_columns("staff")}
    assert not {"visit_ended_at", "receipt"} & {col["name"] for col in inspector.get_columns("attempt")}
    with engine.begin() as c:
        c.execute(t.outlet.insert().values(code="BJ-001", name="Beijing Xidan", created_at=NOW))
        c.execute(
            sa.text(
                "INSERT INTO staff (id, name_ciphertext, role, outlet_code, credential_hash, created_at, active, code) "
                "VALUES ('s-1', :name, 'clerk', 'BJ-001', 'h', :now, :active, 'LL0001')"
            ),
            {"name": b"x", "now": NOW, "active": True},
        )

    upgrade(engine)
    with engine.begin() as c:
        required = c.execute(sa.select(t.staff.c.password_change_required).where(t.staff.c.id == "s-1")).scalar()
        c.execute(t.staff_session.insert().values(session_key="s-1:1", staff_id="s-1", last_active_at=NOW))
        stored = c.execute(sa.select(t.staff_session.c.last_active_at)).scalar()
    assert required is False  # a member from before keeps their password
    assert stored == NOW
