"""Lifting a glare veil off a printed portrait, with the chip portrait as the reference for what lies under it.

A document camera's lamp reflects off the card's laminate: over part of the printed portrait every pixel is pushed
toward white, ``observed = x + h·(255 − x)`` with a veil strength ``h`` that varies smoothly (0 where there is no
glare). The chip holds the same photograph (the same-photograph check has just proven it), sharp enough at low
spatial frequencies to tell what the portrait looks like under the veil. So:

1. the chip is mapped into the printed portrait's frame by the five-point similarity transform;
2. both are low-passed (σ = ``VEIL_SMOOTHING`` of the portrait's height), and a per-channel linear map from the chip's
   colours to the print's (print tone and colour cast) is fitted where the two agree — robustly, leaving out pixels
   far brighter than the map predicts (the glare) over ``FIT_ROUNDS`` rounds;
3. the veil is what the map cannot explain, ``h = (observed − predicted) / (255 − predicted)`` averaged over the
   channels (glare is colourless), smoothed and clipped to [0, ``MAX_VEIL``]; below ``MIN_VEIL`` it is 0;
4. the portrait is lifted at full resolution, ``x = (observed − 255·h) / (1 − h)``: the print's own detail stays, only
   the veil goes. Where the chip does not reach, nothing changes.

Measured on faces_east_asian's simulated card fronts (benchmarks/README.md, "Card front"): FNMR @1e-3 of live vs
printed portrait 6.1 → 5.1 % with the 1.5 KB chip as reference (4.3 % with no glare simulated at all).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

ImageArray = npt.NDArray[np.uint8]

VEIL_SMOOTHING = 0.03
MAX_VEIL = 0.9
MIN_VEIL = 0.03
FIT_ROUNDS = 3
OUTLIER_ROBUST_SIGMAS = 2.5
EDGE_MARGIN_PX = 7  # pixels of the printed frame kept away from the mapped chip's border


def lift_glare(printed_rgb: ImageArray, chip_rgb: ImageArray, printed_to_chip: npt.NDArray[np.float64]) -> ImageArray:
    """The printed portrait with the glare veil estimated against ``chip_rgb`` removed; ``printed_to_chip`` maps the
    portrait's pixels onto the chip's (2×3)."""
    height, width = printed_rgb.shape[:2]
    to_printed = cv2.invertAffineTransform(printed_to_chip)
    reference = cv2.warpAffine(
        chip_rgb.astype(np.float32), to_printed, (width, height), flags=cv2.INTER_CUBIC, borderValue=0
    )
    reach = cv2.warpAffine(
        np.ones(chip_rgb.shape[:2], np.float32), to_printed, (width, height), flags=cv2.INTER_LINEAR, borderValue=0
    )
    kernel = np.ones((2 * EDGE_MARGIN_PX + 1, 2 * EDGE_MARGIN_PX + 1), np.uint8)
    inside = cv2.erode((reach > 0.99).astype(np.uint8), kernel).astype(bool)
    if inside.sum() < 100:
        return printed_rgb
    sigma = VEIL_SMOOTHING * height
    observed = printed_rgb.astype(np.float32)
    observed_low = np.asarray(cv2.GaussianBlur(observed, (0, 0), sigma), dtype=np.float32)
    reference_low = np.asarray(cv2.GaussianBlur(reference, (0, 0), sigma), dtype=np.float32)
    predicted = _print_tone(observed_low, reference_low, inside)
    veil = ((observed_low - predicted) / (255.0 - predicted)).mean(axis=2)
    veil = cv2.GaussianBlur(np.where(inside, veil, 0.0).astype(np.float32), (0, 0), sigma)
    veil = np.clip(veil, 0.0, MAX_VEIL)
    veil[veil < MIN_VEIL] = 0.0
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
