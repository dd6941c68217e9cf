"""A benchmark-only ASGI factory: the real app and use cases, with liveness and face matching replaced by fakes that
approve every clip at once, so a load test measures the registry (HTTP, database, crypto, audit) alone.

Unreachable in production by construction: it lives in ``benchmarks/`` (not in the installed package, never imported
by ``src/``), and :func:`build_app` refuses to build anything unless the benchmark driver set
``REALNAME_BENCHMARK_FAKE_ENGINE`` to :data:`BENCHMARK_TOKEN` and ``REALNAME_ENV`` is not ``prod``.

Served by ``benchmarks/load/http_registry.py`` as ``uvicorn --app-dir benchmarks/load --factory
fake_engine_app:build_app``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from fastapi import FastAPI

from realname.adapters.http.app import create_app
from realname.app.liveness import BurstFrame, CheckedClip, LivenessChecker
from realname.app.matching import DecodedImage, FaceEngine
from realname.bootstrap import Container
from realname.config import Settings
from realname.domain.face import FaceAnalysis, FaceQuality, ReferenceKind
from realname.domain.liveness import Action, LivenessResult

BENCHMARK_TOKEN = "registry-load-benchmark"
_FRAME = np.full((160, 120, 3), 128, dtype=np.uint8)
_EMBEDDING = np.ones(128, dtype=np.float32) / np.sqrt(np.float32(128))


class ApprovingLiveness(LivenessChecker):
    """Every clip passes with one best frame; nothing is decoded or analysed."""

    def __init__(self) -> None:  # no decoder, analyser or thresholds: nothing is analysed
        pass

    def check(self, clip: bytes, actions: Sequence[Action]) -> CheckedClip:
        return CheckedClip(LivenessResult(True, (), (), False, 1), (_FRAME,))

    def check_burst(self, frames: Sequence[BurstFrame], actions: Sequence[Action]) -> CheckedClip:
        return CheckedClip(LivenessResult(True, (), (), False, 1), (_FRAME,))


class IdenticalFaces:
    """A ``FaceEngine`` that sees one good face with the same embedding in every image (similarity 1)."""

    name = "benchmark-fake"

    def threshold_for(self, kind: ReferenceKind) -> float:
        return 0.5

    def analyse(self, image: DecodedImage) -> FaceAnalysis:
        return FaceAnalysis(1, FaceQuality(200.0, 500.0, 128.0, 0.0, 0.0, 0.0, 0.99), _EMBEDDING)

    def analyse_id_photo(self, image: DecodedImage) -> FaceAnalysis:
        return self.analyse(image)

    def analyse_all(
        self, id_photo: DecodedImage, live: Sequence[DecodedImage]
    ) -> tuple[FaceAnalysis, list[FaceAnalysis]]:
        return self.analyse(id_photo), [self.analyse(image) for image in live]


class BenchmarkContainer(Container):
    """The composition root with the two fakes wired in (and no models to load or check)."""

    def face_engine(self, name: str | None = None) -> FaceEngine:
        return IdenticalFaces()

    def liveness_checker(self) -> LivenessChecker:
        return ApprovingLiveness()

    def _check_models(self) -> None:
        pass


def build_app() -> FastAPI:
    settings = Settings()
    if os.environ.get("REALNAME_BENCHMARK_FAKE_ENGINE") != BENCHMARK_TOKEN or settings.env == "prod":
        raise SystemExit("fake_engine_app serves only the registry load benchmark (see its docstring)")
    container = BenchmarkContainer(settings)
    container.check_ready()
    return create_app(container.http_services())
