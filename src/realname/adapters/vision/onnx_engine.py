"""``OnnxFaceEngine``: the default :class:`~realname.app.matching.FaceEngine`, on the faceplugin ONNX models.

Detect (fr_detect) → 68 points (fr_landmark) → 5-point similarity alignment → 512-d embedding (fr_feature);
quality from the face crop, fr_pose (yaw, pitch) and fr_eye. Stateless per call; safe to share between threads.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from realname.adapters.vision.onnx_models import FaceBox, FloatArray, ImageArray, OnnxFaceModels
from realname.adapters.vision.quality import main_face_index, measure_quality, pad_for_detection, upscale_small
from realname.app.matching import DecodedImage
from realname.domain.face import FaceAnalysis

MIN_DETECTION_CONFIDENCE = 0.7
# A second face counts when it is at least this fraction of the main face's height (tiny far-away
# detections in the background are ignored; a second person at the kiosk is not).
SECOND_FACE_MIN_RELATIVE_HEIGHT = 0.35
ID_PHOTO_MIN_HEIGHT_PX = 252
# Both the chip photo and a live capture are embedded with the face aligned at these sizes (1.0 = the standard
# 112×112 layout), each with its mirror image, and the embeddings averaged (see ``analyse_id_photo``, ``analyse``).
ID_PHOTO_ALIGNMENT_SCALES = (0.9, 1.0, 1.1)
LIVE_ALIGNMENT_SCALES = (0.9, 1.0, 1.1)


class OnnxFaceEngine:
    """Matching with fr_feature cosine similarity; ``threshold`` comes calibrated from ``models.lock``."""

    def __init__(
        self,
        models: OnnxFaceModels,
        threshold: float,
        *,
        name: str = "onnx",
        crop_threads: int = 1,
        id_photo_scales: tuple[float, ...] = ID_PHOTO_ALIGNMENT_SCALES,
        live_scales: tuple[float, ...] = LIVE_ALIGNMENT_SCALES,
    ) -> None:
        """``crop_threads``: how many threads embed one face's aligned crops (scales × mirror) side by side: the
        caller's and ``crop_threads - 1`` pool threads (onnxruntime releases the GIL). Meant for single-threaded
        sessions; see ``realname.bootstrap.vision.SESSION_THREADS``.
        ``id_photo_scales``, ``live_scales``: the alignment scales averaged for an ID photo and for a live
        capture (the threshold in ``models.lock`` is calibrated for the defaults; other values are only for
        measuring what the averaging costs)."""
        self._models = models
        self._threshold = threshold
        self._name = name
        if crop_threads < 1:
            raise ValueError("crop_threads must be at least 1")
        self._crop_threads = crop_threads
        self._id_photo_scales = id_photo_scales
        self._live_scales = live_scales
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def threshold(self) -> float:
        return self._threshold

    @property
    def models(self) -> OnnxFaceModels:
        return self._models

    def analyse(self, image: DecodedImage) -> FaceAnalysis:
        """A live capture: quality-gated, embedded at ``LIVE_ALIGNMENT_SCALES`` with mirrors (six int8 runs).

        Averaging the live side over alignment scales too was measured after fr_feature became int8
        (benchmarks/face_accuracy.py, thresholds recalibrated each time): faces_east_asian chip FNMR at the
        calibrated threshold 47.3 % -> 41.9 % (threshold 0.5878 -> 0.5788), at FMR 1e-3 13.5 % -> 13.3 %, at FMR
        1e-4 24.2 % -> 24.4 %; photo-vs-photo at the threshold 12.6 % -> 10.2 %. Cost: 88 -> 124 ms per pair on
        one thread (benchmarks/face_speed.py), and four more runs (about 28 ms) per matched frame.
        """
        return self._analyse(image.rgb, measure_live_quality=True, alignment_scales=self._live_scales)

    def analyse_id_photo(self, image: DecodedImage) -> FaceAnalysis:
        """The chip photo (e.g. 102×126) is enlarged before detection so landmarks have pixels to work on.

        Pose and eye state are not measured: the ID photo is not gated, so they would only cost time.

        The embedding averages three alignment scales (``ID_PHOTO_ALIGNMENT_SCALES``) and their mirrors: on a
        102×126 chip the landmarks, and so the alignment's scale, are uncertain by a few per cent, and averaging
        over that makes the chip's embedding steadier. Cost: six fr_feature runs instead of two (measured
        37 -> 97 ms per call on one core with the float32 model, before the int8 build). Measured
        with benchmarks/face_accuracy.py (float32 fr_feature) (simulated q25 chips, threshold recalibrated on the worst group):
        faces_east_asian chip FNMR at the calibrated threshold 47.5 % -> 42.9 % (threshold 0.5887 -> 0.5780),
        at FMR 1e-3 13.7 % -> 13.2 %, at FMR 1e-4 25.8 % -> 23.1 %; faces (Western) chip 66.6 % -> 62.5 %,
        19.2 % -> 18.7 %, 23.9 % -> 24.5 % (one impostor pair in 10,746 sets that point: noise). Most of the
        gain at the threshold is a lower impostor tail in the NUAA webcam group; with q40 chips the gain was
        small (30.7 % -> 30.3 % at the recalibrated threshold, 31.9 % -> 30.9 % at a fixed one).
        """
        return self._analyse(
            upscale_small(image.rgb, ID_PHOTO_MIN_HEIGHT_PX),
            measure_live_quality=False,
            alignment_scales=self._id_photo_scales,
        )

    def _mean_embedding(self, rgb: ImageArray, landmarks: FloatArray, scales: tuple[float, ...]) -> FloatArray:
        """Mean of the embeddings of the face aligned at each scale and of their mirror images, L2-normalised.

        The mirror costs one more fr_feature run per aligned face (about 7 ms int8). Measured on faces_east_asian
        against simulated chip photos (before chip smoothing was added): FNMR at FMR 1e-3 17.4 % -> 16.2 %, and
        at the worst group's FMR-1e-4 threshold 60.7 % -> 54.1 %.
        """
        crops: list[ImageArray] = []
        for scale in scales:
            aligned = self._models.aligned_face(rgb, landmarks, scale)
            crops += [aligned, np.ascontiguousarray(aligned[:, ::-1])]
        if self._crop_threads > 1:
            # Crop i goes to thread i % crop_threads; thread 0 is the caller's. A mirror lands on another thread
            # than its face when crop_threads is even.
            pending = [
                self._crop_pool().submit(self._embed_all, crops[i :: self._crop_threads])
                for i in range(1, self._crop_threads)
            ]
            embeddings = self._embed_all(crops[0 :: self._crop_threads])
            for future in pending:
                embeddings += future.result()
        else:
            embeddings = self._embed_all(crops)
        total = np.sum(embeddings, axis=0)
        normalised: FloatArray = (total / np.linalg.norm(total)).astype(np.float32)
        return normalised

    def _embed_all(self, crops: list[ImageArray]) -> list[FloatArray]:
        return [self._models.embed_aligned(crop) for crop in crops]

    def _crop_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._crop_threads - 1, thread_name_prefix="onnx-crops")
            return self._pool

    def _analyse(
        self,
        unpadded: ImageArray,
        *,
        measure_live_quality: bool,
        alignment_scales: tuple[float, ...],
    ) -> FaceAnalysis:
        rgb = pad_for_detection(unpadded)
        boxes = self._models.detect(rgb, min_confidence=MIN_DETECTION_CONFIDENCE)
        if not boxes:
            return FaceAnalysis(face_count=0)
        main = boxes[main_face_index([_box_tuple(b) for b in boxes], rgb.shape[1], rgb.shape[0])]
        count = sum(1 for b in boxes if b.height >= SECOND_FACE_MIN_RELATIVE_HEIGHT * main.height)
        landmarks = self._models.landmarks(rgb, main)
        embedding = self._mean_embedding(rgb, landmarks, alignment_scales)
        yaw: float | None = None
        pitch: float | None = None
        eyes_closed: float | None = None
        if measure_live_quality:
            yaw, pitch, _roll = self._models.head_pose(rgb, main)
            left_closed, right_closed = self._models.eyes_closed_probability(rgb, landmarks)
            # Both eyes must read closed: one eye misread (glare, glasses) must not reject a capture.
            eyes_closed = min(left_closed, right_closed)
        quality = measure_quality(
            rgb,
            _box_tuple(main),
            yaw_degrees=yaw,
            pitch_degrees=pitch,
            eyes_closed_probability=eyes_closed,
            detection_confidence=main.confidence,
        )
        return FaceAnalysis(face_count=count, quality=quality, embedding=embedding)


def _box_tuple(box: FaceBox) -> tuple[float, float, float, float]:
    return box.x0, box.y0, box.x1, box.y1
