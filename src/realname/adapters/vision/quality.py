"""Image-quality measurements on a face crop: sharpness, brightness, size, and a yaw estimate from 5 points.

Engines call these and put the numbers in a :class:`~realname.domain.face.FaceQuality`; the domain decides.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from realname.domain.face import FaceQuality

SHARPNESS_CROP_HEIGHT_PX = 112
PAD_FRACTION = 0.2
CHIP_SMOOTHING_SIGMA_PX = 0.6


def crop_sharpness_and_brightness(
    image_rgb: npt.NDArray[np.uint8], x0: float, y0: float, x1: float, y1: float
) -> tuple[float, float]:
    """(variance of the Laplacian, mean grey level) of the face box, scaled to 112 px high first.

    Scaling to a fixed height makes sharpness comparable between large and small faces; an upscaled small
    face reads as blurred, which is what it is.
    """
    height, width = image_rgb.shape[:2]
    left, top = max(int(x0), 0), max(int(y0), 0)
    right, bottom = min(math.ceil(x1), width), min(math.ceil(y1), height)
    if right - left < 2 or bottom - top < 2:
        return 0.0, 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(image_rgb[top:bottom, left:right]), cv2.COLOR_RGB2GRAY)
    scale = SHARPNESS_CROP_HEIGHT_PX / grey.shape[0]
    resized = cv2.resize(
        grey,
        (max(round(grey.shape[1] * scale), 2), SHARPNESS_CROP_HEIGHT_PX),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
    laplacian = cv2.Laplacian(resized, cv2.CV_64F)
    return float(laplacian.var()), float(resized.mean())


def yaw_from_eyes_and_nose(
    left_eye: npt.NDArray[np.float64], right_eye: npt.NDArray[np.float64], nose: npt.NDArray[np.float64]
) -> float:
    """A rough yaw in degrees from the nose's offset to the eyes' midpoint (eyes given as image-left, image-right).

    Sign follows fr_pose: positive when the nose lies left of the midpoint (face turned to the image's left).
    Only good enough to tell frontal from clearly turned.
    """
    eye_distance = float(np.linalg.norm(right_eye - left_eye))
    if eye_distance <= 0:
        return 0.0
    offset = float(nose[0] - (left_eye[0] + right_eye[0]) / 2.0) / eye_distance
    return -math.degrees(math.asin(max(-1.0, min(1.0, 2.0 * offset))))


def measure_quality(
    image_rgb: npt.NDArray[np.uint8],
    box: tuple[float, float, float, float],
    *,
    yaw_degrees: float | None,
    pitch_degrees: float | None,
    eyes_closed_probability: float | None,
    detection_confidence: float,
) -> FaceQuality:
    x0, y0, x1, y1 = box
    sharpness, brightness = crop_sharpness_and_brightness(image_rgb, x0, y0, x1, y1)
    return FaceQuality(
        face_height_px=float(y1 - y0),
        sharpness=sharpness,
        brightness=brightness,
        yaw_degrees=yaw_degrees,
        pitch_degrees=pitch_degrees,
        eyes_closed_probability=eyes_closed_probability,
        detection_confidence=detection_confidence,
    )


MAX_UPSCALED_SIDE_PX = 2048


def upscale_small(image_rgb: npt.NDArray[np.uint8], min_height_px: int) -> npt.NDArray[np.uint8]:
    """A small, compressed photo (an ID chip) smoothed lightly and enlarged (bicubic, integer factor) until it
    is at least ``min_height_px`` high; larger images are returned as they are.

    The smoothing (Gaussian, sigma 0.6 px) removes JPEG block edges that enlargement would otherwise sharpen.
    Measured on faces_east_asian with simulated 102x126 q25 chips (onnx engine, benchmarks/face_accuracy.py):
    FNMR at FMR 1e-3 16.0 % -> 13.7 % and at the shipped threshold 53.8 % -> 47.5 %; sigma >= 1.0 did worse.
    Re-measured on JPEG 2000 chips with the sface engine (benchmarks/chip_restoration.py): sigma 0, 0.4 and 0.9 px
    were no better than 0.6 at 1,024 and 1,536 bytes (no smoothing: 0.4-3.6 points worse). A sigma of 0 skips it.
    """
    height, width = image_rgb.shape[:2]
    if height >= min_height_px:
        return image_rgb
    # Never beyond MAX_UPSCALED_SIDE_PX on the longer side, whatever shape got this far (the decoders refuse odd
    # shapes; this bounds the allocation even so).
    factor = max(1, min(math.ceil(min_height_px / height), MAX_UPSCALED_SIDE_PX // max(height, width)))
    if factor == 1:
        return image_rgb
    smoothed = (
        cv2.GaussianBlur(image_rgb, (0, 0), CHIP_SMOOTHING_SIGMA_PX) if CHIP_SMOOTHING_SIGMA_PX > 0 else image_rgb
    )
    enlarged = cv2.resize(smoothed, (image_rgb.shape[1] * factor, height * factor), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(enlarged, dtype=np.uint8)


def main_face_index(boxes: list[tuple[float, float, float, float]], width: int, height: int) -> int:
    """The subject's face: among faces at least 60 % of the largest one's area, the one nearest the centre.

    A subject stands in the middle of a kiosk camera (and of a cropped portrait); a companion of similar size
    at the edge is not the subject.
    """
    areas = [max(x1 - x0, 0.0) * max(y1 - y0, 0.0) for x0, y0, x1, y1 in boxes]
    largest = max(areas)
    candidates = [i for i, area in enumerate(areas) if area >= 0.6 * largest]

    def distance(i: int) -> float:
        x0, y0, x1, y1 = boxes[i]
        return math.hypot((x0 + x1) / 2.0 - width / 2.0, (y0 + y1) / 2.0 - height / 2.0)

    return min(candidates, key=distance)


# A photo-kind reference (a printed portrait) is searched for its face on a print-suppressed copy smoothed with
# σ = its longer side / 300 (≈ 2 px on a located portrait ≈ 600 px tall: the halftone's and guilloche's scale);
# landmarks and alignment use the picture itself (landmarks on the suppressed copy measured the same: 6.0 vs 6.1 %
# FNMR @1e-3, docs/models/sface.md). Used by the engine and by the same-photograph check's registration.
PRINTED_DETECTION_SMOOTHING_PER_SIDE = 300.0


def print_suppressed(rgb: npt.NDArray[np.uint8], sigma_px: float) -> npt.NDArray[np.uint8]:
    """A copy of a printed picture for face detection and landmarks only: smoothed (Gaussian ``sigma_px``) at about
    the scale of the halftone screen and security print, and its lightness contrast-equalised (CLAHE), so the print
    and a dark photograph do not hide the face from fr_detect."""
    smoothed = cv2.GaussianBlur(rgb, (0, 0), sigma_px)
    lab = cv2.cvtColor(smoothed, cv2.COLOR_RGB2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(lab[:, :, 0])
    return np.ascontiguousarray(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), dtype=np.uint8)


def pad_for_detection(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The image inside a neutral grey border of ``PAD_FRACTION`` of its longer side.

    Tightly cropped faces (an ID chip photo, a face filling the frame) otherwise reach the image edges: the
    detector then finds parts of the face, and the landmark crop, which is clamped to the image, is off.
    Measurements in pixels (face height) are unaffected.
    """
    border = round(PAD_FRACTION * max(rgb.shape[0], rgb.shape[1]))
    padded = cv2.copyMakeBorder(rgb, border, border, border, border, cv2.BORDER_CONSTANT, value=(127, 127, 127))
    return np.ascontiguousarray(padded, dtype=np.uint8)
