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
from realname.app.liveness import AnalysedFrame, DecodedFrame, ImageRgb
from realname.domain.liveness import FrameObservation

_CHANGE_STRIDE = 3
_TRACK_MIN_IOU = 0.3
# Between detections a face is followed from its landmarks unless it jumped by more than this share of its box
# (a fast movement: detect again) or its box ran off the picture.
_TRACK_MAX_SHIFT = 0.25
# Depth of the nose tip in front of the eyes, in inter-ocular distances (average adult head).
_NOSE_DEPTH_IOD = 0.6
# Drop of the nose tip below the eyes on a frontal face, in inter-ocular distances (average adult head).
_NOSE_DROP_IOD = 0.75


class YawSource(enum.StrEnum):
    LANDMARKS = "landmarks"
    POSE_MODEL = "pose_model"


class PitchSource(enum.StrEnum):
    """Where pitch comes from on the frames whose pose is measured. ``LANDMARKS`` (no fr_pose run) was measured
    against ``POSE_MODEL`` with benchmarks/liveness_bench.py --pitch-source (benchmarks/README.md, Liveness)."""

    POSE_MODEL = "pose_model"
    LANDMARKS = "landmarks"


@dataclass(frozen=True, slots=True)
class AnalyserSettings:
    """How densely each model runs, in sampled frames (15 fps).

    Faces are detected every ``detect_every`` frames; with ``track_between_detections`` the frames in between
    take their box from the previous frame's landmarks (placed as the last detection's box sat around its
    landmarks), and a jump of more than a quarter of the box, or a box running off the picture, forces a fresh
    detection. Without it the frames in between reuse the last detected box (the old behaviour: on the labelled
    clips a stale box every 3rd frame produced false blinks). A second face counts on the frames between two
    detections only when both detections saw it, so with ``min_multiple_face_frames = 3`` a one-off spurious
    box never rejects a clip. Anti-spoofing and embeddings run on frames near the first pose (tracked frames
    too, when tracking); embeddings only while the last detection was confident. fr_eye runs only on the
    frames whose pose is measured (it rates them for picking the frames to match) unless
    ``eye_model_every_frame``: blinks are read from the landmarks' eye aspect ratio, which every frame has;
    switch it on to detect blinks with ``EyeSignal.EYE_MODEL``."""

    min_face_confidence: float = 0.5
    extra_face_min_confidence: float = 0.9
    embed_min_face_confidence: float = 0.9
    detect_every: int = 6
    track_between_detections: bool = True
    pose_every: int = 4
    yaw_source: YawSource = YawSource.LANDMARKS
    pitch_source: PitchSource = PitchSource.POSE_MODEL
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
    offset = _nose_offset_iod(landmarks68)
    return 0.0 if offset is None else math.degrees(math.atan(offset[0] / _NOSE_DEPTH_IOD))


def _nose_offset_iod(landmarks68: npt.NDArray[np.float32]) -> tuple[float, float] | None:
    """The nose tip's offset from the eyes' midpoint in inter-ocular distances: along the eye line (towards the
    image's right eye) and across it (downwards); None when the eyes coincide."""
    points = landmarks68.astype(np.float64)
    left_eye, right_eye = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    eye_line = right_eye - left_eye
    length_sq = float(eye_line @ eye_line)
    if length_sq <= 0.0:
        return None
    offset = points[30] - (left_eye + right_eye) / 2.0
    down = np.array([-eye_line[1], eye_line[0]])
    return float(offset @ eye_line) / length_sq, float(offset @ down) / length_sq


def landmark_pitch_degrees(landmarks68: npt.NDArray[np.float32]) -> float:
    """Pitch (positive = chin down) from the nose tip's drop below the eyes' midpoint, measured across the eye line
    in inter-ocular distances: with the tip ``_NOSE_DROP_IOD`` below and ``_NOSE_DEPTH_IOD`` in front of the eyes,
    the drop is r·sin(pitch + a) (r, a from those two). Eye corners and the nose tip only: lips and jaw (smiles) do
    not enter it."""
    offset = _nose_offset_iod(landmarks68)
    if offset is None:
        return 0.0
    drop = offset[1]
    radius = math.hypot(_NOSE_DROP_IOD, _NOSE_DEPTH_IOD)
    angle = math.atan2(_NOSE_DROP_IOD, _NOSE_DEPTH_IOD)
    return math.degrees(math.asin(max(-1.0, min(1.0, drop / radius))) - angle)


