"""Statelessness: two separate ``realname serve`` processes on different ports share one PostgreSQL database, the
key file and the token secret (as API hosts behind a load balancer would), and a kiosk's client alternates between
them request by request through a whole registration — sign-in on one, the challenge on one host and the clip on
the other, the number reserved on one and the registration committed on the other.

The challenge's actions are random; the real clip performs "turn left, then turn right", so the client asks for
new challenges (alternating hosts too) until one asks for exactly that, as a clerk would retry.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from fastapi.testclient import TestClient

from realname.app.actors import OPERATOR_CLI
from realname.bootstrap import Container
from realname.config import PolicySettings, Settings
from realname.domain.numbers import Msisdn
from realname.domain.organisation import Role
from tests.conftest import require_shared_data
from tests.e2e import flows
from tests.e2e.conftest import MODELS_DIR, database_url_for
from tests.e2e.media import chip_photo, kiosk_webm, pieces

REAL = "tvl_real_turnR_turnL.mp4"
ID_NUMBER = "11010519491231002X"
MSISDN = "13800130007"
SIM = "89860012345678901238"
WANTED = ["turn_left", "turn_right"]


class AlternatingTransport(httpx.BaseTransport):
    """Sends each request to the next host in turn (a round-robin load balancer) and notes who served what."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = ports
        self._next = 0
        self._inner = httpx.HTTPTransport()
        self.served: list[tuple[int, str, str]] = []  # (port, method, path)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        port = self._ports[self._next % len(self._ports)]
        self._next += 1
        request.url = request.url.copy_with(host="127.0.0.1", port=port)
        self.served.append((port, request.method, request.url.path))
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()

    def port_of(self, method: str, suffix: str) -> int:
        return next(port for port, m, path in reversed(self.served) if m == method and path.endswith(suffix))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the host on port {port} exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the host on port {port} did not become ready")


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[tuple[Container, list[int], bytes]]:
    """A set-up database and two serving hosts; yields the set-up container, the ports and the chip photo."""
    liveness = require_shared_data() / "liveness"
    with database_url_for("postgresql", tmp_path / "setup") as url:
        assert url is not None
        shared = {
            "REALNAME_ENV": "test",
            "REALNAME_DATABASE_URL": url,
            "REALNAME_KEY_FILE": str(tmp_path / "keys" / "keys.json"),
            "REALNAME_TOKEN_SECRET": secrets.token_urlsafe(32),
            "REALNAME_MODELS_DIR": str(MODELS_DIR),
            "REALNAME_POLICY__CHALLENGE_ACTIONS": "2",
            "REALNAME_POLICY__MAX_CHALLENGES_PER_ATTEMPT": "20",
            "REALNAME_INFERENCE_THREADS": "1",
            "REALNAME_LOG_LEVEL": "WARNING",
        }
        settings = Settings(
            env="test",
            data_dir=tmp_path / "setup",
            database_url=url,
            key_file=tmp_path / "keys" / "keys.json",
            models_dir=MODELS_DIR,
            policy=PolicySettings(challenge_actions=2, max_challenges_per_attempt=20),
        )
        container = Container(settings)
        container.initialise()
        registry = container.registry()
        registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
        registry.import_numbers(OPERATOR_CLI, [Msisdn(MSISDN)], source="test")
        photo = chip_photo(container.onnx_models, liveness / REAL, 0.3)

        ports = [free_port(), free_port()]
        processes = []
        for i, port in enumerate(ports):
            env = {**os.environ, **shared, "REALNAME_DATA_DIR": str(tmp_path / f"host{i}" / "data")}
            command = [sys.executable, "-c", "from realname.entrypoints.cli import main; main()"]
            processes.append(
                subprocess.Popen(
                    [*command, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        try:
            for port, process in zip(ports, processes, strict=True):
                wait_ready(port, process)
            yield container, ports, photo
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
            container.engine.dispose()


def asked_for_the_clips_actions(
    http: httpx.Client, client: TestClient, clerk: dict[str, str]
) -> tuple[str, httpx.Response]:
    """An attempt whose current challenge asks for the clip's actions (new challenges, then new attempts,
    until one does: each challenge is one of 12 orders of two actions)."""
    for _ in range(6):
        attempt = flows.start_attempt(client, clerk)
        flows.prepare_attempt(client, clerk, attempt, ID_NUMBER, name="Zhang Wei")
        for _ in range(20):
            challenge = http.post(f"/v1/attempts/{attempt}/challenge", headers=clerk)
            assert challenge.status_code == 200, challenge.text
            if challenge.json()["actions"] == WANTED:
                return attempt, challenge
    pytest.fail("no challenge asked for the clip's actions in 120 tries")


def test_a_registration_alternating_between_two_hosts_completes(hosts: tuple[Container, list[int], bytes]) -> None:
    container, ports, photo = hosts
    clip = (require_shared_data() / "liveness" / REAL).read_bytes()
    created = container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    transport = AlternatingTransport(ports)
    with httpx.Client(transport=transport, base_url="http://lb.invalid", timeout=120) as http:
        client = cast(TestClient, http)  # the flows speak httpx's API; TestClient is an httpx.Client
        flows.install_kiosks(client, container, ("BJ-001",))
        token = http.post("/v1/auth/token", json={"staff_code": created.staff_code, "password": created.password})
        assert token.status_code == 200, token.text
        clerk = flows.bearer(token.json()["token"])

        attempt, challenge = asked_for_the_clips_actions(http, client, clerk)
        challenged_on = transport.port_of("POST", "/challenge")
        # The kiosk reads the attempt's state once more; with the signing step's own read, the upload then
        # lands on the host that did not issue the challenge (asserted below).
        assert http.get(f"/v1/attempts/{attempt}", headers=clerk).status_code == 200
        decided = flows.answer_liveness(client, clerk, attempt, challenge.json()["nonce"], clip, photo)
        assert decided.status_code == 200, decided.text
        assert decided.json()["passed"] is True, decided.json()
        assert transport.port_of("POST", "/liveness") != challenged_on

        reserved = http.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": MSISDN}, headers=clerk)
        assert reserved.status_code == 200, reserved.text
        body = {"msisdn": MSISDN, "iccid": SIM}
        key = {**clerk, "Idempotency-Key": f"two-hosts-{attempt}"}
        receipt = http.post(f"/v1/attempts/{attempt}/registration", json=body, headers=key)
        again = http.post(f"/v1/attempts/{attempt}/registration", json=body, headers=key)  # the retry: other host
        assert receipt.status_code == again.status_code == 200, receipt.text
        assert receipt.json() == again.json() and receipt.json()["number"] == "138****0007"
        registered_on = [port for port, method, path in transport.served if path.endswith("/registration")]
        assert registered_on[0] != transport.port_of("POST", "/reservation") and set(registered_on) == set(ports)

    assert {port for port, _, _ in transport.served} == set(ports)
    with container.unit_of_work() as uow:
        binding = uow.bindings.active_for(Msisdn(MSISDN))
        assert binding is not None and binding.iccid == SIM
    assert container.registry().verify_audit(OPERATOR_CLI).intact


def test_each_worker_pools_its_share_of_the_hosts_database_connections(tmp_path: Path) -> None:
    def pool_of(workers: int) -> int:
        settings = Settings(
            env="test",
            data_dir=tmp_path,
            database_url="postgresql://realname@db.invalid:5432/realname",  # never connected to
            workers=workers,
            database_connections=40,
        )
        size: int = Container(settings).engine.pool.size()  # type: ignore[attr-defined]
        return size

    # each pool may overflow by its size (create_database_engine), so W workers × 2 × size = the host's 40
    assert (pool_of(1), pool_of(4)) == (20, 5)


def test_a_streamed_clip_whose_chunks_alternate_between_two_hosts_is_decided(
    hosts: tuple[Container, list[int], bytes],
) -> None:
    """Streamed clips live in the process that opened them; a chunk or end that reaches the other host is relayed
    to that process (over its relay address, here on loopback), so a round-robin balancer needs no affinity."""
    container, ports, photo = hosts
    webm = kiosk_webm(require_shared_data() / "liveness" / REAL)
    created = container.registry().add_staff(
        OPERATOR_CLI, "Wang Fang", Role.CLERK, "BJ-001", password_change_required=False
    )
    transport = AlternatingTransport(ports)
    with httpx.Client(transport=transport, base_url="http://lb.invalid", timeout=120) as http:
        client = cast(TestClient, http)
        flows.install_kiosks(client, container, ("BJ-001",))
        token = http.post("/v1/auth/token", json={"staff_code": created.staff_code, "password": created.password})
        assert token.status_code == 200, token.text
        clerk = flows.bearer(token.json()["token"])
        attempt, challenge = asked_for_the_clips_actions(http, client, clerk)
        decided = flows.stream_liveness(client, clerk, attempt, challenge.json()["nonce"], pieces(webm, 8), photo)
        assert decided.status_code == 200, decided.text
        assert decided.json()["passed"] is True, decided.json()

    opened_on = transport.port_of("POST", "/liveness/streams")
    chunk_hosts = [port for port, method, path in transport.served if method == "PUT" and "/chunks/" in path]
    assert len(chunk_hosts) == 8 and set(chunk_hosts) == set(ports)
    assert any(port != opened_on for port in chunk_hosts)
    assert transport.port_of("POST", "/end") in ports
    assert container.registry().verify_audit(OPERATOR_CLI).intact
