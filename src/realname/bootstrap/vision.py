"""Building the face engines: verified models → engine with its calibrated threshold. Called lazily."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from realname.adapters.vision.dlib_engine import DlibFaceEngine
from realname.adapters.vision.models import read_lock
from realname.adapters.vision.onnx_engine import (
    SFACE_ID_PHOTO_ALIGNMENT_SCALES,
    SFACE_LIVE_ALIGNMENT_SCALES,
    OnnxFaceEngine,
)
from realname.adapters.vision.onnx_models import OnnxFaceModels, load_sface_embedders
from realname.adapters.vision.printed_portrait import OnnxPrintedPortraitReader
from realname.app.card_front import PrintedPortraitReader
from realname.app.matching import FaceEngine
from realname.domain.errors import DependencyUnavailable
from realname.domain.policy import Policy

# Each ONNX Runtime session runs on one thread; a face comparison gets its parallelism from analysing its images
# and embedding their aligned crops side by side (``OnnxFaceEngine(threads=…)``). Measured on the 2-core machine,
# 2026-11-30: a face pair took 86–88 ms with 2 intra-op threads plus the second crop thread, 75 ms with
# single-threaded sessions; a liveness clip was no faster with 2 intra-op threads (median 578–610 vs 515–694 ms
# over three runs each) and used more CPU (783–817 vs 569–719 ms per 5 s clip).
SESSION_THREADS = 1
FaceEngineName = Literal["sface", "onnx", "dlib"]
FACE_ENGINE_NAMES: tuple[FaceEngineName, ...] = ("sface", "onnx", "dlib")


def load_onnx_models(models_dir: Path, threads: int = SESSION_THREADS) -> OnnxFaceModels:
    """The faceplugin sessions, after checking every file against ``models.lock`` (fails fast)."""
    return OnnxFaceModels.load(models_dir, threads=threads)


def build_face_engine(
    name: FaceEngineName,
    models_dir: Path,
    threads: int,
    policy: Policy,
    *,
    onnx_models: Callable[[], OnnxFaceModels] | None = None,
) -> FaceEngine:
    """The named engine with the thresholds (chip and photo reference) calibrated for ``policy.target_fmr``.

    ``sface`` and ``onnx`` share the faceplugin detection, landmarks and quality gates and differ in the embedding
    network: SFace (the chip student on the reference side when one is pinned) or fr_feature.

    Raises:
        DependencyUnavailable: a model file is missing or altered, or no threshold is calibrated for the
            policy's target FMR.

    ``onnx_models`` shares one loaded set of sessions with the liveness analyser (one copy per worker).
    """
    lock = read_lock()
    pinned = lock.threshold_for(name)
    if pinned.target_fmr > policy.target_fmr:
        raise DependencyUnavailable(
            f"the {name} threshold in models.lock is calibrated for FMR {pinned.target_fmr:g}, but the policy "
            f"asks for {policy.target_fmr:g}; re-run benchmarks/face_accuracy.py --calibrate",
            code="models.uncalibrated",
        )
    if name == "dlib":
        return DlibFaceEngine.load(pinned.thresholds, lock=lock)
    models = onnx_models() if onnx_models else OnnxFaceModels.load(models_dir, threads=SESSION_THREADS, lock=lock)
    if name == "onnx":
        return OnnxFaceEngine(models, pinned.thresholds, threads=threads)
    return OnnxFaceEngine(
        models,
        pinned.thresholds,
        name="sface",
        threads=threads,
        embedders=load_sface_embedders(models_dir, threads=SESSION_THREADS, lock=lock),
        id_photo_scales=SFACE_ID_PHOTO_ALIGNMENT_SCALES,
        live_scales=SFACE_LIVE_ALIGNMENT_SCALES,
    )


def build_printed_portrait_reader(models: OnnxFaceModels) -> PrintedPortraitReader:
    """The card-front reader with its same-photograph threshold from ``models.lock``.

    Raises:
        DependencyUnavailable: ``models.uncalibrated`` when the lock pins no threshold for it.
    """
    return OnnxPrintedPortraitReader(models, read_lock().same_photograph_threshold())
