"""``OnnxFaceEngine``: the :class:`~realname.app.matching.FaceEngine` on ONNX models, engines ``onnx`` and ``sface``.

Detect (fr_detect) → 68 points (fr_landmark) → 5-point similarity alignment → embedding of the aligned crops by a
pluggable network (:class:`~realname.adapters.vision.onnx_models.Embedders`): fr_feature (512-d) for ``onnx``,
SFace (128-d) for ``sface``, whose reference side may use a chip student. Quality from the face crop, fr_pose
(yaw, pitch) and fr_eye. Stateless per call; safe to share between threads.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import assert_never

import numpy as np

from realname.adapters.vision.onnx_models import (
    ANTIALIAS_SIGMA_PER_SHRINK,
    PRINTED_ANTIALIAS_SIGMA_PER_SHRINK,
    Embedders,
    FaceBox,
    FloatArray,
    ImageArray,
    OnnxEmbedder,
    OnnxFaceModels,
)
from realname.adapters.vision.quality import (
    PRINTED_DETECTION_SMOOTHING_PER_SIDE,
    main_face_index,
    measure_quality,
    pad_for_detection,
    print_suppressed,
    upscale_small,
)
from realname.adapters.vision.task_queue import TaskQueue
from realname.app.matching import DecodedImage
from realname.domain.face import FaceAnalysis, FaceQuality, ReferenceKind, ReferenceThresholds

MIN_DETECTION_CONFIDENCE = 0.7
# A second face counts when it is at least this fraction of the main face's height (tiny far-away
# detections in the background are ignored; a second person at the kiosk is not).
SECOND_FACE_MIN_RELATIVE_HEIGHT = 0.35
ID_PHOTO_MIN_HEIGHT_PX = 252
# Both the chip photo and a live capture are embedded with the face aligned at these sizes (1.0 = the standard
# 112×112 layout), each with its mirror image, and the embeddings averaged: four fr_feature runs per face.
# Chosen on 2026-12-06 from 16 scale sets measured on the same pairs (benchmarks/README.md, "alignment scales"):
# 0.9 and 1.1 did as well as 0.9, 1.0 and 1.1 with a third fewer runs.
ID_PHOTO_ALIGNMENT_SCALES = (0.9, 1.1)
LIVE_ALIGNMENT_SCALES = (0.9, 1.1)
# The sface engine's scales (each with its mirror): a chip reference at 0.9 and 1.1 (four SFace runs, once per
# verification), a live capture at 1.0 (two runs per frame). Measured on 2026-12-06 on faces_east_asian with
# JPEG 2000 chips at 1,024 / 1,536 bytes, impostors same-source (docs/models/sface.md, "alignment scales"): against
# 1.0 with its mirror on both sides, the chip at 0.9/1.1 lowered chip FNMR at FMR 1e-4 from 78.4 / 48.1 % to
# 77.1 / 46.2 % and at the worst group's FMR-1e-4 threshold from 92.1 / 57.3 % to 89.5 / 52.2 %; the live side at
# 0.9/1.1 as well gained at most 2-3 points more (noise at these pair counts) for four more runs per frame, and
# photo-vs-photo pairs gained nothing from any scale set.
SFACE_ID_PHOTO_ALIGNMENT_SCALES = (0.9, 1.1)
SFACE_LIVE_ALIGNMENT_SCALES = (1.0,)


@dataclass(frozen=True, slots=True)
class _Job:
    """One image to analyse: its pixels, whether it is a live capture, its alignment scales and its embedders (more
    than one: each embeds every crop, and the image's embedding is the mean of each network's mean).
    ``antialias_sigma_per_shrink``: the smoothing before alignment (``OnnxFaceModels.aligned_face``; None: none).
    ``print_suppressed_detection``: the face is detected on a print-suppressed copy (landmarks on the pixels)."""

    rgb: ImageArray
    live: bool
    scales: tuple[float, ...]
    embedders: tuple[OnnxEmbedder, ...]
    antialias_sigma_per_shrink: float | None = None
    print_suppressed_detection: bool = False


@dataclass(slots=True)
class _Found:
    """What analysing one image has found so far; ``embeddings[n][i]`` is filled by the task for network ``n``
    and ``crops[i]``."""

    face_count: int = 0
    quality: FaceQuality | None = None
    crops: list[ImageArray] = field(default_factory=list)
    embeddings: list[list[FloatArray | None]] = field(default_factory=list)


class OnnxFaceEngine:
    """Matching by cosine similarity of the embedders' vectors; ``thresholds`` come calibrated from ``models.lock``."""

    def __init__(
        self,
        models: OnnxFaceModels,
        thresholds: ReferenceThresholds,
        *,
        name: str = "onnx",
        threads: int = 1,
        embedders: Embedders | None = None,
        id_photo_scales: tuple[float, ...] = ID_PHOTO_ALIGNMENT_SCALES,
        live_scales: tuple[float, ...] = LIVE_ALIGNMENT_SCALES,
    ) -> None:
        """``threads``: how many threads share the work of one call — the caller's and ``threads - 1`` pool
        threads (onnxruntime and OpenCV release the GIL). Meant for single-threaded sessions; see
        ``realname.bootstrap.vision.SESSION_THREADS``. Results do not depend on it.
        ``embedders``: the networks that embed live captures and reference portraits (default: fr_feature for both).
        ``id_photo_scales``, ``live_scales``: the alignment scales averaged for an ID photo and for a live
        capture (the thresholds in ``models.lock`` are calibrated for the engine's shipped scales; other values are
        only for measuring what the averaging costs)."""
        self._models = models
        self._thresholds = thresholds
        self._embedders = embedders if embedders is not None else Embedders.same(models.feature)
        self._name = name
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self._threads = threads
        self._id_photo_scales = id_photo_scales
        self._live_scales = live_scales
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def thresholds(self) -> ReferenceThresholds:
        return self._thresholds

    def threshold_for(self, kind: ReferenceKind) -> float:
        return self._thresholds.for_kind(kind)

    @property
    def models(self) -> OnnxFaceModels:
        return self._models

    @property
    def embedders(self) -> Embedders:
        return self._embedders

    @property
    def id_photo_scales(self) -> tuple[float, ...]:
        return self._id_photo_scales

    @property
    def live_scales(self) -> tuple[float, ...]:
        return self._live_scales

    def analyse(self, image: DecodedImage) -> FaceAnalysis:
        """A live capture: quality-gated, embedded by the live embedder at the live scales with mirrors.

        For ``onnx`` (``LIVE_ALIGNMENT_SCALES``, four int8 fr_feature runs): averaging the live side over alignment scales as well as the chip was measured after fr_feature became
        int8 (benchmarks/face_accuracy.py, thresholds recalibrated each time): faces_east_asian chip FNMR at the
        calibrated threshold 47.3 % -> 41.9 % with scales 0.9/1.0/1.1 on both sides, at FMR 1e-3 13.5 % -> 13.3 %,
        at FMR 1e-4 24.2 % -> 24.4 %. Dropping the middle scale on both sides (2026-12-06, same pairs, scales
        0.9/1.1): 41.1 % -> 36.7 % at the threshold, 13.2 % -> 13.6 % at 1e-3, 24.3 % -> 25.9 % at 1e-4, with 8
        instead of 12 runs per pair.
        """
        return self._run([self._live_job(image)])[0]

    def analyse_id_photo(self, image: DecodedImage) -> FaceAnalysis:
        """The reference portrait. A chip photo (e.g. 102×126) is enlarged before detection so landmarks have
        pixels to work on. Pose and eye state are not measured: the ID photo is not gated, so they would only cost
        time.

        A chip-sized reference is embedded by the reference embedder, averaging the face aligned at the ID-photo
        scales and their mirrors; a sharper reference (photo kind) as a live capture is (see ``_id_photo_job``).
        For ``onnx`` (``ID_PHOTO_ALIGNMENT_SCALES``, two scales): on a 102×126 chip the landmarks, and so the
        alignment's scale, are uncertain by a few per cent, and averaging over that makes the chip's embedding
        steadier. Measured with benchmarks/face_accuracy.py
        (float32 fr_feature, simulated q25 chips, threshold recalibrated on the worst group), scales 0.9/1.0/1.1
        against 1.0 alone: faces_east_asian chip FNMR at the calibrated threshold 47.5 % -> 42.9 % (threshold
        0.5887 -> 0.5780), at FMR 1e-3 13.7 % -> 13.2 %, at FMR 1e-4 25.8 % -> 23.1 %. Most of the gain at the
        threshold is a lower impostor tail in the NUAA webcam group; with q40 chips the gain was small (30.7 % ->
        30.3 % at the recalibrated threshold).
        """
        return self._run([self._id_photo_job(image)])[0]

    def analyse_all(
        self, id_photo: DecodedImage, live: Sequence[DecodedImage]
    ) -> tuple[FaceAnalysis, list[FaceAnalysis]]:
        """The ID photo and the live captures in one call: with ``threads`` > 1 their detections, quality gates
        and embedding runs are spread over the threads together, so no thread idles while another finishes."""
        results = self._run([self._id_photo_job(id_photo), *(self._live_job(image) for image in live)])
        return results[0], results[1:]

    def aligned_crops(self, image: DecodedImage, *, reference: bool) -> list[ImageArray]:
        """The aligned crops the engine embeds for an image — each alignment scale followed by its mirror image —
        as a live capture or (``reference``) as an ID portrait of its kind; [] without a face. For building
        training data and benchmarks on exactly the product's crops; a verification never calls it."""
        found = _Found()
        # The embedding tasks ``_detect_and_align`` queues are never run: only the crops are wanted.
        self._detect_and_align(self._id_photo_job(image) if reference else self._live_job(image), found, TaskQueue())
        return found.crops

    def _live_job(self, image: DecodedImage) -> _Job:
        return _Job(image.rgb, live=True, scales=self._live_scales, embedders=(self._embedders.live,))

    def _id_photo_job(self, image: DecodedImage) -> _Job:
        """How a reference is analysed, by its kind. A chip gets the reference embedders and scales. A sharper
        reference gets the live scales, no gates, detection on a print-suppressed copy and smoothing against aliasing
        before alignment: a printed portrait by ``PRINTED_ANTIALIAS_SIGMA_PER_SHRINK`` and the printed embedders
        (the printed student's, when one is pinned), an ordinary photo by ``ANTIALIAS_SIGMA_PER_SHRINK`` and the live
        embedder. The photo threshold was calibrated on photo-vs-photo pairs analysed as live captures (no
        smoothing); the card-front benchmark reports the FMR the printed portrait gets at it."""
        match image.reference_kind:
            case ReferenceKind.CHIP:
                return _Job(image.rgb, live=False, scales=self._id_photo_scales, embedders=self._embedders.chip)
            case ReferenceKind.PRINTED:
                embedders, sigma_per_shrink = self._embedders.printed, PRINTED_ANTIALIAS_SIGMA_PER_SHRINK
            case ReferenceKind.PHOTO:
                embedders, sigma_per_shrink = (self._embedders.live,), ANTIALIAS_SIGMA_PER_SHRINK
            case unknown:
                assert_never(unknown)
        return _Job(
            image.rgb,
            live=False,
            scales=self._live_scales,
            embedders=embedders,
            antialias_sigma_per_shrink=sigma_per_shrink,
            print_suppressed_detection=True,
        )

    def _run(self, jobs: list[_Job]) -> list[FaceAnalysis]:
        """Analyse the images: one task per image (detect, align, gates) and one per aligned crop (embed).

        An image's task queues its crops before measuring its quality gates, so other threads embed them
        meanwhile. Each crop's embedding lands in its own slot and they are summed in crop order: the result
        is the same for any number of threads.
        """
        queue = TaskQueue()
        found = [_Found() for _ in jobs]
        for job, result in zip(jobs, found, strict=True):
            queue.add(functools.partial(self._detect_and_align, job, result, queue))
        for _ in range(self._threads - 1):
            self._thread_pool().submit(queue.work)
        queue.work()
        queue.raise_failure()
        return [self._result(result) for result in found]

    def _detect_and_align(self, job: _Job, found: _Found, queue: TaskQueue) -> None:
        rgb = pad_for_detection(job.rgb if job.live else upscale_small(job.rgb, ID_PHOTO_MIN_HEIGHT_PX))
        seen = rgb
        if job.print_suppressed_detection:
            seen = print_suppressed(rgb, max(job.rgb.shape[:2]) / PRINTED_DETECTION_SMOOTHING_PER_SIDE)
        boxes = self._models.detect(seen, min_confidence=MIN_DETECTION_CONFIDENCE)
        if not boxes:
            return
        main = boxes[main_face_index([_box_tuple(b) for b in boxes], rgb.shape[1], rgb.shape[0])]
        found.face_count = sum(1 for b in boxes if b.height >= SECOND_FACE_MIN_RELATIVE_HEIGHT * main.height)
        landmarks = self._models.landmarks(rgb, main)
        for scale in job.scales:
            aligned = self._models.aligned_face(
                rgb, landmarks, scale, antialias_sigma_per_shrink=job.antialias_sigma_per_shrink
            )
            found.crops += [aligned, np.ascontiguousarray(aligned[:, ::-1])]
        found.embeddings = [[None] * len(found.crops) for _ in job.embedders]
        for network, embedder in enumerate(job.embedders):
            for index in range(len(found.crops)):
                queue.add(functools.partial(self._embed_crop, embedder, found, network, index))
        yaw: float | None = None
        pitch: float | None = None
        eyes_closed: float | None = None
        if job.live:
            yaw, pitch, _roll = self._models.head_pose(rgb, main)
            left_closed, right_closed = self._models.eyes_closed_probability(rgb, landmarks)
            # Both eyes must read closed: one eye misread (glare, glasses) must not reject a capture.
            eyes_closed = min(left_closed, right_closed)
        found.quality = measure_quality(
            rgb,
            _box_tuple(main),
            yaw_degrees=yaw,
            pitch_degrees=pitch,
            eyes_closed_probability=eyes_closed,
            detection_confidence=main.confidence,
        )

    def _embed_crop(self, embedder: OnnxEmbedder, found: _Found, network: int, index: int) -> None:
        found.embeddings[network][index] = embedder.embed_aligned(found.crops[index])

    def _result(self, found: _Found) -> FaceAnalysis:
        """The face count, quality and mean embedding (of every crop and mirror, L2-normalised) of one image.

        The mirror costs one more embedding run per aligned face (5–6 ms int8 fr_feature). Measured on faces_east_asian
        against simulated chip photos (before chip smoothing was added): FNMR at FMR 1e-3 17.4 % -> 16.2 %, and at
        the worst group's FMR-1e-4 threshold 60.7 % -> 54.1 %.
        """
        if found.face_count == 0:
            return FaceAnalysis(face_count=0)
        means = []
        for per_network in found.embeddings:
            embeddings = [embedding for embedding in per_network if embedding is not None]
            if not embeddings or len(embeddings) != len(found.crops):
                raise RuntimeError("an aligned crop was not embedded")
            total = np.sum(embeddings, axis=0)
            means.append(total / np.linalg.norm(total))
        fused = np.sum(means, axis=0)
        embedding: FloatArray = (fused / np.linalg.norm(fused)).astype(np.float32)
        return FaceAnalysis(face_count=found.face_count, quality=found.quality, embedding=embedding)

    def _thread_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self._threads - 1, thread_name_prefix=f"{self._name}-engine"
                )
            return self._pool


def _box_tuple(box: FaceBox) -> tuple[float, float, float, float]:
    return box.x0, box.y0, box.x1, box.y1
