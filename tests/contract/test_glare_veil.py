"""Lifting a glare veil off a printed portrait against its chip (``realname.adapters.vision.glare_veil``), on a
public-domain portrait with a veil of known strength."""

from __future__ import annotations

import cv2
import numpy as np

from realname.adapters.vision.glare_veil import MIN_CHIP_SHARPNESS, MIN_VEIL, chip_sharpness, lift_glare
from tests.contract.conftest import grace_hopper_rgb

SCALE = 3.5  # printed pixels per chip pixel


def _print_and_chip() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 'printed portrait' (the photograph at print size with a colour cast), its soft 'chip', and the 2×3 map
    from printed to chip pixels."""
    photo = grace_hopper_rgb()
    chip = cv2.resize(photo, (102, 126), interpolation=cv2.INTER_AREA)
    chip = cv2.GaussianBlur(chip, (0, 0), 0.8)
    printed = cv2.resize(photo, (round(102 * SCALE), round(126 * SCALE)), interpolation=cv2.INTER_AREA)
    cast = np.clip(printed.astype(np.float32) * np.array([0.92, 1.0, 1.05]) + np.array([8.0, 0.0, -6.0]), 0, 255)
    printed_to_chip = np.array([[1 / SCALE, 0.0, 0.0], [0.0, 1 / SCALE, 0.0]])
    return cast.astype(np.uint8), chip, printed_to_chip


def _veil(shape: tuple[int, ...], centre: tuple[float, float], strength: float) -> np.ndarray:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    sigma = 0.12 * shape[1]
    exponent = -0.5 * (((xs - centre[0]) / sigma) ** 2 + ((ys - centre[1]) / sigma) ** 2)
    return np.asarray(strength * np.exp(exponent), dtype=np.float32)


def test_a_glare_veil_is_lifted_and_the_rest_of_the_print_left_alone() -> None:
    truth, chip, printed_to_chip = _print_and_chip()
    h, w = truth.shape[:2]
    veil = _veil(truth.shape, (0.45 * w, 0.45 * h), 0.7)[:, :, None]
    glared = np.clip(truth + veil * (255.0 - truth), 0, 255).astype(np.uint8)
    lifted = lift_glare(glared, chip, printed_to_chip)
    under = veil[:, :, 0] > 0.3
    before = np.abs(glared.astype(np.float32) - truth)[under].mean()
    after = np.abs(lifted.astype(np.float32) - truth)[under].mean()
    assert before > 40  # the veil washes the face out
    assert after < before / 3, (before, after)
    far = veil[:, :, 0] < 1e-4
    assert np.abs(lifted.astype(np.float32) - glared)[far].mean() < 2.0  # away from the glare: (almost) unchanged


def test_a_print_without_glare_is_returned_unchanged() -> None:
    truth, chip, printed_to_chip = _print_and_chip()
    lifted = lift_glare(truth, chip, printed_to_chip)
    changed = np.abs(lifted.astype(np.int16) - truth.astype(np.int16)) > 0
    assert changed.mean() < 0.05, changed.mean()  # a veil below MIN_VEIL is taken as none
    assert MIN_VEIL > 0


def test_a_chip_that_does_not_overlap_the_print_changes_nothing() -> None:
    truth, chip, _ = _print_and_chip()
    far_away = np.array([[1.0, 0.0, 5000.0], [0.0, 1.0, 5000.0]])
    assert np.array_equal(lift_glare(truth, chip, far_away), truth)


def test_a_chip_too_soft_to_show_what_is_under_the_glare_leaves_the_print_alone() -> None:
    truth, chip, printed_to_chip = _print_and_chip()
    h, w = truth.shape[:2]
    veil = _veil(truth.shape, (0.45 * w, 0.45 * h), 0.7)[:, :, None]
    glared = np.clip(truth + veil * (255.0 - truth), 0, 255).astype(np.uint8)
    soft = np.asarray(cv2.GaussianBlur(chip, (0, 0), 2.5), dtype=np.uint8)
    assert chip_sharpness(chip) >= MIN_CHIP_SHARPNESS > chip_sharpness(soft)
    assert np.array_equal(lift_glare(glared, soft, printed_to_chip), glared)
