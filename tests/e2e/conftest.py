"""A real service on a temporary data folder: SQLite, a generated key file, the installed models."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from realname.adapters.http.app import create_app
from realname.app.actors import OPERATOR_CLI
from realname.app.ports import Clock, RandomSource
from realname.bootstrap import Container
from realname.config import Settings
from realname.domain.organisation import Role
from tests.conftest import REPO_ROOT

MODELS_DIR = Path(os.environ.get("REALNAME_MODELS_DIR", REPO_ROOT / "var" / "models"))


def settings_for(data_dir: Path, **overrides: object) -> Settings:
    return Settings(**{"env": "test", "data_dir": data_dir, "models_dir": MODELS_DIR, **overrides})  # type: ignore[arg-type]


@dataclass
class Service:
    container: Container
    client: TestClient

    def staff(self, role: Role = Role.CLERK, outlet: str = "BJ-001", name: str = "Li Lei") -> dict[str, str]:
        """Create a staff member and sign them in; return the Authorization header."""
        created = self.container.registry().add_staff(OPERATOR_CLI, name, role, outlet)
        return self.sign_in(created.staff_id, created.credential)

    def sign_in(self, staff_id: str, credential: str) -> dict[str, str]:
        """Sign an existing staff member in through the API; return the Authorization header."""
        response = self.client.post("/v1/auth/token", json={"staff_id": staff_id, "credential": credential})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


def open_service(
    data_dir: Path, *, clock: Clock | None = None, random: RandomSource | None = None, **overrides: object
) -> Iterator[Service]:
    """A service with outlets BJ-001 and SH-001; ``clock``/``random`` replace the system's, ``overrides`` settings."""
    container = Container(settings_for(data_dir, **overrides), clock=clock, random=random)
    container.initialise()
    registry = container.registry()
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
    registry.add_outlet(OPERATOR_CLI, "SH-001", "Shanghai Nanjing Road")
    with TestClient(create_app(container.http_services()), raise_server_exceptions=False) as client:
        yield Service(container, client)
    container.engine.dispose()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    yield from open_service(tmp_path / "data")
