"""How a chip-sized reference is enlarged before detection (``quality.upscale_small``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realname.adapters.vision import quality


def _chip() -> np.ndarray:
    rng = np.random.default_rng(13)
    return rng.integers(0, 256, size=(126, 102, 3), dtype=np.uint8)


def test_a_chip_is_smoothed_then_enlarged_by_a_whole_factor() -> None:
    chip = _chip()
    enlarged = quality.upscale_small(chip, 200)
    assert enlarged.shape == (252, 204, 3)
    plain = cv2.resize(chip, (204, 252), interpolation=cv2.INTER_CUBIC)
    smoothed = cv2.resize(
        cv2.GaussianBlur(chip, (0, 0), quality.CHIP_SMOOTHING_SIGMA_PX), (204, 252), interpolation=cv2.INTER_CUBIC
    )
    assert np.array_equal(enlarged, smoothed)
    assert not np.array_equal(enlarged, plain)


def test_a_smoothing_sigma_of_zero_enlarges_without_smoothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # benchmarks/chip_restoration.py measures the path without smoothing this way
    monkeypatch.setattr(quality, "CHIP_SMOOTHING_SIGMA_PX", 0.0)
    chip = _chip()
    assert np.array_equal(quality.upscale_small(chip, 200), cv2.resize(chip, (204, 252), interpolation=cv2.INTER_CUBIC))


def test_a_large_image_is_returned_as_it_is() -> None:
    photo = np.zeros((480, 640, 3), dtype=np.uint8)
    assert quality.upscale_small(photo, 200) is photo
