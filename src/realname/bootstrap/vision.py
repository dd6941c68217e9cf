"""Building the face engines: verified models → engine with its calibrated threshold. Called lazily."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from realname.adapters.vision.dlib_engine import DlibFaceEngine
from realname.adapters.vision.models import read_lock
from realname.adapters.vision.onnx_engine import OnnxFaceEngine
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.app.matching import FaceEngine
from realname.domain.errors import DependencyUnavailable
from realname.domain.policy import Policy


def load_onnx_models(models_dir: Path, threads: int) -> OnnxFaceModels:
    """The faceplugin sessions, after checking every file against ``models.lock`` (fails fast)."""
    return OnnxFaceModels.load(models_dir, threads=threads)


def build_face_engine(name: Literal["onnx", "dlib"], models_dir: Path, threads: int, policy: Policy) -> FaceEngine:
    """The named engine with the threshold calibrated for ``policy.target_fmr``.

    Raises:
        DependencyUnavailable: a model file is missing or altered, or no threshold is calibrated for the
            policy's target FMR.
    """
    lock = read_lock()
    pinned = lock.threshold_for(name)
    if pinned.target_fmr > policy.target_fmr:
        raise DependencyUnavailable(
            f"the {name} threshold in models.lock is calibrated for FMR {pinned.target_fmr:g}, but the policy "
            f"asks for {policy.target_fmr:g}; re-run benchmarks/calibrate_face.py --target-fmr {policy.target_fmr:g}",
            code="models.uncalibrated",
        )
    if name == "dlib":
        return DlibFaceEngine.load(pinned.threshold, lock=lock)
    return OnnxFaceEngine(OnnxFaceModels.load(models_dir, threads=threads, lock=lock), pinned.threshold)
