"""A real service on a temporary data folder: SQLite, a generated key file, the installed models."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from realname.adapters.http.app import create_app
from realname.adapters.storage.database import normalise_url
from realname.app.actors import OPERATOR_CLI
from realname.app.ports import Clock, RandomSource
from realname.bootstrap import Container
from realname.config import Settings
from realname.domain.organisation import Role
from tests.conftest import REPO_ROOT
from tests.e2e.flows import SentCodes, install_kiosks
from tests.fakes import FixedClock

MODELS_DIR = Path(os.environ.get("REALNAME_MODELS_DIR", REPO_ROOT / "var" / "models"))


def settings_for(data_dir: Path, **overrides: object) -> Settings:
    return Settings(**{"env": "test", "data_dir": data_dir, "models_dir": MODELS_DIR, **overrides})  # type: ignore[arg-type]


@dataclass
class Service:
    container: Container
    client: TestClient
    codes: SentCodes

    def staff(self, role: Role = Role.CLERK, outlet: str = "BJ-001", name: str = "Li Lei") -> dict[str, str]:
        """Create a staff member and sign them in; return the Authorization header."""
        created = self.container.registry().add_staff(OPERATOR_CLI, name, role, outlet, password_change_required=False)
        return self.sign_in(created.staff_code, created.password)

    def sign_in(self, staff_code: str, password: str) -> dict[str, str]:
        """Sign an existing staff member in through the API; return the Authorization header."""
        response = self.client.post("/v1/auth/token", json={"staff_code": staff_code, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


def open_service(
    data_dir: Path, *, clock: Clock | None = None, random: RandomSource | None = None, **overrides: object
) -> Iterator[Service]:
    """A service with outlets BJ-001 and SH-001; ``clock``/``random`` replace the system's, ``overrides`` settings."""
    codes = SentCodes()
    container = Container(settings_for(data_dir, **overrides), clock=clock, random=random, code_sender=codes)
    container.initialise()
    registry = container.registry()
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
    registry.add_outlet(OPERATOR_CLI, "SH-001", "Shanghai Nanjing Road")
    with TestClient(create_app(container.http_services()), raise_server_exceptions=False) as client:
        install_kiosks(client, container, ("BJ-001", "SH-001"))
        yield Service(container, client, codes)
    container.engine.dispose()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    yield from open_service(tmp_path / "data")


POSTGRES_URL = os.environ.get("REALNAME_TEST_POSTGRES_URL", "")


@contextmanager
def database_url_for(kind: str, data_dir: Path) -> Iterator[str | None]:
    """``None`` (the data folder's SQLite) or a PostgreSQL URL on a fresh schema, dropped afterwards."""
    if kind == "sqlite":
        yield None
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL suite: set REALNAME_TEST_POSTGRES_URL (CI sets it) to run it")
    schema = f"e_{secrets.token_hex(6)}"
    admin = sa.create_engine(normalise_url(POSTGRES_URL))
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def service_on(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    """The service on SQLite, and on PostgreSQL when REALNAME_TEST_POSTGRES_URL is set, with a fixed clock."""
    with database_url_for(request.param, tmp_path / "data") as url:
        yield from open_service(
            tmp_path / "data",
            clock=FixedClock(),
            database_url=url,
            token_ttl_minutes=24 * 60,
            idle_lock_minutes=24 * 60,
        )
