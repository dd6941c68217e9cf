"""`realname staff add | list | disable | reset-credential` as an operator runs them, each change in the audit chain."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from realname.adapters.http.app import create_app
from realname.bootstrap import Container
from tests.e2e.conftest import settings_for
from tests.e2e.test_cli_registry import REALNAME


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``realname`` script in a subprocess (a generous timeout: a guard against a hang, not a speed
    target; a loaded machine takes minutes to start it)."""
    environment = {**os.environ, "REALNAME_DATA_DIR": str(data_dir), "REALNAME_LOG_LEVEL": "WARNING"}
    environment.pop("REALNAME_DATABASE_URL", None)
    return subprocess.run(
        [str(REALNAME), *args], capture_output=True, text=True, env=environment, timeout=900, check=False
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-staff") / "data"
    assert run(folder, "init").returncode == 0
    assert run(folder, "outlet", "add", "BJ-001", "Beijing Xidan").returncode == 0
    return folder


def audit_events(data_dir: Path, *actions: str) -> list[tuple[str, str, dict[str, object]]]:
    container = Container(settings_for(data_dir, database_url=None))
    try:
        with container.unit_of_work() as uow:
            return [(e.action, e.actor, dict(e.details)) for e in uow.audit.events() if e.action in actions]
    finally:
        container.engine.dispose()


def sign_in(data_dir: Path, code: str, password: str) -> tuple[int, str]:
    """The sign-in's status and error code; ``password_change_required`` as the code of a sign-in that must choose
    a password first."""
    container = Container(settings_for(data_dir, database_url=None))
    try:
        with TestClient(create_app(container.http_services()), raise_server_exceptions=False) as client:
            response = client.post("/v1/auth/token", json={"staff_code": code, "password": password})
            body = response.json()
            if response.status_code == 200 and body["password_change_required"]:
                return 200, "password_change_required"
            return response.status_code, str(body.get("code", ""))
    finally:
        container.engine.dispose()


def added(data_dir: Path, *args: str) -> tuple[str, str]:
    result = run(data_dir, "staff", "add", *args)
    assert result.returncode == 0, result.stderr
    code = re.search(r"staff code\s+(\S+)", result.stdout)
    password = re.search(r"password\s+(\S+)", result.stdout)
    assert code and password, result.stdout
    return code.group(1), password.group(1)


def test_staff_list_shows_codes_roles_outlets_and_states_but_no_names(data_dir: Path) -> None:
    code, _ = added(data_dir, "Ouyang Lihua", "--role", "clerk", "--outlet", "BJ-001")
    chosen, _ = added(data_dir, "Zhang Wei", "--role", "reviewer", "--outlet", "BJ-001", "--code", "zw01")
    assert chosen == "ZW01"
    taken = run(data_dir, "staff", "add", "Zhang Wen", "--role", "clerk", "--outlet", "BJ-001", "--code", "ZW01")
    assert taken.returncode == 4 and "[staff.code_in_use]" in taken.stderr
    bad = run(data_dir, "staff", "add", "Zhang Wen", "--role", "clerk", "--outlet", "BJ-001", "--code", "Z-1")
    assert bad.returncode == 2 and "[staff.code_invalid]" in bad.stderr

    listed = run(data_dir, "staff", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split()[1:4] for line in listed.stdout.splitlines()}
    assert rows[code] == ["clerk", "BJ-001", "active"] and rows["ZW01"] == ["reviewer", "BJ-001", "active"]
    assert "Ouyang" not in listed.stdout and "Zhang" not in listed.stdout
    as_json = [json.loads(line) for line in run(data_dir, "staff", "list", "--json").stdout.splitlines()]
    assert {(r["code"], r["role"], r["state"]) for r in as_json} >= {
        (code, "clerk", "active"),
        ("ZW01", "reviewer", "active"),
    }


def test_disable_refuses_the_members_sign_in_and_is_audited(data_dir: Path) -> None:
    code, password = added(data_dir, "Li Lei", "--role", "clerk", "--outlet", "BJ-001")
    assert sign_in(data_dir, code, password) == (200, "password_change_required")  # a new member's first sign-in

    disabled = run(data_dir, "staff", "disable", code.lower())
    assert disabled.returncode == 0, disabled.stderr
    assert sign_in(data_dir, code, password) == (403, "auth.staff_disabled")
    again = run(data_dir, "staff", "disable", code)
    assert again.returncode == 4 and "[staff.disabled_already]" in again.stderr
    missing = run(data_dir, "staff", "disable", "NO0000")
    assert missing.returncode == 3 and "[staff.not_found]" in missing.stderr
    listed = {line.split()[0]: line.split()[3] for line in run(data_dir, "staff", "list").stdout.splitlines()}
    assert listed[code] == "disabled"

    events = [e for e in audit_events(data_dir, "staff.disabled") if e[2]["code"] == code]
    assert [(action, actor) for action, actor, _ in events] == [("staff.disabled", "cli:operator")]


def test_reset_credential_prints_a_new_password_once_and_the_old_one_stops_working(data_dir: Path) -> None:
    code, old = added(data_dir, "Han Mei", "--role", "clerk", "--outlet", "BJ-001")
    reset = run(data_dir, "staff", "reset-credential", code)
    assert reset.returncode == 0, reset.stderr
    new = re.search(r"password\s+(\S+)", reset.stdout)
    assert new and new.group(1) != old and "shown only once" in reset.stderr
    assert sign_in(data_dir, code, old) == (401, "auth.invalid_credentials")
    assert sign_in(data_dir, code, new.group(1)) == (200, "password_change_required")

    events = [e for e in audit_events(data_dir, "staff.credential_reset") if e[2]["code"] == code]
    assert len(events) == 1 and events[0][1] == "cli:operator"
    assert new.group(1) not in json.dumps(events[0][2]) and old not in json.dumps(events[0][2])
    # And `realname audit verify` still finds the chain intact with these events in it.
    verified = run(data_dir, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
