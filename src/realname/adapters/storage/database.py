"""Engine creation for SQLite (WAL, foreign keys, immediate write transactions) and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import event

from realname.domain.errors import DependencyUnavailable, InvalidInput


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.removeprefix("postgres://")
    return url


def create_database_engine(url: str, *, pool_size: int = 10) -> sa.Engine:
    """Build an engine; for SQLite, create the parent folder and set the pragmas on every connection."""
    url = normalise_url(url)
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise InvalidInput("the database URL cannot be parsed", code="config.database_url") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size)
        _ping_when_idle(engine)
        return engine
    raise InvalidInput("only sqlite:// and postgresql:// databases are supported", code="config.database_url")


PING_AFTER_IDLE_SECONDS = 10.0
"""A pooled PostgreSQL connection idle this long is pinged before use (and replaced if dead)."""


def _ping_when_idle(engine: sa.Engine) -> None:
    """Ping a pooled connection before use only when it sat idle for ``PING_AFTER_IDLE_SECONDS``.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: one more round trip for every transaction, which
    was a tenth of a relying party's check. A connection that was in use moments ago is almost surely alive;
    when it is not after all, its transaction fails like any database failure (503, fail closed) and the pool
    replaces it.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
        except psycopg.Error as exc:
            # The pool discards this connection and checks out another (a new one when none is left).
            raise sa.exc.DisconnectionError("a pooled connection was dead") from exc


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin, so that "begin" below
        # can take the write lock at once (BEGIN IMMEDIATE) and concurrent writers queue instead of
        # failing with "database is locked" when they upgrade a read lock.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def database_file_missing(url: str) -> bool:
    """True for a SQLite database whose file does not exist yet (so nothing is created by looking)."""
    try:
        parsed = sa.make_url(normalise_url(url))
    except sa.exc.ArgumentError:
        return False
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return False
    return not Path(parsed.database).exists()


def check_database(engine: sa.Engine) -> None:
    """Raise DependencyUnavailable when the database cannot answer a trivial query."""
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        raise DependencyUnavailable("the database is unavailable", code="database.unavailable") from exc
