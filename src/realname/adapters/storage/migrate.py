"""Apply Alembic migrations programmatically (used by ``realname init``, ``serve`` and the tests)."""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from realname.domain.errors import DependencyUnavailable


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("realname.adapters.storage") / "migrations"))
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` inside one transaction.

    Raises:
        DependencyUnavailable: ``database.unavailable`` when no connection can be made (a server down,
            a wrong address or password), ``database.migration_failed`` when a migration itself fails.
    """
    config = _config()
    try:
        connection = engine.connect()
    except sa.exc.SQLAlchemyError as exc:
        raise DependencyUnavailable("the database is unavailable", code="database.unavailable") from exc
    try:
        with connection, connection.begin():
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except sa.exc.SQLAlchemyError as exc:
        raise DependencyUnavailable("migrating the database failed", code="database.migration_failed") from exc


def pending(engine: sa.Engine) -> bool:
    """Whether the database is behind the newest migration (``/readyz`` reports it)."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current != head


def downgrade(engine: sa.Engine, revision: str) -> None:
    """Take the schema back to ``revision`` inside one transaction (operators and the migration tests)."""
    config = _config()
    with engine.connect() as connection, connection.begin():
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
