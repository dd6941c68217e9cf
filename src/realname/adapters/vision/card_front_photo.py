"""Simulating a document-camera image of an ID card's front, for tests, calibration and benchmarks.

A Chinese second-generation ID card (ID-1 format, 85.6 × 54 mm) prints the holder's portrait on its portrait face
(人像面, the "front" here) at the right: about 26 × 32 mm, the same photograph as the chip portrait at roughly 3.5×
its 102 × 126 pixels (≈ 358 × 441 px at the 350 dpi used below). Name, sex, ethnicity, birth date and address are
printed at the left, the ID number along the bottom; a fine guilloche security print covers the card, portrait
included. The layout here is approximate (positions to a few millimetres) and keeps only what matters for finding
and comparing the portrait.

The simulation, in order (each parameter drawn from the ranges in :class:`CardFrontConditions` by a seeded
generator):

1. the printed portrait: the same crop of the source photograph as the chip (``chip_portrait``'s framing) at
   358 × 441, with framing jitter (shift and zoom of a few per cent: printing and cutting are not exact);
2. print: colour cast (per-channel gain and offset), a halftone dot screen per ink (C, M, Y at different angles),
   ink spread (Gaussian blur);
3. the card: light background, text-like blocks, the portrait at the right, guilloche lines over everything;
4. the document camera: the card rotated and scaled slightly on a dark mat, optical blur, a specular glare patch
   (an elliptical highlight, partly over the portrait), sensor noise, JPEG.

Returns the JPEG bytes a document camera (高拍仪) would hand over.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from realname.adapters.vision.card_layout import (
    CARD_HEIGHT_PX,
    CARD_WIDTH_PX,
    PORTRAIT_HEIGHT_PX,
    PORTRAIT_LEFT,
    PORTRAIT_TOP,
    PORTRAIT_WIDTH_PX,
)
from realname.adapters.vision.chip_photo import chip_portrait

ImageArray = npt.NDArray[np.uint8]
FloatImage = npt.NDArray[np.float32]

CARD_RGB = (236, 238, 240)
CAMERA_WIDTH_PX = 1600
CAMERA_HEIGHT_PX = 1200
MAT_RGB = (40, 42, 45)


@dataclass(frozen=True, slots=True)
class CardFrontConditions:
    """Ranges (low, high) from which each simulated card front draws its print and capture degradations.

    Lengths are pixels at print resolution (350 dpi) unless named otherwise. Set a range to (0, 0) (or the switch
    off) to leave a degradation out.
    """

    framing_shift: float = 0.03
    framing_zoom: float = 0.03
    colour_gain: tuple[float, float] = (0.88, 1.12)
    colour_offset: tuple[float, float] = (-12.0, 12.0)
    halftone: bool = True
    halftone_period_px: tuple[float, float] = (2.5, 4.0)
    ink_blur_sigma_px: tuple[float, float] = (0.8, 1.6)
    security_print: bool = True
    guilloche_strength: tuple[float, float] = (0.12, 0.3)
    rotation_degrees: tuple[float, float] = (-3.0, 3.0)
    camera_scale: tuple[float, float] = (0.85, 1.1)
    camera_blur_sigma_px: tuple[float, float] = (0.4, 1.0)
    glare: bool = True
    glare_strength: tuple[float, float] = (0.3, 0.85)
    glare_size: tuple[float, float] = (0.12, 0.3)  # sigma as a fraction of the portrait's width
    noise_sigma: tuple[float, float] = (1.5, 5.0)
    jpeg_quality: tuple[int, int] = (70, 92)


DEFAULT_CONDITIONS = CardFrontConditions()


def _draw(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1])) if bounds[1] > bounds[0] else float(bounds[0])


def printed_portrait(
    image_rgb: ImageArray,
    face_box: tuple[float, float, float, float],
    rng: np.random.Generator,
    conditions: CardFrontConditions = DEFAULT_CONDITIONS,
) -> ImageArray:
    """The portrait as printed (before the card and the camera): the chip's crop of the photograph at print
    resolution, framing-jittered, colour-cast, halftoned and ink-blurred."""
    shift = (
        float(rng.uniform(-conditions.framing_shift, conditions.framing_shift)),
        float(rng.uniform(-conditions.framing_shift, conditions.framing_shift)),
    )
    zoom = 1.0 + float(rng.uniform(-conditions.framing_zoom, conditions.framing_zoom))
    portrait = chip_portrait(
        image_rgb, face_box, shift=shift, zoom=zoom, size=(PORTRAIT_WIDTH_PX, PORTRAIT_HEIGHT_PX)
    ).astype(np.float32)
    gains = np.array([_draw(rng, conditions.colour_gain) for _ in range(3)], dtype=np.float32)
    offsets = np.array([_draw(rng, conditions.colour_offset) for _ in range(3)], dtype=np.float32)
    portrait = np.clip(portrait * gains + offsets, 0.0, 255.0)
    if conditions.halftone:
        portrait = _halftone(portrait, _draw(rng, conditions.halftone_period_px), float(rng.uniform(0, 90)))
    sigma = _draw(rng, conditions.ink_blur_sigma_px)
    if sigma > 0:
        portrait = np.asarray(cv2.GaussianBlur(portrait, (0, 0), sigma), dtype=np.float32)
    return np.clip(portrait, 0, 255).astype(np.uint8)


def _halftone(rgb: FloatImage, period_px: float, angle_degrees: float) -> FloatImage:
    """A clustered-dot screen per ink: cyan, magenta and yellow (1 - R, G, B) at angles 30° apart; ink is laid
    where its coverage exceeds the screen's threshold. Black is left to the three inks."""
    height, width = rgb.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.empty_like(rgb)
    for channel, extra in enumerate((15.0, 75.0, 0.0)):
        theta = math.radians(angle_degrees + extra)
        u = xs * math.cos(theta) + ys * math.sin(theta)
        v = -xs * math.sin(theta) + ys * math.cos(theta)
        screen = 0.5 + 0.25 * (np.cos(2 * math.pi * u / period_px) + np.cos(2 * math.pi * v / period_px))
        coverage = 1.0 - rgb[:, :, channel] / 255.0
        out[:, :, channel] = np.where(coverage > screen, 0.0, 255.0)
    # The dots of a real print are not binary at 350 dpi: mix a little of the contone image back in.
    return 0.6 * out + 0.4 * rgb


