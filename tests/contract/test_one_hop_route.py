"""``OneHopRoute``: a blocking endpoint still runs off the event loop, with the same parameters, response model,
errors and OpenAPI operation as a plain FastAPI route, and its response is validated without a second hop."""

from __future__ import annotations

import inspect
import threading
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from realname.adapters.http.routing import OneHopRoute


class Answer(BaseModel):
    value: int
    thread: int


def app_with(route_class: type[APIRoute]) -> tuple[FastAPI, list[int]]:
    """An app with one blocking endpoint; the list collects the threads its requests ran on."""
    threads: list[int] = []
    router = APIRouter(prefix="/v1", route_class=route_class)

    @router.post("/items/{item_id}", response_model=Answer, status_code=201, tags=["items"])
    def create_item(item_id: int, x_factor: Annotated[int, Header()] = 1) -> dict[str, Any]:
        """Doubles the item id (the docstring is the operation's description)."""
        threads.append(threading.get_ident())
        if item_id < 0:
            raise ValueError("negative")
        return {"value": 2 * item_id * x_factor, "thread": threading.get_ident(), "dropped": "not in the model"}

    @router.get("/coroutine")
    async def coroutine() -> dict[str, int]:
        threads.append(threading.get_ident())
        return {"thread": threading.get_ident()}

    app = FastAPI()
    app.include_router(router)
    return app, threads


def test_a_blocking_endpoint_answers_as_a_plain_route_does_and_off_the_event_loop() -> None:
    one_hop, threads = app_with(OneHopRoute)
    plain, _ = app_with(APIRoute)
    with TestClient(one_hop) as client, TestClient(plain) as reference:
        answered = client.post("/v1/items/21", headers={"X-Factor": "2"})
        assert answered.status_code == 201
        assert answered.json()["value"] == 84 and set(answered.json()) == {"value", "thread"}
        loop_thread = client.get("/v1/coroutine").json()["thread"]
        assert threads[0] != loop_thread  # the blocking endpoint ran in the thread pool
        invalid = client.post("/v1/items/abc")
        assert invalid.status_code == reference.post("/v1/items/abc").status_code == 422
        assert invalid.json() == reference.post("/v1/items/abc").json()
        assert client.get("/openapi.json").json() == reference.get("/openapi.json").json()


def test_fastapi_sees_a_coroutine_so_the_response_is_validated_without_a_second_hop() -> None:
    """FastAPI validates a coroutine endpoint's response on the event loop, a plain function's in the thread pool
    again (``fastapi.routing.serialize_response``): the wrapper is what saves the second hop."""
    router = APIRouter(route_class=OneHopRoute)

    @router.post("/items", response_model=Answer)
    def create_item() -> dict[str, int]:
        return {"value": 1, "thread": threading.get_ident()}

    route = router.routes[0]
    assert isinstance(route, APIRoute)
    assert inspect.iscoroutinefunction(route.endpoint) and route.endpoint.__name__ == "create_item"
    assert route.dependant.call is route.endpoint


def test_an_error_in_a_blocking_endpoint_reaches_the_error_handlers() -> None:
    app, _ = app_with(OneHopRoute)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/v1/items/-1").status_code == 500
