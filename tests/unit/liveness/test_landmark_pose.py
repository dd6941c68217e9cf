"""Head pose read from the 68 landmarks (yaw is the default source; pitch only a measured alternative)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from realname.adapters.vision.liveness_analyser import landmark_pitch_degrees, landmark_yaw_degrees


def face(nose_dx: float, nose_dy: float, roll_degrees: float = 0.0) -> npt.NDArray[np.float32]:
    """Eyes one unit apart around (0, 0), nose tip at (nose_dx, nose_dy) in eye units, rotated by roll, scaled."""
    points = np.zeros((68, 2), dtype=np.float64)
    points[36:42] = (-0.5, 0.0)
    points[42:48] = (0.5, 0.0)
    points[30] = (nose_dx, nose_dy)
    angle = np.radians(roll_degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.asarray((points @ rotation.T) * 60.0 + (200.0, 150.0), dtype=np.float32)


def test_frontal_nose_reads_level_and_a_lower_nose_reads_chin_down_whatever_the_roll() -> None:
    for roll in (0.0, 20.0, -30.0):
        assert abs(landmark_pitch_degrees(face(0.0, 0.75, roll))) < 0.5
        assert landmark_pitch_degrees(face(0.0, 0.9, roll)) > 10.0
        assert landmark_pitch_degrees(face(0.0, 0.5, roll)) < -10.0
        assert abs(landmark_yaw_degrees(face(0.0, 0.75, roll))) < 0.5
