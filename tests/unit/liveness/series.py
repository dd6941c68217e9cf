"""Synthetic per-frame signal series for the liveness rules: a frontal face at 15 fps, with actions spliced in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from realname.domain.liveness import FrameObservation

FPS = 15.0
OPEN = (0.02, 0.03)
CLOSED = (0.97, 0.95)


def frontal(seconds: float = 6.0, fps: float = FPS) -> list[FrameObservation]:
    """A still, live, frontal face with open eyes, a little sensor noise between frames."""
    count = round(seconds * fps) + 1
    return [
        FrameObservation(
            t_seconds=i / fps,
            faces=1,
            yaw_degrees=2.0,
            pitch_degrees=-3.0,
            eye_closed_probabilities=OPEN,
            eye_aspect_ratio=0.31,
            live_probability=0.97,
            identity_similarity=0.9 if i else 1.0,
            change_from_previous=1.5 if i else None,
            frontal_quality=100.0 - i % 7,
        )
        for i in range(count)
    ]


def edit(
    frames: list[FrameObservation], start_s: float, end_s: float, change: Callable[[FrameObservation], FrameObservation]
) -> list[FrameObservation]:
    """Apply ``change`` to the frames with ``start_s <= t <= end_s``."""
    return [change(f) if start_s - 1e-9 <= f.t_seconds <= end_s + 1e-9 else f for f in frames]


def blink(frames: list[FrameObservation], start_s: float, end_s: float) -> list[FrameObservation]:
    return edit(frames, start_s, end_s, lambda f: replace(f, eye_closed_probabilities=CLOSED, eye_aspect_ratio=0.1))


def turn(frames: list[FrameObservation], start_s: float, end_s: float, yaw: float) -> list[FrameObservation]:
    """Yaw ramps from the baseline to ``yaw`` over 0.2 s, holds, and ramps back over 0.2 s."""

    def at(f: FrameObservation) -> FrameObservation:
        ramp = min(1.0, (f.t_seconds - start_s) / 0.2, (end_s - f.t_seconds) / 0.2)
        return replace(f, yaw_degrees=2.0 + ramp * yaw)

    return edit(frames, start_s, end_s, at)


def nod(frames: list[FrameObservation], start_s: float, end_s: float, pitch: float = 20.0) -> list[FrameObservation]:
    def at(f: FrameObservation) -> FrameObservation:
        ramp = min(1.0, (f.t_seconds - start_s) / 0.2, (end_s - f.t_seconds) / 0.2)
        return replace(f, pitch_degrees=-3.0 + ramp * pitch)

    return edit(frames, start_s, end_s, at)
