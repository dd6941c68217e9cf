"""Lifting a glare veil off a printed portrait, with the chip portrait as the reference for what lies under it.

A document camera's lamp reflects off the card's laminate: over part of the printed portrait every pixel is pushed
toward white, ``observed = x + h·(255 − x)`` with a veil strength ``h`` that varies smoothly (0 where there is no
glare). The chip holds the same photograph (the same-photograph check has just proven it), sharp enough at low
spatial frequencies to tell what the portrait looks like under the veil. So:

1. the chip is mapped into the printed portrait's frame by the five-point similarity transform;
2. both are brought to a working copy ``VEIL_WORKING_HEIGHT_PX`` tall (the veil is smooth) and low-passed (σ =
   ``VEIL_SMOOTHING`` of its height), and a per-channel linear map from the chip's
   colours to the print's (print tone and colour cast) is fitted where the two agree — robustly, leaving out pixels
   far brighter than the map predicts (the glare) over ``FIT_ROUNDS`` rounds;
3. the veil is what the map cannot explain, ``h = (observed − predicted) / (255 − predicted)`` averaged over the
   channels (glare is colourless), smoothed and clipped to [0, ``MAX_VEIL``]; below ``MIN_VEIL`` it is 0;
4. the veil is enlarged to the portrait's size and the portrait lifted at full resolution, ``x = (observed − 255·h) / (1 − h)``: the print's own detail stays, only
   the veil goes. Where the chip does not reach, nothing changes.

A chip too soft to say what lies under the veil (``MIN_CHIP_SHARPNESS``) leaves the portrait as it is. Measured on
faces_east_asian's simulated card fronts: benchmarks/README.md, "Card front".
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from realname.adapters.vision.chip_photo import CHIP_HEIGHT_PX, CHIP_WIDTH_PX

ImageArray = npt.NDArray[np.uint8]

VEIL_SMOOTHING = 0.03
MAX_VEIL = 0.9
MIN_VEIL = 0.03
FIT_ROUNDS = 3
OUTLIER_ROBUST_SIGMAS = 2.5
EDGE_MARGIN_PX = 7  # pixels of the printed frame kept away from the mapped chip's border
VEIL_WORKING_HEIGHT_PX = 160
# The chip must be sharp enough to tell what lies under the veil: a face-region sharpness (:func:`chip_sharpness`)
# below this leaves the portrait as it is. 360 lies between the medians of simulated JPEG 2000 chips at 1,024 bytes
# (282) and 1,536 bytes (436), as the two real chips measured do (218 and 485; issue 13). Lifted against 1 KB chips
# the portrait matched worse (FNMR @1e-3 6.1 → 7.3 %), against 1.5 KB chips better (6.1 → 5.2 %).
MIN_CHIP_SHARPNESS = 360.0
FACE_ROWS = slice(30, 100)  # the face region of a 102×126 chip portrait
FACE_COLUMNS = slice(25, 77)
MIN_OVERLAP_PX = 100  # working pixels the chip must cover for a fit


def chip_sharpness(chip_rgb: ImageArray) -> float:
    """Variance of the Laplacian over the face region of a chip portrait (greyscale, at 102×126): the measure the
    two real decoded chips were measured with (issue 13) and the benchmarks' chips are matched to."""
    chip = chip_rgb
    if chip.shape[:2] != (CHIP_HEIGHT_PX, CHIP_WIDTH_PX):
        chip = np.asarray(cv2.resize(chip, (CHIP_WIDTH_PX, CHIP_HEIGHT_PX), interpolation=cv2.INTER_AREA), np.uint8)
    grey = cv2.cvtColor(np.ascontiguousarray(chip), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey[FACE_ROWS, FACE_COLUMNS], cv2.CV_64F).var())


def lift_glare(printed_rgb: ImageArray, chip_rgb: ImageArray, printed_to_chip: npt.NDArray[np.float64]) -> ImageArray:
    """The printed portrait with the glare veil estimated against ``chip_rgb`` removed; ``printed_to_chip`` maps the
    portrait's pixels onto the chip's (2×3). Unchanged when the chip is softer than ``MIN_CHIP_SHARPNESS``."""
    if chip_sharpness(chip_rgb) < MIN_CHIP_SHARPNESS:
        return printed_rgb
    height, width = printed_rgb.shape[:2]
    # The veil is smooth: it is estimated on a copy about VEIL_WORKING_HEIGHT_PX tall (area-averaged), then enlarged.
    shrink = max(height / VEIL_WORKING_HEIGHT_PX, 1.0)
    size = (max(round(width / shrink), 1), max(round(height / shrink), 1))
    chip_to_small = cv2.invertAffineTransform(printed_to_chip) / shrink
    chip_to_small[:, 2] += 0.5 / shrink - 0.5  # pixel centres under area averaging
    reference = cv2.warpAffine(chip_rgb.astype(np.float32), chip_to_small, size, flags=cv2.INTER_LINEAR, borderValue=0)
    reach = cv2.warpAffine(np.ones(chip_rgb.shape[:2], np.float32), chip_to_small, size, borderValue=0)
    margin = max(round(EDGE_MARGIN_PX / shrink), 1)
    inside = cv2.erode((reach > 0.99).astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0
    if inside.sum() < MIN_OVERLAP_PX:
        return printed_rgb
    sigma = VEIL_SMOOTHING * size[1]
    observed_small = cv2.resize(printed_rgb, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    observed_low = np.asarray(cv2.GaussianBlur(observed_small, (0, 0), sigma), dtype=np.float32)
    reference_low = np.asarray(cv2.GaussianBlur(reference, (0, 0), sigma), dtype=np.float32)
    predicted = _print_tone(observed_low, reference_low, inside)
    veil = ((observed_low - predicted) / (255.0 - predicted)).mean(axis=2)
    veil = cv2.GaussianBlur(np.where(inside, veil, 0.0).astype(np.float32), (0, 0), sigma)
    veil = np.clip(cv2.resize(veil, (width, height), interpolation=cv2.INTER_LINEAR), 0.0, MAX_VEIL)
    veil[veil < MIN_VEIL] = 0.0
    observed = printed_rgb.astype(np.float32)
    lifted = (observed - 255.0 * veil[:, :, None]) / (1.0 - veil[:, :, None])
    return np.ascontiguousarray(np.clip(lifted, 0, 255), dtype=np.uint8)


def _print_tone(
    observed_low: npt.NDArray[np.float32], reference_low: npt.NDArray[np.float32], inside: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float32]:
    """The print's colours predicted from the chip's by a per-channel linear map fitted where there is no glare."""
    fitted = inside.copy()
    predicted = reference_low
    for _ in range(FIT_ROUNDS):
        channels = []
        for channel in range(3):
            x = reference_low[:, :, channel][fitted]
            y = observed_low[:, :, channel][fitted]
            (gain, offset), *_ = np.linalg.lstsq(np.stack([x, np.ones_like(x)], axis=1), y, rcond=None)
            channels.append(reference_low[:, :, channel] * gain + offset)
        predicted = np.stack(channels, axis=2)
        residual = (observed_low - predicted).mean(axis=2)
        inner = residual[inside]
        median = float(np.median(inner))
        spread = 1.4826 * float(np.median(np.abs(inner - median))) + 1e-3
        fitted = inside & (residual < median + OUTLIER_ROBUST_SIGMAS * spread)
    return np.clip(predicted, 0.0, 254.0).astype(np.float32)
