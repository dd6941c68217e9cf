"""The reader-bridge simulator over HTTP (protocol realname.reader-bridge.v1, docs/reader-bridge.md): the card it
serves, CORS for the kiosk origin only, no card, no document camera, card folders and the CLI."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from realname.adapters.cli.main import cli
from realname.adapters.reader_bridge.cards import PROTOCOL, CardFileInvalid, builtin_cards, load_cards
from realname.adapters.reader_bridge.simulator import BridgeServer
from tests.conftest import REPO_ROOT

KIOSK = "http://127.0.0.1:8000"
FACE = REPO_ROOT / "tests" / "fixtures" / "faces" / "astronaut_eileen_collins.jpg"


def _card_folder(root: Path, label: str, **fields: object) -> Path:
    folder = root / label
    folder.mkdir(parents=True)
    base: dict[str, object] = {
        "kind": "cn_resident",
        "name": "张三",
        "sex": "F",
        "birth_date": "1949-12-31",
        "id_number": "11010519491231002X",
        "valid_until": "long_term",
    }
    (folder / "card.json").write_text(json.dumps({**base, **fields}, ensure_ascii=False), encoding="utf-8")
    (folder / "portrait.jpg").write_bytes(FACE.read_bytes())
    return folder


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[BridgeServer]:
    _card_folder(tmp_path / "cards", "a-with-front")
    (tmp_path / "cards" / "a-with-front" / "front.png").write_bytes(b"\x89PNG fake front")
    _card_folder(tmp_path / "cards", "b-no-front", sex="M", valid_until="2030-01-02", address="北京市")
    server = BridgeServer(0, load_cards(tmp_path / "cards"), [KIOSK])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_reads_the_card_on_the_reader_with_its_decoded_portrait(bridge: BridgeServer) -> None:
    status = httpx.get(bridge.url + "/v1/status", headers={"Origin": KIOSK})
    assert status.json() == {
        "protocol": PROTOCOL,
        "reader": "ready",
        "card_present": True,
        "document_camera": "ready",
        "device": "realname reader simulator",
    }
    assert status.headers["access-control-allow-origin"] == KIOSK
    read = httpx.post(bridge.url + "/v1/card/read", json={}, headers={"Origin": KIOSK})
    assert read.status_code == 200 and read.json()["protocol"] == PROTOCOL
    card = read.json()["card"]
    assert card["id_number"] == "11010519491231002X" and card["name"] == "张三" and card["valid_until"] == "long_term"
    assert card["address"] is None and card["valid_from"] is None
    assert card["portrait"]["media_type"] == "image/jpeg"
    assert base64.b64decode(card["portrait"]["base64"]) == FACE.read_bytes()
    front = httpx.post(bridge.url + "/v1/document-camera/capture", json={})
    assert front.status_code == 200 and base64.b64decode(front.json()["image"]["base64"]) == b"\x89PNG fake front"
    assert front.json()["image"]["media_type"] == "image/png"


def test_another_card_no_card_and_no_document_camera(bridge: BridgeServer) -> None:
    assert httpx.post(bridge.url + "/simulator/card", json={"label": "b-no-front"}).status_code == 200
    card = httpx.post(bridge.url + "/v1/card/read").json()["card"]
    assert card["sex"] == "M" and card["valid_until"] == "2030-01-02" and card["address"] == "北京市"
    camera = httpx.post(bridge.url + "/v1/document-camera/capture")
    assert camera.status_code == 503 and camera.json()["code"] == "camera.unavailable"
    assert httpx.get(bridge.url + "/v1/status").json()["document_camera"] == "none"

    assert httpx.post(bridge.url + "/simulator/card", json={"label": None}).status_code == 200
    assert httpx.get(bridge.url + "/v1/status").json()["card_present"] is False
    missing = httpx.post(bridge.url + "/v1/card/read")
    assert missing.status_code == 404 and missing.json() == {
        "protocol": PROTOCOL,
        "code": "reader.no_card",
        "message": "no card on the reader",
    }
    unknown = httpx.post(bridge.url + "/simulator/card", json={"label": "nobody"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "simulator.no_such_card"


def test_answers_only_the_kiosk_origin(bridge: BridgeServer) -> None:
    refused = httpx.post(bridge.url + "/v1/card/read", headers={"Origin": "https://elsewhere.example"})
    assert refused.status_code == 403 and refused.json()["code"] == "bridge.origin_refused"
    assert "access-control-allow-origin" not in refused.headers and "card" not in refused.json()
    preflight = httpx.options(
        bridge.url + "/v1/card/read",
        headers={
            "Origin": KIOSK,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == KIOSK
    assert preflight.headers["access-control-allow-private-network"] == "true"
    other = httpx.options(bridge.url + "/v1/card/read", headers={"Origin": "https://elsewhere.example"})
    assert other.status_code == 403


def test_refuses_bad_bodies_and_paths(bridge: BridgeServer) -> None:
    bad = httpx.post(bridge.url + "/simulator/card", content=b"[1, 2]", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["code"] == "bridge.bad_request"
    big = httpx.post(bridge.url + "/v1/card/read", content=b"{" + b" " * 5000 + b"}")
    assert big.status_code == 400
    assert httpx.get(bridge.url + "/v1/secret").status_code == 404


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sex": "X"}, "sex must be"),
        ({"birth_date": "31.12.1949"}, "birth_date"),
        ({"kind": "library_card"}, "kind must be"),
        ({"name": ""}, "'name'"),
        ({"valid_until": None}, "'valid_until'"),
    ],
)
def test_a_card_folder_that_is_not_a_card_is_refused(tmp_path: Path, fields: dict[str, object], message: str) -> None:
    _card_folder(tmp_path, "bad", **fields)
    with pytest.raises(CardFileInvalid, match=message):
        load_cards(tmp_path)


def test_a_card_needs_its_portrait_and_a_folder_needs_a_card(tmp_path: Path) -> None:
    (_card_folder(tmp_path / "cards", "x") / "portrait.jpg").unlink()
    with pytest.raises(CardFileInvalid, match="portrait"):
        load_cards(tmp_path / "cards")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CardFileInvalid, match="no card folder"):
        load_cards(tmp_path / "empty")


def test_builtin_cards_are_distinct_checks_and_hide_their_data_in_repr() -> None:
    cards = {card.label: card for card in builtin_cards()}
    assert set(cards) == {"long-term", "expired", "sex-mismatch"}
    assert cards["long-term"].front is not None and cards["expired"].front is None
    assert cards["long-term"].portrait.data[:3] == b"\xff\xd8\xff"  # a JPEG the server's decoder takes
    assert "11010519491231002X" not in repr(cards["long-term"]) and "张" not in repr(cards["long-term"])


def test_cli_refuses_a_folder_without_cards(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["reader", "simulate", "--port", "1", "--cards", str(tmp_path)], obj=object())
    assert result.exit_code == 2 and "holds no card folder" in result.output
