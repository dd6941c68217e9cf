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
from realname.bootstrap import Container
from realname.config import Settings
from realname.domain.organisation import Role
from tests.conftest import REPO_ROOT

MODELS_DIR = Path(os.environ.get("REALNAME_MODELS_DIR", REPO_ROOT / "var" / "models"))


def settings_for(data_dir: Path, **overrides: object) -> Settings:
    return Settings(
        env="test",
        data_dir=data_dir,
        models_dir=MODELS_DIR,
        **overrides,  # type: ignore[arg-type]
    )


@dataclass
class Service:
    container: Container
    client: TestClient

    def staff(self, role: Role = Role.CLERK, outlet: str = "BJ-001", name: str = "Li Lei") -> dict[str, str]:
        """Create a staff member and sign them in; return the Authorization header."""
        created = self.container.registry().add_staff(OPERATOR_CLI, name, role, outlet)
        response = self.client.post(
            "/v1/auth/token", json={"staff_id": created.staff_id, "credential": created.credential}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    container = Container(settings_for(tmp_path / "data"))
    container.initialise()
    registry = container.registry()
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
    registry.add_outlet(OPERATOR_CLI, "SH-001", "Shanghai Nanjing Road")
    with TestClient(create_app(container.http_services()), raise_server_exceptions=False) as client:
        yield Service(container, client)
    container.engine.dispose()
