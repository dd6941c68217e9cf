"""Test media made at test time from ../shared/data: simulated chip photos from real clips."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np

from realname.adapters.vision.chip_photo import simulate_chip_photo
from realname.adapters.vision.onnx_models import OnnxFaceModels


def frame_at(clip: Path, t_seconds: float) -> np.ndarray:
    """The RGB frame of ``clip`` shown at ``t_seconds``."""
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= t_seconds:
                return np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
    raise ValueError(f"{clip.name} is shorter than {t_seconds} s")


def chip_photo(models: OnnxFaceModels, clip: Path, t_seconds: float) -> bytes:
    """A 102×126 JPEG portrait of the face in ``clip`` at ``t_seconds``, as an ID card's chip holds it."""
    rgb = frame_at(clip, t_seconds)
    faces = models.detect(rgb)
    assert faces, f"no face in {clip.name} at {t_seconds} s"
    box = faces[0]
    return simulate_chip_photo(rgb, (box.x0, box.y0, box.x1, box.y1))


def jpeg_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
