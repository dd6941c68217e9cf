"""The PostgreSQL role `realname db app-role-sql` describes: it runs the service (appends to the audit log,
writes the registry) but cannot change or remove audit rows even with the triggers gone, nor drop them."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from realname.adapters.cli.database_commands import db_group
from realname.adapters.storage.migrate import upgrade
from realname.adapters.storage.roles import app_role_statements
from realname.app.actors import OPERATOR_CLI
from realname.domain.errors import InvalidInput
from tests.integration.conftest import _postgres_engine
from tests.integration.tamper import drop_audit_guards
from tests.integration.test_registry_storage import make_registry, n


@pytest.fixture(params=["postgresql"])
def owner() -> Iterator[sa.Engine]:
    """A migrated PostgreSQL schema, connected as its owner (skips, like the whole PostgreSQL suite,
    without REALNAME_TEST_POSTGRES_URL)."""
    for engine in _postgres_engine():
        upgrade(engine)
        yield engine


@pytest.fixture
def service(owner: sa.Engine) -> Iterator[sa.Engine]:
    """The same schema, connected as a role made with `app_role_statements`."""
    role = f"realname_app_{secrets.token_hex(4)}"
    with owner.begin() as c:
        schema = c.execute(sa.text("SELECT current_schema()")).scalar_one()
        c.execute(sa.text(f"CREATE ROLE {role} NOLOGIN"))
        for statement in app_role_statements(role, schema):
            c.execute(sa.text(statement))
    engine = sa.create_engine(owner.url, connect_args={"options": f"-csearch_path={schema} -crole={role}"})
    yield engine
    engine.dispose()
    with owner.begin() as c:
        c.execute(sa.text(f"DROP OWNED BY {role}"))
        c.execute(sa.text(f"DROP ROLE {role}"))


def _refused(service: sa.Engine, statement: str) -> None:
    with pytest.raises(sa.exc.ProgrammingError) as caught, service.begin() as c:
        c.execute(sa.text(statement))
    message = str(caught.value.orig)
    assert "permission denied" in message or "must be owner" in message, message


def test_the_app_role_runs_the_service_but_cannot_change_the_audit_log(owner: sa.Engine, service: sa.Engine) -> None:
    with service.connect() as c:
        assert c.execute(sa.text("SELECT current_user")).scalar_one().startswith("realname_app_")
    registry = make_registry(service)
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")  # a registry write and an audit append
    registry.import_numbers(OPERATOR_CLI, [n(0)], source="test")
    assert registry.verify_audit(OPERATOR_CLI).intact
    for statement in (  # it cannot take the triggers away...
        "DROP TRIGGER audit_event_append_only ON audit_event",
        "ALTER TABLE audit_event DISABLE TRIGGER ALL",
        "DROP FUNCTION realname_refuse_change() CASCADE",
    ):
        _refused(service, statement)
    with owner.begin() as c:
        drop_audit_guards(c)  # ...and with them gone (only an owner can do that) it still cannot change rows
    for statement in (
        "UPDATE audit_event SET actor = 'staff:evil'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
        "DELETE FROM audit_checkpoint",
        "UPDATE audit_checkpoint SET last_hash = 'x'",
        "DELETE FROM audit_head",
        "DELETE FROM key_fingerprint",
    ):
        _refused(service, statement)
    assert registry.verify_audit(OPERATOR_CLI).intact


def test_the_role_sql_is_printed_by_the_cli_and_refuses_odd_names() -> None:
    printed = CliRunner().invoke(db_group, ["app-role-sql", "realname_app"])
    assert printed.exit_code == 0
    assert printed.stdout.splitlines() == [s + ";" for s in app_role_statements("realname_app")]
    assert "REVOKE UPDATE, DELETE, TRUNCATE ON public.audit_event, public.audit_checkpoint" in printed.stdout
    with pytest.raises(InvalidInput):
        app_role_statements("app; DROP TABLE audit_event")
    refused = CliRunner().invoke(db_group, ["app-role-sql", "Robert'); --"])
    assert refused.exit_code == 2 and "db.identifier" in refused.stderr
