"""Alembic environment: runs on the connection handed over by :func:`realname.adapters.storage.migrate.upgrade`."""

from __future__ import annotations

from alembic import context

from realname.adapters.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `realname init` or realname.adapters.storage.migrate.upgrade")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
