"""Face detection alone, for the capture step's framing guide: faceplugin's fr_detect, boxes as shares of the
frame. No landmarks, no embedding: nothing that could identify the person is computed."""

from __future__ import annotations

from collections.abc import Sequence

from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.app.matching import DecodedImage
from realname.domain.framing import FaceInFrame

MIN_CONFIDENCE = 0.5
"""Lower than the matcher's 0.7: a second face in the background should be reported, not missed."""


class OnnxFaceFinder:
    """:class:`realname.app.framing.FaceFinder` on the shared faceplugin sessions (thread-safe)."""

    def __init__(self, models: OnnxFaceModels) -> None:
        self._models = models

    def find_faces(self, image: DecodedImage) -> Sequence[FaceInFrame]:
        width, height = float(image.width), float(image.height)
        return [
            FaceInFrame(box.x0 / width, box.y0 / height, box.x1 / width, box.y1 / height, box.confidence)
            for box in self._models.detect(image.rgb, min_confidence=MIN_CONFIDENCE)
        ]
