"""Schemathesis over the OpenAPI spec: generated requests to every operation, signed in as a clerk and as
nobody; none may produce a server error (5xx) or a response that breaks the spec's status codes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from realname.adapters.http.app import create_app
from realname.app.actors import OPERATOR_CLI
from realname.bootstrap import Container
from realname.domain.numbers import Msisdn
from realname.domain.organisation import Role
from tests.e2e.conftest import settings_for

EXAMPLES_PER_OPERATION = 30


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"
    container = Container(settings_for(data_dir))
    container.initialise()
    registry = container.registry()
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
    registry.import_numbers(OPERATOR_CLI, [Msisdn(f"1380013{i:04d}") for i in range(20)], source="fuzz")
    created = registry.add_staff(OPERATOR_CLI, "Fuzz Clerk", Role.CLERK, "BJ-001", password_change_required=False)
    signed = container.staff_auth.sign_in(created.staff_code, created.password)
    app = create_app(container.http_services())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.headers = {"Authorization": f"Bearer {signed.token}"}
    yield schema
    container.engine.dispose()


def exercise_operation(operation: schemathesis.APIOperation[Any, Any, Any, Any], seen: list[int]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
    def exercise(case: schemathesis.Case[Any]) -> None:
        response = case.call()
        seen.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code >= 400:
            assert set(response.json()) == {"code", "message", "request_id"}, response.text

    exercise()


def test_no_operation_answers_with_a_server_error(api_schema: schemathesis.BaseSchema) -> None:
    statuses: dict[str, list[int]] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid operation raises here, failing the test
        exercise_operation(operation, statuses.setdefault(operation.label, []))
    calls = sum(len(v) for v in statuses.values())
    codes = sorted({c for v in statuses.values() for c in v})
    print(f"schemathesis: {len(statuses)} operations, {calls} generated requests, 0 server errors; statuses {codes}")
    assert 200 in codes or 201 in codes, "the generated requests never got past authentication"
    assert len(statuses) >= 20 and calls >= 20 * 10
