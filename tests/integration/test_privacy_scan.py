"""``realname privacy scan``: finds planted images, embeddings and identities; a fresh data folder and
a database full of encrypted personal data are clean."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from realname.adapters.cli.privacy_commands import privacy_scan_command
from realname.adapters.privacy_scan import scan
from realname.adapters.storage.database import create_database_engine
from realname.adapters.storage.migrate import upgrade
from realname.bootstrap import Container
from realname.config import Settings
from tests.e2e.media import blank_clip
from tests.integration.privacy_world import build_world

ID_NUMBER = "11010519491231002X"
NAME = "Zhang Sanfeng"


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 120, 80)).save(buffer, "JPEG")
    return buffer.getvalue()


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (20, 120, 80)).save(buffer, "PNG")
    return buffer.getvalue()


def embedding(size: int) -> bytes:
    vector = np.random.default_rng(size).normal(size=size).astype("<f4")
    unit: np.ndarray = (vector / np.linalg.norm(vector)).astype("<f4")
    return unit.tobytes()


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    noise = os.urandom
    (data / "realname.db").write_bytes(noise(5000) + jpeg_bytes() + noise(3) + embedding(512) + noise(999))
    (data / "realname.db-wal").write_bytes(noise(100) + ID_NUMBER.encode("utf-16-le") + noise(100))
    (data / "realname.db-shm").write_bytes(noise(77) + b"\x01" + embedding(128) + noise(10))
    line = '{"message": "upload", "photo": "' + base64.b64encode(jpeg_bytes()).decode() + '"}\n'
    (data / "logs" / "app.log").write_text(line + f"name={NAME}\n", encoding="utf-8")
    (data / "export.bin").write_bytes(noise(64) + png_bytes())
    return data


def test_scan_finds_every_planted_item_with_file_and_offset(planted: Path) -> None:
    findings = scan([planted], [ID_NUMBER, NAME])
    found = {(f.path.name, f.kind) for f in findings}
    assert found == {
        ("realname.db", "image.jpeg"),
        ("realname.db", "embedding.float32"),
        ("realname.db-wal", "needle"),
        ("realname.db-shm", "embedding.float32"),
        ("app.log", "image.base64"),
        ("app.log", "needle"),
        ("export.bin", "image.png"),
    }
    jpeg = next(f for f in findings if f.kind == "image.jpeg")
    assert jpeg.offset == 5000
    wal = next(f for f in findings if f.kind == "needle" and f.path.name == "realname.db-wal")
    assert wal.offset == 100 and ID_NUMBER not in wal.line()


@pytest.mark.parametrize("container_format", ["mp4", "webm"])
def test_scan_finds_clips_and_their_base64(tmp_path: Path, container_format: str) -> None:
    clip = blank_clip(container_format)
    encoded = base64.b64encode(clip).decode()
    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    (data / "realname.db").write_bytes(os.urandom(4096) + clip + os.urandom(100))
    (data / "logs" / "app.log").write_text(f'{{"clip": "{encoded}"}}\n', encoding="utf-8")
    (data / "logs" / "page.log").write_text(
        f"src=data:video/{container_format};base64,{encoded[:40]}\n", encoding="utf-8"
    )
    findings = scan([data])
    found = {(f.path.name, f.kind) for f in findings}
    assert found == {
        ("realname.db", f"video.{container_format}"),
        ("app.log", "video.base64"),
        ("page.log", "video.base64"),
    }
    assert next(f for f in findings if f.path.name == "realname.db").offset == 4096


def test_scan_command_exits_1_listing_findings(planted: Path, tmp_path: Path) -> None:
    needles = tmp_path / "needles.txt"
    needles.write_text(f"{NAME}\n", encoding="utf-8")
    result = CliRunner().invoke(
        privacy_scan_command, [str(planted), "--needle", ID_NUMBER, "--needles-file", str(needles)]
    )
    assert result.exit_code == 1
    assert "realname.db-wal\t100\tneedle" in result.output
    assert ID_NUMBER not in result.output and NAME not in result.output


def test_random_bytes_are_clean(tmp_path: Path) -> None:
    (tmp_path / "ciphertext.bin").write_bytes(np.random.default_rng(7).bytes(3_000_000))
    assert scan([tmp_path], [ID_NUMBER]) == []


def test_a_fresh_init_data_folder_is_clean(tmp_path: Path) -> None:
    data = tmp_path / "data"
    container = Container(Settings(env="test", data_dir=data))
    container.initialise()
    container.engine.dispose()
    result = CliRunner().invoke(privacy_scan_command, [str(data), "--needle", ID_NUMBER])
    assert result.exit_code == 0, result.output
    assert "clean" in result.output


def test_a_database_full_of_encrypted_personal_data_is_clean(tmp_path: Path) -> None:
    data = tmp_path / "data"
    engine = create_database_engine(f"sqlite:///{data / 'realname.db'}")
    upgrade(engine)
    world = build_world(engine, tmp_path)
    needles = []
    for i in range(40):
        id_number, name = f"3201021990010{i:04d}X"[:18], f"Customer Fullname {i:03d}"
        world.add_subscriber(f"sub-{i:03d}", id_number, name)
        world.add_attempt(f"att-{i:03d}", id_number)
        needles += [id_number, name]
    world.add_evidence("ev-1", "att-001", jpeg_bytes(), world.clock.now())
    assert (data / "realname.db-wal").exists()  # still open: the WAL is scanned too
    findings = scan([data], needles)
    engine.dispose()
    assert findings == []


@pytest.fixture
def data_with_models(tmp_path: Path) -> Path:
    """A data folder whose models/ holds a pinned model file as installed and a copy altered by one byte."""
    from tests.conftest import IN_CI
    from tests.e2e.conftest import MODELS_DIR

    source = MODELS_DIR / "fr_landmark.onnx"
    if not source.is_file():
        message = f"needs the installed models in {MODELS_DIR} (realname models fetch)"
        if IN_CI:
            pytest.fail(message + " (CI=true: they must be installed)")
        pytest.skip(message)
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    (models / "fr_landmark.onnx").write_bytes(source.read_bytes())
    return tmp_path / "data"


def test_scan_skips_model_files_verified_by_their_pinned_hash(data_with_models: Path) -> None:
    skipped = CliRunner().invoke(privacy_scan_command, [str(data_with_models), "--needle", ID_NUMBER])
    assert skipped.exit_code == 0, skipped.output
    assert "privacy scan clean" in skipped.stdout
    assert "skipped 1 model files verified against models.lock" in skipped.stderr
    # The same bytes, asked to be scanned: the weights look like embeddings (what the skip spares operators).
    everything = CliRunner().invoke(privacy_scan_command, [str(data_with_models), "--include-models"])
    assert everything.exit_code == 1
    assert "fr_landmark.onnx" in everything.stdout and "embedding.float32" in everything.stdout


def test_an_altered_model_file_is_scanned_like_any_other(data_with_models: Path) -> None:
    model = data_with_models / "models" / "fr_landmark.onnx"
    altered = bytearray(model.read_bytes())
    altered[100] ^= 0xFF
    model.write_bytes(bytes(altered) + jpeg_bytes())
    result = CliRunner().invoke(privacy_scan_command, [str(data_with_models)])
    assert result.exit_code == 1
    assert "skipped" not in result.stderr
    assert f"fr_landmark.onnx\t{len(altered)}\timage.jpeg" in result.stdout