class OnnxFrameAnalyser:
    """Measures clips with :class:`OnnxFaceModels`. Stateless between clips; safe to share."""

    def __init__(self, models: OnnxFaceModels, settings: AnalyserSettings | None = None) -> None:
        self._models = models
        self.settings = settings or AnalyserSettings()

    def analyse(self, frames: Sequence[DecodedFrame]) -> list[AnalysedFrame]:
        analysis = self.start(keep_frames_per_second=None)
        for frame in frames:
            analysis.add(frame)
        return analysis.finish()

    def start(self, *, keep_frames_per_second: float | None) -> OnnxClipAnalysis:
        """A clip's analysis that takes its frames one at a time, in order (see :class:`OnnxClipAnalysis`)."""
        return OnnxClipAnalysis(self._models, self.settings, keep_frames_per_second)


class OnnxClipAnalysis:
    """One clip's analysis in progress: the tracking state and the per-frame measurements so far.

    With ``keep_frames_per_second`` None every frame's pixels are kept (as :meth:`OnnxFrameAnalyser.analyse`
    always did); otherwise only the best candidate for matching in each ``1 / keep_frames_per_second`` slot of
    the clip (sharp, open-eyed, close to the first pose), so a streamed clip holds a handful of frames, not all.
    Frames whose pixels were dropped get no ``frontal_quality`` and are never picked for matching.
    """

    def __init__(
        self, models: OnnxFaceModels, settings: AnalyserSettings, keep_frames_per_second: float | None
    ) -> None:
        self._models = models
        self._s = settings
        self._keep_slot_seconds = 1.0 / keep_frames_per_second if keep_frames_per_second else None
        self._observations: list[FrameObservation] = []
        self._sharpness: list[float | None] = []
        self._images: list[ImageRgb | None] = []
        self._kept_by_slot: dict[int, tuple[float, int]] = {}
        self._index = 0
        self._previous_grey: npt.NDArray[np.float32] | None = None
        self._previous_box: FaceBox | None = None
        self._previous_landmarks: npt.NDArray[np.float32] | None = None
        self._box_from_landmarks: _BoxFromLandmarks | None = None
        self._others = 0
        self._others_confirmed = 0
        self._detection_confidence = 0.0
        self._reference: npt.NDArray[np.float32] | None = None
        self._last_embed_t = -math.inf
        self._frontal_yaw: float | None = None
        self._frontal_pitch: float | None = None
        self._last_pitch: float | None = None
        self._last_live_t = -math.inf

    @property
    def frames(self) -> int:
        return self._index

    def add(self, frame: DecodedFrame) -> None:
        """Measure the next frame (frames must come in capture order)."""
        s = self._s
        index = self._index
        self._index += 1
        image = frame.image_rgb
        grey = _small_grey(image)
        change = None
        if self._previous_grey is not None and self._previous_grey.shape == grey.shape:
            change = float(np.abs(grey - self._previous_grey).mean())
        self._previous_grey = grey
        box = self._tracked_box(image, index)
        if box is None:
            boxes = self._models.detect(image, min_confidence=s.min_face_confidence)
            if not boxes:
                self._lose_face()
                self._append(FrameObservation(frame.t_seconds, 0, change_from_previous=change), None, image, None)
                return
            box = _follow(boxes, self._previous_box)
            others = sum(1 for b in boxes if b is not box and b.confidence >= s.extra_face_min_confidence)
            # A second face counts on the frames between two detections only when both saw it.
            self._others_confirmed = min(others, self._others)
            self._others = others
            self._detection_confidence = box.confidence
            detected = True
            faces = 1 + others
        else:
            detected = False
            faces = 1 + (self._others_confirmed if s.track_between_detections else self._others)
        landmarks = self._models.landmarks(image, box)
        if detected:
            self._box_from_landmarks = _BoxFromLandmarks.fit(box, landmarks)
        self._previous_box = box
        self._previous_landmarks = landmarks
        pose_frame = index % s.pose_every == 0
        eyes = self._models.eyes_closed_probability(image, landmarks) if pose_frame or s.eye_model_every_frame else None
        yaw: float | None = landmark_yaw_degrees(landmarks) if s.yaw_source is YawSource.LANDMARKS else None
        pitch = None
        if pose_frame and s.pitch_source is PitchSource.LANDMARKS and s.yaw_source is YawSource.LANDMARKS:
            pitch = landmark_pitch_degrees(landmarks)
        elif pose_frame:
            model_yaw, model_pitch, _ = self._models.head_pose(image, box)
            pitch = landmark_pitch_degrees(landmarks) if s.pitch_source is PitchSource.LANDMARKS else -model_pitch
            if s.yaw_source is YawSource.POSE_MODEL:
                yaw = -model_yaw
        if pitch is not None:
            self._last_pitch = pitch
        if self._frontal_yaw is None and yaw is not None and pitch is not None:
            self._frontal_yaw, self._frontal_pitch = yaw, pitch
        near_frontal = (
            (detected or s.track_between_detections)
            and yaw is not None
            and self._last_pitch is not None
            and self._frontal_yaw is not None
            and self._frontal_pitch is not None
            and abs(yaw - self._frontal_yaw) <= s.frontal_max_degrees
            and abs(self._last_pitch - self._frontal_pitch) <= s.frontal_max_degrees
        )
        live = None
        if near_frontal and frame.t_seconds - self._last_live_t >= s.live_every_seconds:
            live = self._models.live_probability(image, box)
            self._last_live_t = frame.t_seconds
        similarity = None
        if (
            near_frontal
            and self._detection_confidence >= s.embed_min_face_confidence
            and frame.t_seconds - self._last_embed_t >= s.embed_every_seconds
        ):
            embedding = self._models.embed(image, landmarks)
            self._last_embed_t = frame.t_seconds
            if self._reference is None:
                self._reference = embedding
            similarity = float(np.dot(embedding, self._reference))
        observation = FrameObservation(
            t_seconds=frame.t_seconds,
            faces=faces,
            yaw_degrees=yaw,
            pitch_degrees=pitch,
            eye_closed_probabilities=eyes,
            eye_aspect_ratio=eye_aspect_ratio(landmarks),
            live_probability=live,
            identity_similarity=similarity,
            change_from_previous=change,
        )
        sharp = _sharpness(grey, box, image.shape[1]) if pitch is not None else None
        self._append(observation, sharp, image, box)

    def settled_candidates(self) -> list[tuple[float, ImageRgb]]:
        """The pictures kept for matching that no later frame can replace (their one-second slot has passed), each
        with its provisional rating: against the median pose of the frames so far, as :meth:`finish` rates against
        the whole clip's. Empty when every frame's pixels are kept."""
        if self._keep_slot_seconds is None or not self._observations:
            return []
        current = int(self._observations[-1].t_seconds // self._keep_slot_seconds)
        yaws = [o.yaw_degrees for o in self._observations if o.yaw_degrees is not None]
        pitches = [o.pitch_degrees for o in self._observations if o.pitch_degrees is not None]
        yaw_mid = float(np.median(yaws)) if yaws else None
        pitch_mid = float(np.median(pitches)) if pitches else None
        settled = []
        for slot, (_, index) in self._kept_by_slot.items():
            image, sharp = self._images[index], self._sharpness[index]
            if slot < current and image is not None and sharp is not None:
                settled.append((_frame_quality(self._observations[index], sharp, yaw_mid, pitch_mid), image))
        return settled

    def finish(self) -> list[AnalysedFrame]:
        """Every frame's measurements, with frame quality for matching rated against the whole clip's pose."""
        observations = _with_frontal_quality(self._observations, self._sharpness)
        return [AnalysedFrame(o, image) for o, image in zip(observations, self._images, strict=True)]

    def _tracked_box(self, image: ImageRgb, index: int) -> FaceBox | None:
        """The face's box on this frame without a detection, from the previous frame's landmarks; None when a
        detection is due (every ``detect_every`` frames, or the face was lost or moved fast)."""
        s = self._s
        if self._previous_box is None or self._previous_landmarks is None or self._box_from_landmarks is None:
            return None
        if index % s.detect_every == 0:
            return None
        if not s.track_between_detections:
            return self._previous_box
        box = self._box_from_landmarks.apply(self._previous_landmarks, image.shape[1], image.shape[0])
        if box is None:
            return None
        shift = math.hypot(
            (box.x0 + box.x1 - self._previous_box.x0 - self._previous_box.x1) / 2.0,
            (box.y0 + box.y1 - self._previous_box.y0 - self._previous_box.y1) / 2.0,
        )
        if shift > _TRACK_MAX_SHIFT * self._previous_box.height:
            return None
        return box

    def _lose_face(self) -> None:
        self._previous_box = None
        self._previous_landmarks = None
        self._box_from_landmarks = None
        self._others = self._others_confirmed = 0

    def _append(self, observation: FrameObservation, sharp: float | None, image: ImageRgb, box: FaceBox | None) -> None:
        index = len(self._observations)
        self._observations.append(observation)
        self._sharpness.append(sharp)
        if self._keep_slot_seconds is None:
            self._images.append(image)
            return
        self._images.append(None)
        if sharp is None or box is None or observation.faces != 1:
            return
        slot = int(observation.t_seconds // self._keep_slot_seconds)
        quality = _frame_quality(observation, sharp, self._frontal_yaw, self._frontal_pitch)
        kept = self._kept_by_slot.get(slot)
        if kept is not None and kept[0] >= quality:
            self._sharpness[index] = None
            return
        if kept is not None:
            self._images[kept[1]] = None
            self._sharpness[kept[1]] = None
        self._kept_by_slot[slot] = (quality, index)
        self._images[index] = image


def _follow(boxes: list[FaceBox], previous: FaceBox | None) -> FaceBox:
    """The box overlapping the previous frame's face, else the largest."""
    if previous is not None:
        overlapping = max(boxes, key=lambda b: _iou(b, previous))
        if _iou(overlapping, previous) >= _TRACK_MIN_IOU:
            return overlapping
    return max(boxes, key=lambda b: b.width * b.height)


_STABLE_POINTS = np.r_[27:36, 36:48]
"""Nose bridge, nose and eye corners: the landmarks that move with the head, not with the jaw, lips or lids."""


@dataclass(frozen=True, slots=True)
class _BoxFromLandmarks:
    """The last detected box and where its stable landmarks were: the box moved as those landmarks moved gives
    the face's box on a later frame (same size: between two detections a face barely changes scale)."""

    box: FaceBox
    anchor_x: float
    anchor_y: float

    @staticmethod
    def fit(box: FaceBox, landmarks68: npt.NDArray[np.float32]) -> _BoxFromLandmarks:
        x, y = landmarks68[_STABLE_POINTS].mean(axis=0)
        return _BoxFromLandmarks(box, float(x), float(y))

    def apply(self, landmarks68: npt.NDArray[np.float32], width: int, height: int) -> FaceBox | None:
        x, y = landmarks68[_STABLE_POINTS].mean(axis=0)
        dx, dy = float(x) - self.anchor_x, float(y) - self.anchor_y
        b = self.box
        box = FaceBox(
            x0=max(b.x0 + dx, 0.0),
            y0=max(b.y0 + dy, 0.0),
            x1=min(b.x1 + dx, float(width - 1)),
            y1=min(b.y1 + dy, float(height - 1)),
            confidence=b.confidence,
        )
        # A face running off the picture is not tracked: the next frame is detected afresh.
        if box.width < 0.7 * b.width or box.height < 0.7 * b.height:
            return None
        return box


def _small_grey(image_rgb: ImageRgb) -> npt.NDArray[np.float32]:
    """Every ``_CHANGE_STRIDE``-th pixel's grey level: enough to see change and sharpness, and nearly free."""
    small = image_rgb[::_CHANGE_STRIDE, ::_CHANGE_STRIDE].astype(np.float32)
    grey: npt.NDArray[np.float32] = small @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return grey


def _sharpness(grey_small: npt.NDArray[np.float32], box: FaceBox, width: int) -> float:
    scale = grey_small.shape[1] / width
    x0, y0 = max(int(box.x0 * scale), 0), max(int(box.y0 * scale), 0)
    x1, y1 = int(box.x1 * scale) + 1, int(box.y1 * scale) + 1
    crop = grey_small[y0:y1, x0:x1]
    if crop.shape[0] < 3 or crop.shape[1] < 3:
        return 0.0
    return float(cv2.Laplacian(crop, cv2.CV_32F).var()) * math.sqrt(box.width * box.height)


def _frame_quality(o: FrameObservation, sharpness: float, yaw_mid: float | None, pitch_mid: float | None) -> float:
    """Sharp, large, open-eyed and close to the given pose: the rating for picking frames to match."""
    closed = max(o.eye_closed_probabilities or (0.0, 0.0))
    off_pose = 0.0
    if yaw_mid is not None and o.yaw_degrees is not None:
        off_pose += abs(o.yaw_degrees - yaw_mid)
    if pitch_mid is not None and o.pitch_degrees is not None:
        off_pose += abs(o.pitch_degrees - pitch_mid)
    return math.log1p(sharpness) - 0.1 * off_pose - 3.0 * closed


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
        rated.append(replace(o, frontal_quality=_frame_quality(o, sharp, yaw_mid, pitch_mid)))
    return rated
