"""Simulating an ID-card chip photo from an ordinary photo, for tests, calibration, benchmarks and training.

A second-generation Chinese ID card stores a 102×126 colour portrait in a wavelet format of about 1 KB; a card
reader hands it over decoded. The simulation crops a head-and-shoulders portrait around the face (the face about
60 % of the width, slightly above centre), downscales it to 102×126 and compresses it:

- ``JPEG2000_1024`` / ``JPEG2000_1536``: JPEG 2000 (9/7 wavelet) at a byte budget, then decoded — the realistic
  range. Two real decoded chip portraits measured a face-region Laplacian variance of 218 and 485; JPEG 2000 chips
  at 1,024 bytes measure about 260–280 and at 1,536 bytes about 440–480 (benchmarks/README.md, "Chips").
- ``JPEG_Q25``: JPEG at quality 25, the milder condition earlier benchmarks used (Laplacian variance ≈ 900).

The decoded chip is returned as PNG bytes (lossless), as a reader bridge would hand it over.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

CHIP_WIDTH_PX = 102
CHIP_HEIGHT_PX = 126
CHIP_JPEG_QUALITY = 25
FACE_SHARE_OF_WIDTH = 0.6
BACKDROP_RGB = (235, 235, 235)
_RATE_SEARCH_STEPS = 18
# The face sits slightly above the portrait's centre: the crop is centred this share of its height below the face.
FACE_CENTRE_BELOW_SHARE = 0.05


def framed_face_box(width: float, height: float, face_share: float) -> tuple[float, float, float, float]:
    """Where a portrait ``width`` × ``height`` framed as :func:`chip_portrait` frames it (the face square
    ``face_share`` of the width, ``FACE_CENTRE_BELOW_SHARE`` of the height above centre) has the face, (x0, y0, x1,
    y1)."""
    side = face_share * width
    centre_x = width / 2.0
    centre_y = height / 2.0 - FACE_CENTRE_BELOW_SHARE * height
    return (centre_x - side / 2.0, centre_y - side / 2.0, centre_x + side / 2.0, centre_y + side / 2.0)


def standard_face_box() -> tuple[float, float, float, float]:
    """Where the chip standard's framing puts the face in the 102×126 frame."""
    return framed_face_box(CHIP_WIDTH_PX, CHIP_HEIGHT_PX, FACE_SHARE_OF_WIDTH)


@dataclass(frozen=True, slots=True)
class ChipCompression:
    """How a simulated chip portrait is compressed: JPEG 2000 within ``budget_bytes``, or JPEG at ``jpeg_quality``."""

    name: str
    budget_bytes: int | None = None
    jpeg_quality: int | None = None

    def __post_init__(self) -> None:
        if (self.budget_bytes is None) == (self.jpeg_quality is None):
            raise ValueError("give exactly one of budget_bytes and jpeg_quality")
        if self.budget_bytes is not None and self.budget_bytes < 256:
            raise ValueError("budget_bytes must be at least 256")


JPEG2000_1024 = ChipCompression("j2k1024", budget_bytes=1024)
JPEG2000_1536 = ChipCompression("j2k1536", budget_bytes=1536)
JPEG2000_2048 = ChipCompression("j2k2048", budget_bytes=2048)
JPEG_Q25 = ChipCompression("jpeg_q25", jpeg_quality=CHIP_JPEG_QUALITY)
CHIP_CONDITIONS = (JPEG2000_1024, JPEG2000_1536, JPEG_Q25, JPEG2000_2048)
"""The benchmarks' chip conditions: the realistic range (1,024 and 1,536 bytes: the two real chips measured sit
either side of them), a sharper chip than most real ones (2,048 bytes) and the old, milder JPEG q25 row."""


