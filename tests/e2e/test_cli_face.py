"""``realname face compare|compare-batch`` and ``realname models fetch|verify`` through click, real engines."""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from realname.adapters.cli.face_commands import face_group, models_group
from realname.adapters.vision.card_front_photo import simulate_card_front
from realname.adapters.vision.chip_photo import JPEG_Q25, simulate_chip_photo
from realname.adapters.vision.models import fetch_models, read_lock, verify_installed
from realname.app.card_front import PrintedPortraitReader
from realname.app.matching import FaceEngine
from realname.bootstrap.vision import build_face_engine, build_printed_portrait_reader, load_onnx_models
from realname.domain.errors import DependencyUnavailable
from realname.domain.face import ReferenceKind
from realname.domain.policy import Policy
from tests.contract.conftest import astronaut_rgb, grace_hopper_rgb, installed_models_dir, jpeg_bytes


class CliWiring:
    """A real :class:`~realname.adapters.cli.face_commands.FaceCliWiring` on the installed models."""

    def __init__(self, models_dir: Path) -> None:
        self._models_dir = models_dir

    def face_engine(self, name: str | None) -> FaceEngine:
        return _engine(name or "onnx", self._models_dir)

    def models_dir(self) -> Path:
        return self._models_dir

    def policy(self) -> Policy:
        return Policy()

    def printed_portrait_reader(self) -> PrintedPortraitReader:
        return build_printed_portrait_reader(load_onnx_models(self._models_dir, 1))


@cache
def _engine(name: str, models_dir: Path) -> FaceEngine:
    return build_face_engine(name, models_dir, 1, Policy())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def models_dir() -> Path:
    target = installed_models_dir()
    try:
        verify_installed(target, read_lock())
    except DependencyUnavailable:
        fetch_models(target, read_lock())
    return target