def _guilloche(height: int, width: int, rng: np.random.Generator) -> FloatImage:
    """Coverage (0–1) of two crossing families of fine wavy lines."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    coverage = np.zeros((height, width), dtype=np.float32)
    for _ in range(2):
        period = float(rng.uniform(7.0, 12.0))
        amplitude = float(rng.uniform(6.0, 20.0))
        wavelength = float(rng.uniform(60.0, 160.0))
        phase = float(rng.uniform(0, 2 * math.pi))
        slope = float(rng.uniform(-0.4, 0.4))
        position = ys + slope * xs + amplitude * np.sin(2 * math.pi * xs / wavelength + phase)
        distance = np.abs(((position / period) % 1.0) - 0.5) * period  # distance to the nearest line centre
        coverage = np.maximum(coverage, np.clip(1.2 - distance, 0.0, 1.0))
    return coverage


def card_front(portrait_rgb: ImageArray, rng: np.random.Generator, conditions: CardFrontConditions) -> ImageArray:
    """The card's portrait face at print resolution: background, text-like blocks, the portrait at the right,
    the guilloche over it all."""
    card = np.empty((CARD_HEIGHT_PX, CARD_WIDTH_PX, 3), dtype=np.float32)
    card[:] = CARD_RGB
    ink = (60.0, 60.0, 66.0)
    # Label and value blocks at the left (name, sex / ethnicity, birth date, three address lines) and the ID
    # number along the bottom: dark blocks stand in for characters.
    lines = [(0.10, 0.30), (0.22, 0.40), (0.34, 0.46), (0.46, 0.55), (0.55, 0.55), (0.64, 0.50)]
    for top, length in lines:
        y0 = round(top * CARD_HEIGHT_PX)
        x = round(0.06 * CARD_WIDTH_PX)
        end = round((0.06 + length) * CARD_WIDTH_PX)
        while x < end:
            glyph = int(rng.integers(22, 34))
            card[y0 : y0 + 30, x : x + glyph] = ink
            x += glyph + int(rng.integers(6, 12))
    number_top = round(0.80 * CARD_HEIGHT_PX)
    for index in range(18):
        x = round(0.36 * CARD_WIDTH_PX) + index * 36
        card[number_top : number_top + 36, x : x + 26] = ink
    left = round(PORTRAIT_LEFT * CARD_WIDTH_PX)
    top = round(PORTRAIT_TOP * CARD_HEIGHT_PX)
    card[top : top + portrait_rgb.shape[0], left : left + portrait_rgb.shape[1]] = portrait_rgb
    if conditions.security_print:
        coverage = _guilloche(CARD_HEIGHT_PX, CARD_WIDTH_PX, rng) * _draw(rng, conditions.guilloche_strength)
        tint = np.array([rng.uniform(120, 200), rng.uniform(150, 220), rng.uniform(200, 255)], dtype=np.float32)
        card = card * (1.0 - coverage[:, :, None]) + tint * coverage[:, :, None]
    return np.clip(card, 0, 255).astype(np.uint8)


def camera_image(
    card_rgb: ImageArray, rng: np.random.Generator, conditions: CardFrontConditions
) -> tuple[ImageArray, tuple[float, float, float, float]]:
    """The card on a dark mat as the document camera sees it, and the portrait's bounding box in that image."""
    angle = _draw(rng, conditions.rotation_degrees)
    scale = _draw(rng, conditions.camera_scale)
    centre = (
        CAMERA_WIDTH_PX / 2 + float(rng.uniform(-80, 80)),
        CAMERA_HEIGHT_PX / 2 + float(rng.uniform(-60, 60)),
    )
    matrix = cv2.getRotationMatrix2D((CARD_WIDTH_PX / 2, CARD_HEIGHT_PX / 2), angle, scale)
    matrix[0, 2] += centre[0] - CARD_WIDTH_PX / 2
    matrix[1, 2] += centre[1] - CARD_HEIGHT_PX / 2
    # Anti-alias before shrinking, as a lens would.
    source = cv2.GaussianBlur(card_rgb, (0, 0), 0.5 / scale) if scale < 1.0 else card_rgb
    frame = cv2.warpAffine(
        source,
        matrix,
        (CAMERA_WIDTH_PX, CAMERA_HEIGHT_PX),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=MAT_RGB,
    ).astype(np.float32)
    left, top = PORTRAIT_LEFT * CARD_WIDTH_PX, PORTRAIT_TOP * CARD_HEIGHT_PX
    corners = np.array(
        [[left, top], [left + PORTRAIT_WIDTH_PX, top], [left, top + PORTRAIT_HEIGHT_PX]], dtype=np.float64
    )
    mapped = corners @ matrix[:, :2].T + matrix[:, 2]
    xs = [*mapped[:, 0], mapped[1, 0] + mapped[2, 0] - mapped[0, 0]]
    ys = [*mapped[:, 1], mapped[1, 1] + mapped[2, 1] - mapped[0, 1]]
    box = (min(xs), min(ys), max(xs), max(ys))
    sigma = _draw(rng, conditions.camera_blur_sigma_px)
    if sigma > 0:
        frame = np.asarray(cv2.GaussianBlur(frame, (0, 0), sigma), dtype=np.float32)
    if conditions.glare:
        frame = _glare(frame, box, rng, conditions)
    noise = _draw(rng, conditions.noise_sigma)
    if noise > 0:
        frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(noise)
    return np.clip(frame, 0, 255).astype(np.uint8), box