def chip_portrait(
    image_rgb: npt.NDArray[np.uint8],
    face_box: tuple[float, float, float, float],
    *,
    shift: tuple[float, float] = (0.0, 0.0),
    zoom: float = 1.0,
    size: tuple[int, int] = (CHIP_WIDTH_PX, CHIP_HEIGHT_PX),
) -> npt.NDArray[np.uint8]:
    """The uncompressed 126×102×3 portrait cut around ``face_box`` (x0, y0, x1, y1 in pixels).

    The crop may reach outside the photo; the outside is filled with light grey, as an ID photo backdrop.
    ``shift`` (fractions of the crop's width and height) and ``zoom`` (> 1: the face fills more) vary the
    framing, as real card photos vary. ``size`` (width, height) other than the chip's gives the same framing at
    another resolution (the card's printed portrait: the same photograph at about 3.5× the chip's size).
    """
    x0, y0, x1, y1 = face_box
    side = max(x1 - x0, y1 - y0)
    crop_width = side / FACE_SHARE_OF_WIDTH / zoom
    crop_height = crop_width * CHIP_HEIGHT_PX / CHIP_WIDTH_PX
    centre_x = (x0 + x1) / 2.0 + shift[0] * crop_width
    centre_y = (y0 + y1) / 2.0 + FACE_CENTRE_BELOW_SHARE * crop_height + shift[1] * crop_height
    left = round(centre_x - crop_width / 2.0)
    top = round(centre_y - crop_height / 2.0)
    box = (left, top, left + max(round(crop_width), 1), top + max(round(crop_height), 1))
    portrait = Image.new("RGB", (box[2] - box[0], box[3] - box[1]), BACKDROP_RGB)
    height, width = image_rgb.shape[:2]
    inside = (max(box[0], 0), max(box[1], 0), min(box[2], width), min(box[3], height))
    if inside[2] > inside[0] and inside[3] > inside[1]:
        portrait.paste(Image.fromarray(image_rgb).crop(inside), (inside[0] - box[0], inside[1] - box[1]))
    chip = portrait.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(chip, dtype=np.uint8)


def compress_chip(portrait_rgb: npt.NDArray[np.uint8], compression: ChipCompression) -> npt.NDArray[np.uint8]:
    """The portrait after compression and decoding, as a card reader delivers it."""
    image = Image.fromarray(portrait_rgb)
    if compression.budget_bytes is not None:
        encoded = jpeg2000_within(image, compression.budget_bytes)
    else:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=compression.jpeg_quality)
        encoded = buffer.getvalue()
    with Image.open(io.BytesIO(encoded)) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8)


def jpeg2000_within(image: Image.Image, budget_bytes: int) -> bytes:
    """The JPEG 2000 codestream (9/7 wavelet, one quality layer) of ``image`` that comes closest to
    ``budget_bytes`` without exceeding it, found by bisecting the compression ratio."""
    low, high = 2.0, 2000.0
    best: bytes | None = None
    for _ in range(_RATE_SEARCH_STEPS):
        ratio = (low * high) ** 0.5
        buffer = io.BytesIO()
        image.save(
            buffer, format="JPEG2000", codec="j2k", irreversible=True, quality_mode="rates", quality_layers=[ratio]
        )
        data = buffer.getvalue()
        if len(data) <= budget_bytes:
            best, high = data, ratio
        else:
            low = ratio
    if best is None:
        raise ValueError(f"cannot compress the portrait into {budget_bytes} bytes")
    return best


def simulate_chip_photo(
    image_rgb: npt.NDArray[np.uint8],
    face_box: tuple[float, float, float, float],
    *,
    compression: ChipCompression = JPEG2000_1536,
) -> bytes:
    """A simulated chip portrait of the face at ``face_box``, decoded and returned as PNG bytes. By default a
    realistic chip (JPEG 2000 at 1,536 bytes)."""
    decoded = compress_chip(chip_portrait(image_rgb, face_box), compression)
    buffer = io.BytesIO()
    Image.fromarray(decoded).save(buffer, format="PNG")
    return buffer.getvalue()