@pytest.fixture(scope="module")
def photos(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    detector = load_onnx_models(models_dir, 1)
    for name, rgb in (("grace", grace_hopper_rgb()), ("astronaut", astronaut_rgb())):
        (folder / f"{name}.jpg").write_bytes(jpeg_bytes(rgb))
        box = detector.detect(rgb)[0]
        # JPEG q25: the CLI is exercised with every engine, and onnx and dlib reject most realistic chips
        chip = simulate_chip_photo(rgb, (box.x0, box.y0, box.x1, box.y1), compression=JPEG_Q25)
        (folder / f"{name}_chip.jpg").write_bytes(chip)
        card = simulate_card_front(rgb, (box.x0, box.y0, box.x1, box.y1), np.random.default_rng(7))
        (folder / f"{name}_card.jpg").write_bytes(card)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    blank = np.full((300, 300, 3), 128, dtype=np.uint8)
    (folder / "blank.jpg").write_bytes(jpeg_bytes(blank))
    return folder


@pytest.mark.parametrize("engine", ["sface", "onnx", "dlib"])
def test_compare_json_for_same_and_different_people(models_dir: Path, photos: Path, engine: str) -> None:
    runner = CliRunner()
    wiring = CliWiring(models_dir)
    same = runner.invoke(
        face_group,
        ["compare", str(photos / "grace_chip.jpg"), str(photos / "grace.jpg"), "--engine", engine, "--json"],
        obj=wiring,
    )
    other = runner.invoke(
        face_group,
        ["compare", str(photos / "grace_chip.jpg"), str(photos / "astronaut.jpg"), "--engine", engine, "--json"],
        obj=wiring,
    )
    assert same.exit_code == 0, same.output
    assert other.exit_code == 1, other.output  # checked, no match
    same_result, other_result = json.loads(same.output), json.loads(other.output)
    assert set(same_result) == {"match", "similarity", "threshold", "reference", "engine", "reasons"}
    assert same_result["match"] is True and same_result["engine"] == engine and same_result["reasons"] == []
    assert same_result["reference"] == "chip"
    assert same_result["threshold"] == _engine(engine, models_dir).threshold_for(ReferenceKind.CHIP)
    assert other_result["match"] is False
    assert other_result["similarity"] < other_result["threshold"] <= same_result["similarity"]


def test_compare_reports_reasons_with_the_negative_status(models_dir: Path, photos: Path) -> None:
    result = CliRunner().invoke(
        face_group,
        ["compare", str(photos / "grace.jpg"), str(photos / "blank.jpg"), "--json"],
        obj=CliWiring(models_dir),
    )
    assert result.exit_code == 1 and result.stderr == ""
    assert json.loads(result.output) == {
        "match": False,
        "similarity": None,
        "threshold": _engine("onnx", models_dir).threshold_for(ReferenceKind.PHOTO),
        "reference": "photo",
        "engine": "onnx",
        "reasons": ["face.none"],
    }


def test_compare_human_output(models_dir: Path, photos: Path) -> None:
    result = CliRunner().invoke(
        face_group, ["compare", str(photos / "grace_chip.jpg"), str(photos / "grace.jpg")], obj=CliWiring(models_dir)
    )
    assert result.exit_code == 0
    assert result.output.startswith("MATCH  similarity ")


def test_compare_batch_writes_one_json_line_per_pair_in_order(models_dir: Path, photos: Path) -> None:
    pairs = photos / "pairs.csv"
    pairs.write_text(
        "file_a,file_b,note\n"
        "grace_chip.jpg,grace.jpg,same\n"
        "grace_chip.jpg,astronaut.jpg,different\n"
        "astronaut_chip.jpg,astronaut.jpg,same\n"
        "broken.jpg,grace.jpg,bad\n"
        "grace_chip.jpg,missing.jpg,absent\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(face_group, ["compare-batch", str(pairs)], obj=CliWiring(models_dir))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["file_a"], r["file_b"]) for r in lines] == [
        ("grace_chip.jpg", "grace.jpg"),
        ("grace_chip.jpg", "astronaut.jpg"),
        ("astronaut_chip.jpg", "astronaut.jpg"),
        ("broken.jpg", "grace.jpg"),
        ("grace_chip.jpg", "missing.jpg"),
    ]
    assert [r["match"] for r in lines] == [True, False, True, False, False]
    assert lines[3] == {
        "file_a": "broken.jpg",
        "file_b": "grace.jpg",
        "similarity": None,
        "match": False,
        "reasons": ["image.invalid"],
    }
    assert lines[4]["similarity"] is None and lines[4]["reasons"] == ["image.invalid"]
    assert set(lines[0]) == {"file_a", "file_b", "similarity", "match", "reasons"}


def _compare_with_card(models_dir: Path, photos: Path, card: str) -> Any:
    return CliRunner().invoke(
        face_group,
        [
            "compare",
            str(photos / "grace_chip.jpg"),
            str(photos / "grace.jpg"),
            "--card-front",
            str(photos / card),
            "--engine",
            "sface",
            "--json",
        ],
        obj=CliWiring(models_dir),
    )


def test_compare_with_the_cards_front_decides_by_the_printed_portrait(models_dir: Path, photos: Path) -> None:
    result = _compare_with_card(models_dir, photos, "grace_card.jpg")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["match"] is True and body["reasons"] == [] and body["reference"] == "printed"
    assert body["threshold"] == _engine("sface", models_dir).threshold_for(ReferenceKind.PRINTED)
    check = body["card_front"]
    assert check["same_photograph"] is True and check["decided_by"] == "printed_portrait"
    assert check["same_photograph_similarity"] >= check["same_photograph_threshold"]


def test_compare_with_another_persons_card_front_is_a_portrait_mismatch(models_dir: Path, photos: Path) -> None:
    result = _compare_with_card(models_dir, photos, "astronaut_card.jpg")
    assert result.exit_code == 1, result.output  # checked: not the same photograph, so no match
    body = json.loads(result.output)
    assert body["match"] is False and body["similarity"] is None
    assert body["reasons"] == ["document.portrait_mismatch"]
    assert body["card_front"]["same_photograph"] is False and body["card_front"]["decided_by"] is None


def test_compare_with_a_card_front_without_a_portrait_exits_2(models_dir: Path, photos: Path) -> None:
    result = _compare_with_card(models_dir, photos, "blank.jpg")
    assert result.exit_code == 2
    assert "[document.portrait_not_found]" in result.output


def test_compare_batch_takes_a_card_front_column(models_dir: Path, photos: Path) -> None:
    pairs = photos / "cards.csv"
    pairs.write_text(
        "file_a,file_b,card_front\n"
        "grace_chip.jpg,grace.jpg,grace_card.jpg\n"
        "grace_chip.jpg,grace.jpg,astronaut_card.jpg\n"
        "grace_chip.jpg,astronaut.jpg,grace_card.jpg\n"
        "grace_chip.jpg,grace.jpg,\n"
        "grace_chip.jpg,grace.jpg,blank.jpg\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        face_group, ["compare-batch", str(pairs), "--engine", "sface"], obj=CliWiring(models_dir)
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["match"], r["same_photograph"], r["reasons"]) for r in lines] == [
        (True, True, []),
        (False, False, ["document.portrait_mismatch"]),
        (False, True, []),
        (True, None, []),
        (False, None, ["document.portrait_not_found"]),
    ]
    assert [r["card_front"] for r in lines] == [
        "grace_card.jpg",
        "astronaut_card.jpg",
        "grace_card.jpg",
        None,
        "blank.jpg",
    ]


def test_compare_batch_needs_the_header(models_dir: Path, photos: Path) -> None:
    pairs = photos / "bad.csv"
    pairs.write_text("a,b\nx,y\n", encoding="utf-8")
    result = CliRunner().invoke(face_group, ["compare-batch", str(pairs)], obj=CliWiring(models_dir))
    assert result.exit_code == 2
    assert "file_a" in result.output


def test_models_verify_and_idempotent_fetch(models_dir: Path) -> None:
    runner = CliRunner()
    verified = runner.invoke(models_group, ["verify", "--dir", str(models_dir)], obj=CliWiring(models_dir))
    assert verified.exit_code == 0, verified.output
    assert "ok  fr_feature.onnx" in verified.output and "ok  sface.onnx" in verified.output
    fetched = runner.invoke(models_group, ["fetch", "--dest", str(models_dir)], obj=CliWiring(models_dir))
    assert fetched.exit_code == 0
    assert "already verified" in fetched.output


def test_models_verify_fails_on_a_tampered_file(models_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    (copy / "fr_pose.onnx").write_bytes(b"tampered")
    result = CliRunner().invoke(models_group, ["verify", "--dir", str(copy)], obj=CliWiring(copy))
    assert result.exit_code == 6
    assert "[models.invalid]" in result.output and "fr_pose.onnx" in result.output
