"""Storage of terminals, signed-read nonces and the 0005 migration, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from realname.adapters.storage import tables as t
from realname.adapters.storage.database import create_database_engine
from realname.adapters.storage.migrate import downgrade, upgrade
from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.domain.errors import Conflict
from realname.domain.organisation import Outlet, OutletCode
from realname.domain.terminals import Terminal
from tests.integration.conftest import _postgres_engine

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
NEW_TABLES = {"terminal", "reader_nonce", "self_code", "throttle_event"}
NEW_ATTEMPT_COLUMNS = {"terminal_id", "reader_digest", "name_ciphertext"}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_at_0004(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        created = create_database_engine(f"sqlite:///{tmp_path / 'old.db'}")
        upgrade(created, "0004_integrity")
        yield created
        created.dispose()
        return
    for created in _postgres_engine():
        upgrade(created, "0004_integrity")
        yield created


def schema_of(engine: sa.Engine) -> tuple[set[str], set[str]]:
    inspector = sa.inspect(engine)
    return set(inspector.get_table_names()), {c["name"] for c in inspector.get_columns("attempt")}


def test_migration_0005_keeps_data_matches_the_tables_and_goes_back_down(engine_at_0004: sa.Engine) -> None:
    with engine_at_0004.begin() as c:
        c.execute(t.outlet.insert().values(code="BJ-001", name="Beijing", created_at=NOW))
        c.execute(
            sa.text(
                "INSERT INTO attempt (id, purpose, outlet_code, clerk_ref, device_id, state, created_at, expires_at) "
                "VALUES ('a1', 'register', 'BJ-001', 'staff:x', 'kiosk-1', 'started', :now, :now)"
            ),
            {"now": NOW.replace(tzinfo=None) if engine_at_0004.dialect.name == "sqlite" else NOW},
        )
    upgrade(engine_at_0004)
    tables, columns = schema_of(engine_at_0004)
    assert tables >= NEW_TABLES and columns >= NEW_ATTEMPT_COLUMNS
    with engine_at_0004.connect() as c:
        row = c.execute(sa.select(t.attempt.c.id, t.attempt.c.terminal_id)).one()
        assert tuple(row) == ("a1", None)
        # The migration creates what tables.py declares for the new tables and columns.
        diffs = compare_metadata(MigrationContext.configure(c), t.metadata)
    mine = [d for d in diffs if NEW_TABLES & set(map(str, _names(d))) or NEW_ATTEMPT_COLUMNS & set(_names(d))]
    assert mine == []

    downgrade(engine_at_0004, "0004_integrity")
    tables, columns = schema_of(engine_at_0004)
    assert not NEW_TABLES & tables and not NEW_ATTEMPT_COLUMNS & columns
    upgrade(engine_at_0004)
    assert schema_of(engine_at_0004)[0] >= NEW_TABLES


def _names(diff: object) -> list[str]:
    """Table and column names mentioned by one compare_metadata entry."""
    found: list[str] = []
    for part in diff if isinstance(diff, list | tuple) else (diff,):
        if isinstance(part, list | tuple):
            found.extend(_names(part))
        elif isinstance(part, sa.Table | sa.Column):
            found.append(part.name)
        elif isinstance(part, sa.Index) and part.table is not None:
            found.append(part.table.name)
        elif isinstance(part, str):
            found.append(part)
    return found


def enrolled(engine: sa.Engine) -> Terminal:
    terminal = Terminal("term-1", "BJ-001", "Counter 1", b"\x07" * 32, NOW, "cli:operator")
    with SqlUnitOfWork(engine) as uow:
        uow.outlets.add(Outlet(OutletCode("BJ-001"), "Beijing Xidan", NOW))
        uow.terminals.add(terminal)
        uow.commit()
    return terminal


def test_a_nonce_is_claimed_once_also_by_racing_requests(engine: sa.Engine) -> None:
    terminal = enrolled(engine)
    with SqlUnitOfWork(engine) as uow:
        assert uow.terminals.claim_nonce(terminal.id, "n" * 22, NOW) is True
        assert uow.terminals.claim_nonce(terminal.id, "n" * 22, NOW) is False  # same transaction
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert uow.terminals.claim_nonce(terminal.id, "n" * 22, NOW) is False

    results: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        with SqlUnitOfWork(engine) as uow:
            won = uow.terminals.claim_nonce(terminal.id, "race-nonce-0123456789", NOW)
            uow.commit()
            results.append(won)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def test_a_public_key_is_enrolled_once_and_a_revocation_sticks(engine: sa.Engine) -> None:
    terminal = enrolled(engine)
    with SqlUnitOfWork(engine) as uow, pytest.raises(Conflict) as caught:
        uow.terminals.add(Terminal("term-2", "BJ-001", "Copy", terminal.public_key, NOW, "cli:operator"))
    assert caught.value.code == "terminal.key_in_use"
    with SqlUnitOfWork(engine) as uow:
        assert uow.terminals.revoke(terminal.id, NOW) is True
        assert uow.terminals.revoke(terminal.id, NOW) is False
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        stored = uow.terminals.get(terminal.id)
    assert stored is not None and not stored.active and stored.revoked_at == NOW
