"""Framing feedback for the capture step: before the challenge is recorded, the kiosk shows the customer whether
they are framed well enough to record (one face, near enough, centred, lit). One category per preview frame.

The feedback is guidance only: it decides nothing about the person (the recorded clip is judged by the liveness
and matching rules). Pure: standard library and numpy.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


class Framing(enum.StrEnum):
    """What the framing guide tells the customer. The values are stable, public codes (the kiosk shows a text
    for each)."""

    READY = "ready"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    TOO_FAR = "too_far"
    TOO_CLOSE = "too_close"
    OFF_CENTRE = "off_centre"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"


@dataclass(frozen=True, slots=True)
class FaceInFrame:
    """A detected face as shares of the frame (0 = left/top edge, 1 = right/bottom edge) and the detector's
    confidence."""

    left: float
    top: float
    right: float
    bottom: float
    confidence: float

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def centre(self) -> tuple[float, float]:
        return (self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0


@dataclass(frozen=True, slots=True)
class FramingLimits:
    """When a preview frame is good enough to start recording.

    The face's height is a share of the frame's height. The recorded clip is 640×480 at the kiosk; its quality
    gate wants a face of 60 px (``QualityGates.min_face_height_px``), and the liveness rules follow head turns
    and blinks better on a larger face, so the guide asks for a fifth of the frame (96 px of 480) and no more
    than nine tenths (a turned head must stay in the picture). A second face counts from the confidence at which
    the liveness analysis counts one (its spurious boxes beside a turned head stay below 0.8). Brightness is the
    mean grey level (0–255) of the face's box, with the liveness gate's limits (``QualityGates``).
    """

    min_face_height: float = 0.2
    max_face_height: float = 0.9
    max_centre_offset: float = 0.25
    min_brightness: float = 40.0
    max_brightness: float = 215.0
    extra_face_min_confidence: float = 0.8


def mean_grey(rgb: npt.NDArray[np.uint8], face: FaceInFrame | None = None) -> float:
    """Mean grey level (ITU-R BT.601 weights) of the whole frame, or of the face's box in it."""
    height, width = rgb.shape[:2]
    if face is not None:
        top, bottom = int(max(0.0, face.top) * height), int(min(1.0, face.bottom) * height)
        left, right = int(max(0.0, face.left) * width), int(min(1.0, face.right) * width)
        if bottom - top >= 2 and right - left >= 2:
            rgb = rgb[top:bottom, left:right]
    weights = np.array([0.299, 0.587, 0.114])
    return float((rgb.reshape(-1, 3).mean(axis=0) * weights).sum())


def framing_feedback(
    faces: Sequence[FaceInFrame], rgb: npt.NDArray[np.uint8], limits: FramingLimits | None = None
) -> Framing:
    """The one thing to tell the customer about this frame, most pressing first: light (when no face is seen in
    a dark frame), no face, another face, distance, position, the face's light. ``READY`` when nothing is wrong.
    """
    limits = limits or FramingLimits()
    if not faces:
        return Framing.TOO_DARK if mean_grey(rgb) < limits.min_brightness else Framing.NO_FACE
    ranked = sorted(faces, key=lambda f: f.height, reverse=True)
    main = ranked[0]
    if any(other.confidence >= limits.extra_face_min_confidence for other in ranked[1:]):
        return Framing.MULTIPLE_FACES
    if main.height < limits.min_face_height:
        return Framing.TOO_FAR
    if main.height > limits.max_face_height:
        return Framing.TOO_CLOSE
    centre_x, centre_y = main.centre
    if max(abs(centre_x - 0.5), abs(centre_y - 0.5)) > limits.max_centre_offset:
        return Framing.OFF_CENTRE
    brightness = mean_grey(rgb, main)
    if brightness < limits.min_brightness:
        return Framing.TOO_DARK
    if brightness > limits.max_brightness:
        return Framing.TOO_BRIGHT
    return Framing.READY
