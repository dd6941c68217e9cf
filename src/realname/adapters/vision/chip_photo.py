"""Simulating an ID-card chip photo from an ordinary photo, for tests, calibration and benchmarks.

A second-generation Chinese ID card stores a 102×126 colour portrait, heavily compressed. The simulation crops
a head-and-shoulders portrait around the face (the face about 60 % of the width, slightly above centre),
downscales it to 102×126 and re-encodes it as JPEG at quality 25.
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from PIL import Image

CHIP_WIDTH_PX = 102
CHIP_HEIGHT_PX = 126
CHIP_JPEG_QUALITY = 25
FACE_SHARE_OF_WIDTH = 0.6


def simulate_chip_photo(
    image_rgb: npt.NDArray[np.uint8],
    face_box: tuple[float, float, float, float],
    *,
    quality: int = CHIP_JPEG_QUALITY,
) -> bytes:
    """JPEG bytes of a 102×126 portrait cut around ``face_box`` (x0, y0, x1, y1 in pixels).

    The crop may reach outside the photo; the outside is filled with light grey, as an ID photo backdrop.
    """
    x0, y0, x1, y1 = face_box
    side = max(x1 - x0, y1 - y0)
    crop_width = side / FACE_SHARE_OF_WIDTH
    crop_height = crop_width * CHIP_HEIGHT_PX / CHIP_WIDTH_PX
    centre_x = (x0 + x1) / 2.0
    centre_y = (y0 + y1) / 2.0 + 0.05 * crop_height
    left = round(centre_x - crop_width / 2.0)
    top = round(centre_y - crop_height / 2.0)
    box = (left, top, left + round(crop_width), top + round(crop_height))
    portrait = Image.new("RGB", (box[2] - box[0], box[3] - box[1]), (235, 235, 235))
    height, width = image_rgb.shape[:2]
    inside = (max(box[0], 0), max(box[1], 0), min(box[2], width), min(box[3], height))
    if inside[2] > inside[0] and inside[3] > inside[1]:
        portrait.paste(Image.fromarray(image_rgb).crop(inside), (inside[0] - box[0], inside[1] - box[1]))
    chip = portrait.resize((CHIP_WIDTH_PX, CHIP_HEIGHT_PX), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    chip.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
