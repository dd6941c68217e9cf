"""Migration 0009 on SQLite and PostgreSQL: the anomaly flags table as ``report_tables`` declares it, the audit
log's time index, and the regulator role in the staff table's check; and back down."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from realname.adapters.storage import tables as t
from realname.adapters.storage.migrate import downgrade, upgrade
from realname.adapters.storage.report_tables import report_metadata

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def add_staff(engine: sa.Engine, staff_id: str, role: str) -> None:
    with engine.begin() as c:
        c.execute(
            t.staff.insert().values(
                id=staff_id, name_ciphertext=b"x", role=role, outlet_code="BJ-001", credential_hash="h", created_at=NOW
            )
        )


def test_0009_creates_what_report_tables_declares_and_goes_back_down(engine: sa.Engine) -> None:
    with engine.begin() as c:
        c.execute(t.outlet.insert().values(code="BJ-001", name="Beijing Xidan", created_at=NOW))
        diffs = compare_metadata(MigrationContext.configure(c), report_metadata)
        indexes = {ix["name"] for ix in sa.inspect(c).get_indexes("audit_event")}
    assert [d for d in diffs if "anomaly_case" in repr(d)] == []
    assert "ix_audit_event_occurred_at" in indexes
    add_staff(engine, "reg-1", "regulator")
    with pytest.raises(sa.exc.IntegrityError):
        add_staff(engine, "boss-1", "boss")
    with engine.begin() as c:
        c.execute(t.staff.delete().where(t.staff.c.role == "regulator"))
    downgrade(engine, "0008_audit_chains")
    assert "anomaly_case" not in sa.inspect(engine).get_table_names()
    with pytest.raises(sa.exc.IntegrityError):
        add_staff(engine, "reg-2", "regulator")
    add_staff(engine, "aud-1", "auditor")  # the rows and the other roles survive the round trip
    upgrade(engine)
    add_staff(engine, "reg-3", "regulator")
    with engine.connect() as c:
        assert {r.id for r in c.execute(sa.select(t.staff.c.id))} == {"aud-1", "reg-3"}
