"""Databases for the storage suite: SQLite always, PostgreSQL when REALNAME_TEST_POSTGRES_URL is set.

Each PostgreSQL test gets a schema of its own (dropped afterwards), so tests never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from realname.adapters.storage.database import create_database_engine, normalise_url
from realname.adapters.storage.migrate import upgrade

POSTGRES_URL = os.environ.get("REALNAME_TEST_POSTGRES_URL", "")


def _postgres_engine() -> Iterator[sa.Engine]:
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL suite: set REALNAME_TEST_POSTGRES_URL (CI sets it) to run it")
    schema = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(normalise_url(POSTGRES_URL))
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine = sa.create_engine(
        normalise_url(POSTGRES_URL),
        connect_args={"options": f"-csearch_path={schema}"},
        pool_size=25,
        max_overflow=5,
    )
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        created = create_database_engine(f"sqlite:///{tmp_path / 'realname.db'}")
        upgrade(created)
        yield created
        created.dispose()
        return
    for created in _postgres_engine():
        upgrade(created)
        yield created
