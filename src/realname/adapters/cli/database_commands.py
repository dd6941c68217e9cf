"""Database administration commands that need no running service: the restricted PostgreSQL role."""

from __future__ import annotations

import click

from realname.adapters.cli.errors import reports_errors
from realname.adapters.storage.roles import app_role_statements


@click.group("db")
def db_group() -> None:
    """Database administration."""


@db_group.command("app-role-sql")
@click.argument("role")
@click.option("--schema", default="public", show_default=True, help="Schema that holds realname's tables.")
@reports_errors
def app_role_sql(role: str, schema: str) -> None:
    """Print the SQL that lets PostgreSQL ROLE run the service without UPDATE/DELETE on the audit log.

    Run the output as the tables' owner (e.g. `realname db app-role-sql realname_app | psql ...`), then
    point `serve` at a login of ROLE; keep migrations (`realname init`) with the owner.
    """
    for statement in app_role_statements(role, schema):
        click.echo(statement + ";")