def _glare(
    frame: FloatImage,
    box: tuple[float, float, float, float],
    rng: np.random.Generator,
    conditions: CardFrontConditions,
) -> FloatImage:
    """A specular highlight: an elliptical, soft-edged patch pushed toward white, centred somewhere on the
    portrait (the card's laminate reflects the camera's lamp)."""
    x0, y0, x1, y1 = box
    width = x1 - x0
    cx, cy = float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
    sx = _draw(rng, conditions.glare_size) * width
    sy = sx * float(rng.uniform(0.4, 1.0))
    theta = float(rng.uniform(0, math.pi))
    reach = 3.5 * max(sx, sy)  # the highlight is negligible beyond this
    left, top = max(int(cx - reach), 0), max(int(cy - reach), 0)
    right, bottom = min(int(cx + reach) + 1, frame.shape[1]), min(int(cy + reach) + 1, frame.shape[0])
    if right <= left or bottom <= top:
        return frame
    ys, xs = np.mgrid[top:bottom, left:right].astype(np.float32)
    u = (xs - cx) * math.cos(theta) + (ys - cy) * math.sin(theta)
    v = -(xs - cx) * math.sin(theta) + (ys - cy) * math.cos(theta)
    highlight = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2)) * _draw(rng, conditions.glare_strength)
    window = frame[top:bottom, left:right]
    frame[top:bottom, left:right] = window + highlight[:, :, None].astype(np.float32) * (255.0 - window)
    return frame


def simulate_card_front(
    image_rgb: ImageArray,
    face_box: tuple[float, float, float, float],
    rng: np.random.Generator,
    conditions: CardFrontConditions = DEFAULT_CONDITIONS,
) -> bytes:
    """A document-camera JPEG of a card front whose printed portrait is the photograph at ``face_box`` (framed
    as :func:`~realname.adapters.vision.chip_photo.chip_portrait` frames the chip portrait)."""
    portrait = printed_portrait(image_rgb, face_box, rng, conditions)
    card = card_front(portrait, rng, conditions)
    frame, _box = camera_image(card, rng, conditions)
    buffer = io.BytesIO()
    quality = int(rng.integers(conditions.jpeg_quality[0], conditions.jpeg_quality[1] + 1))
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
