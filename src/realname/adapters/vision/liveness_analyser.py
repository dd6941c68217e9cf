"""Per-frame liveness signals from the faceplugin ONNX models: face tracking, head pose, eyes, identity, spoofing.

:class:`OnnxFrameAnalyser` implements the ``FrameAnalyser`` port. For each sampled frame it detects faces,
follows the subject's face (the box overlapping the previous one, else the largest), and measures:

* eyes — fr_eye closed-probabilities of both eyes and the 68-point eye aspect ratio of the more open eye (the
  rules use the ratio relative to the person's own level by default; see ``EyeSignal`` for the measurement);
* head pose — yaw from the landmarks on every frame (the nose tip's offset from the eyes' midpoint along the
  eye line, in inter-ocular distances, mapped to degrees with a frontal-nose depth of 0.6 inter-ocular
  distances), pitch from fr_pose every ``pose_every`` frames (its positive pitch is chin up, so the sign is
  flipped). On the labelled clips fr_pose's yaw swung ±17° on a static face (glasses, puffed cheeks) while the
  subject's real right turn peaked at only 20° in it; the landmark yaw kept that face within ±10° and put the
  same turn at 27°. fr_pose's pitch, unlike a landmark ratio, does not move when the subject smiles.
  ``yaw_source`` switches yaw to fr_pose (positive = face toward the image's left, flipped) for comparison;
* passive anti-spoofing — fr_liveness (BGR, crop ×2.7) on near-frontal frames (within ``frontal_max_degrees``
  of the first pose), every ``live_every_seconds``. The model was trained on frontal faces: on a real clip
  re-encoded as a kiosk would (VP8/H.264 at ~600 kbit/s), 40–58 % of all sampled faces scored as spoofs, nearly
  all of them turned heads, so only near-frontal faces are asked;
* identity — fr_feature embeddings of near-frontal, confidently detected frames every ``embed_every_seconds``,
  compared with the clip's first one;
* frame change — mean absolute grey-level difference to the previous sampled frame (frozen or duplicated
  frames show none).

A second face counts only above ``extra_face_min_confidence``: on the labelled clips the detector's spurious
second boxes next to a turned head stayed below 0.8 while real second faces scored 0.99.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from realname.adapters.vision.onnx_models import FaceBox, OnnxFaceModels
from realname.app.liveness import AnalysedFrame, DecodedFrame
from realname.domain.liveness import FrameObservation

_CHANGE_STRIDE = 3
_TRACK_MIN_IOU = 0.3
# Depth of the nose tip in front of the eyes, in inter-ocular distances (average adult head).
_NOSE_DEPTH_IOD = 0.6


class YawSource(enum.StrEnum):
    LANDMARKS = "landmarks"
    POSE_MODEL = "pose_model"


@dataclass(frozen=True, slots=True)
class AnalyserSettings:
    """How densely each model runs, in sampled frames (15 fps). Faces are detected every ``detect_every`` frames
    (frames in between carry the last count, so with ``min_multiple_face_frames = 3`` a second face must be
    seen by two detections); anti-spoofing and embeddings run only on frames
    with a fresh detection. fr_eye runs only on the frames whose pose is measured (it rates them for
    picking the frames to match) unless ``eye_model_every_frame``: blinks are read from the landmarks' eye
    aspect ratio, which every frame has; switch it on to detect blinks with ``EyeSignal.EYE_MODEL``."""

    min_face_confidence: float = 0.5
    extra_face_min_confidence: float = 0.9
    embed_min_face_confidence: float = 0.9
    detect_every: int = 2
    pose_every: int = 4
    yaw_source: YawSource = YawSource.LANDMARKS
    live_every_seconds: float = 0.4
    embed_every_seconds: float = 1.0
    frontal_max_degrees: float = 15.0
    eye_model_every_frame: bool = False


def _iou(a: FaceBox, b: FaceBox) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def eye_aspect_ratio(landmarks68: npt.NDArray[np.float32]) -> float:
    """The more open eye's (two lid distances) / (2 × corner distance), iBUG points 36–47.

    Taking the larger of the two means only both eyes closing lowers it: a wink does not.
    """
    ratios = []
    for first in (36, 42):
        eye = landmarks68[first : first + 6].astype(np.float64)
        width = float(np.linalg.norm(eye[0] - eye[3]))
        lids = float(np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4]))
        ratios.append(lids / (2.0 * width) if width > 0 else 0.0)
    return max(ratios)


def landmark_yaw_degrees(landmarks68: npt.NDArray[np.float32]) -> float:
    """Yaw in the subject's own convention (positive = turned to their own left, nose toward the image's right).

    The nose tip's offset from the eyes' midpoint, measured along the eye line (so roll does not matter), is
    depth × tan(yaw) in inter-ocular distances once the eye line itself is foreshortened.
    """
    points = landmarks68.astype(np.float64)
    left_eye, right_eye = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    eye_line = right_eye - left_eye
    length_sq = float(eye_line @ eye_line)
    if length_sq <= 0.0:
        return 0.0
    offset = float((points[30] - (left_eye + right_eye) / 2.0) @ eye_line) / length_sq
    return math.degrees(math.atan(offset / _NOSE_DEPTH_IOD))


class OnnxFrameAnalyser:
    """Measures a clip's frames with :class:`OnnxFaceModels`. Stateless between clips; safe to share."""

    def __init__(self, models: OnnxFaceModels, settings: AnalyserSettings | None = None) -> None:
        self._models = models
        self.settings = settings or AnalyserSettings()

    def analyse(self, frames: Sequence[DecodedFrame]) -> list[AnalysedFrame]:
        s = self.settings
        observations: list[FrameObservation] = []
        sharpness: list[float | None] = []
        previous_grey: npt.NDArray[np.float32] | None = None
        previous_box: FaceBox | None = None
        reference: npt.NDArray[np.float32] | None = None
        last_embed_t = -math.inf
        frontal_yaw: float | None = None
        frontal_pitch: float | None = None
        last_pitch: float | None = None
        last_live_t = -math.inf
        others = 0
        for index, frame in enumerate(frames):
            image = frame.image_rgb
            grey = self._small_grey(image)
            change = None
            if previous_grey is not None and previous_grey.shape == grey.shape:
                change = float(np.abs(grey - previous_grey).mean())
            previous_grey = grey
            detected = previous_box is None or index % s.detect_every == 0
            if previous_box is not None and not detected:
                # Between detections the face moves a few pixels at most: the landmarks follow it in the last box.
                box = previous_box
            else:
                boxes = self._models.detect(image, min_confidence=s.min_face_confidence)
                if not boxes:
                    previous_box = None
                    observations.append(FrameObservation(frame.t_seconds, 0, change_from_previous=change))
                    sharpness.append(None)
                    continue
                box = self._follow(boxes, previous_box)
                others = sum(1 for b in boxes if b is not box and b.confidence >= s.extra_face_min_confidence)
            previous_box = box
            landmarks = self._models.landmarks(image, box)
            pose_frame = index % s.pose_every == 0
            eyes = (
                self._models.eyes_closed_probability(image, landmarks)
                if pose_frame or s.eye_model_every_frame
                else None
            )
            yaw: float | None = landmark_yaw_degrees(landmarks) if s.yaw_source is YawSource.LANDMARKS else None
            pitch = None
            if pose_frame:
                model_yaw, model_pitch, _ = self._models.head_pose(image, box)
                pitch = -model_pitch
                if s.yaw_source is YawSource.POSE_MODEL:
                    yaw = -model_yaw
            if pitch is not None:
                last_pitch = pitch
            if frontal_yaw is None and yaw is not None and pitch is not None:
                frontal_yaw, frontal_pitch = yaw, pitch
            near_frontal = (
                detected
                and yaw is not None
                and last_pitch is not None
                and frontal_yaw is not None
                and frontal_pitch is not None
                and abs(yaw - frontal_yaw) <= s.frontal_max_degrees
                and abs(last_pitch - frontal_pitch) <= s.frontal_max_degrees
            )
            live = None
            if near_frontal and frame.t_seconds - last_live_t >= s.live_every_seconds:
                live = self._models.live_probability(image, box)
                last_live_t = frame.t_seconds
            similarity = None
            if (
                near_frontal
                and box.confidence >= s.embed_min_face_confidence
                and frame.t_seconds - last_embed_t >= s.embed_every_seconds
            ):
                embedding = self._models.embed(image, landmarks)
                last_embed_t = frame.t_seconds
                if reference is None:
                    reference = embedding
                similarity = float(np.dot(embedding, reference))
            observations.append(
                FrameObservation(
                    t_seconds=frame.t_seconds,
                    faces=1 + others,
                    yaw_degrees=yaw,
                    pitch_degrees=pitch,
                    eye_closed_probabilities=eyes,
                    eye_aspect_ratio=eye_aspect_ratio(landmarks),
                    live_probability=live,
                    identity_similarity=similarity,
                    change_from_previous=change,
                )
            )
            sharpness.append(self._sharpness(grey, box, image.shape[1]) if pitch is not None else None)
        observations = self._with_frontal_quality(observations, sharpness)
        return [AnalysedFrame(o, f.image_rgb) for o, f in zip(observations, frames, strict=True)]

    @staticmethod
    def _follow(boxes: list[FaceBox], previous: FaceBox | None) -> FaceBox:
        if previous is not None:
            overlapping = max(boxes, key=lambda b: _iou(b, previous))
            if _iou(overlapping, previous) >= _TRACK_MIN_IOU:
                return overlapping
        return max(boxes, key=lambda b: b.width * b.height)

    @staticmethod
    def _small_grey(image_rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Every ``_CHANGE_STRIDE``-th pixel's grey level: enough to see change and sharpness, and nearly free."""
        small = image_rgb[::_CHANGE_STRIDE, ::_CHANGE_STRIDE].astype(np.float32)
        grey: npt.NDArray[np.float32] = small @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return grey

    @staticmethod
    def _sharpness(grey_small: npt.NDArray[np.float32], box: FaceBox, width: int) -> float:
        scale = grey_small.shape[1] / width
        x0, y0 = max(int(box.x0 * scale), 0), max(int(box.y0 * scale), 0)
        x1, y1 = int(box.x1 * scale) + 1, int(box.y1 * scale) + 1
        crop = grey_small[y0:y1, x0:x1]
        if crop.shape[0] < 3 or crop.shape[1] < 3:
            return 0.0
        return float(cv2.Laplacian(crop, cv2.CV_32F).var()) * math.sqrt(box.width * box.height)

    @staticmethod
    def _with_frontal_quality(
        observations: list[FrameObservation], sharpness: list[float | None]
    ) -> list[FrameObservation]:
        """Quality for picking frames to match: sharp, large, open-eyed, and close to the clip's median pose."""
        yaws = [o.yaw_degrees for o in observations if o.yaw_degrees is not None]
        pitches = [o.pitch_degrees for o in observations if o.pitch_degrees is not None]
        if not yaws or not pitches:
            return observations
        yaw_mid, pitch_mid = float(np.median(yaws)), float(np.median(pitches))
        rated = []
        for o, sharp in zip(observations, sharpness, strict=True):
            if sharp is None or o.yaw_degrees is None or o.pitch_degrees is None or o.faces != 1:
                rated.append(o)
                continue
            closed = max(o.eye_closed_probabilities or (0.0, 0.0))
            off_pose = abs(o.yaw_degrees - yaw_mid) + abs(o.pitch_degrees - pitch_mid)
            quality = math.log1p(sharp) - 0.1 * off_pose - 3.0 * closed
            rated.append(replace(o, frontal_quality=quality))
        return rated
