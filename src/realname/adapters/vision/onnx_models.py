"""The ONNX face models run with onnxruntime on the CPU: the faceplugin detection, landmarks, embedding,
anti-spoofing, eye state and head pose (:class:`OnnxFaceModels`), each with its own pre- and post-processing, and
the embedding networks the engines can use on the aligned crops (:class:`OnnxEmbedder`: fr_feature, or SFace and
its chip student, :func:`load_sface_embedders`).

Every call takes an RGB ``uint8`` image (H×W×3) in pixel coordinates. Sessions are created once by
:meth:`OnnxFaceModels.load` / :func:`load_sface_embedders`, after the files were verified against ``models.lock``;
thread pools are sized explicitly and do not spin (several spinning sessions in one process slow each other
down). One instance may be shared by threads: onnxruntime sessions are safe for concurrent ``run`` calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from realname.adapters.vision.models import ModelLock, read_lock, verify_installed
from realname.domain.errors import DependencyUnavailable

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]

DETECT_WIDTH = 320
DETECT_HEIGHT = 240
NMS_IOU = 0.4
LIVENESS_CROP_SCALE = 2.7
EYE_CROP_PADDING = 1.6
# Where the 5 points land in the 112×112 crop fr_feature was trained on (the common ArcFace layout).
ALIGNED_FIVE_POINTS = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_POSE_BINS = np.arange(66, dtype=np.float32)
MODEL_FILES = (
    "fr_detect.onnx",
    "fr_landmark.onnx",
    "fr_feature.onnx",
    "fr_liveness.onnx",
    "fr_eye.onnx",
    "fr_pose.onnx",
)
SFACE_FILE = "sface.onnx"
ALIGNED_SIZE_PX = 112


class PixelScaling(Enum):
    """How an embedding network wants the pixels of its 112×112 RGB crop."""

    CENTRED = "centred"  # (x - 127) / 128, as fr_feature was trained
    RAW = "raw"  # 0-255 as float32; SFace normalises inside its graph


class OnnxEmbedder:
    """One embedding network: an aligned 112×112 RGB crop → its L2-normalised embedding."""

    def __init__(self, session: Any, name: str, scaling: PixelScaling) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name
        self._output = session.get_outputs()[0].name
        self.name = name
        self.scaling = scaling

    def tensor(self, aligned_rgb: ImageArray) -> npt.NDArray[np.float32]:
        """The network's 1×3×112×112 input for the crop."""
        if self.scaling is PixelScaling.CENTRED:
            return centred_tensor(aligned_rgb)
        return np.ascontiguousarray(aligned_rgb.astype(np.float32).transpose(2, 0, 1)[np.newaxis])

    def embed_aligned(self, aligned_rgb: ImageArray) -> FloatArray:
        """The embedding of an aligned crop (see :meth:`OnnxFaceModels.aligned_face`)."""
        if aligned_rgb.shape != (ALIGNED_SIZE_PX, ALIGNED_SIZE_PX, 3) or aligned_rgb.dtype != np.uint8:
            raise ValueError("expected a 112x112x3 uint8 aligned face")
        (output,) = self._session.run([self._output], {self._input: self.tensor(aligned_rgb)})
        vector: FloatArray = np.asarray(output, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0.0:
            raise DependencyUnavailable(
                f"the {self.name} embedding model returned a degenerate vector", code="models.invalid"
            )
        normalised: FloatArray = (vector / norm).astype(np.float32)
        return normalised


@dataclass(frozen=True, slots=True)
class Embedders:
    """The embedding networks of an engine: one for live captures, one for the reference (ID) portrait. They may
    be the same network; when they differ, both must embed into one space (a student distilled from the live
    side's network), so their embeddings can be compared."""

    live: OnnxEmbedder
    id_photo: OnnxEmbedder
    fuse_on_chip: bool = False
    """A chip reference is embedded by both networks and the two mean embeddings are averaged (an ensemble of the
    student and its teacher; docs/models/sface.md, "Run 6")."""
    printed_student: OnnxEmbedder | None = None
    """The network for a printed portrait cut from a card front (``DecodedImage.printed``); None: the live one."""
    fuse_on_printed: bool = False
    """A printed portrait is embedded by the printed student and the live network, averaged."""

    @classmethod
    def same(cls, embedder: OnnxEmbedder) -> Embedders:
        return cls(embedder, embedder)

    @property
    def chip(self) -> tuple[OnnxEmbedder, ...]:
        """The networks that embed a chip-sized reference portrait."""
        return _ensemble(self.id_photo, self.live, fuse=self.fuse_on_chip)

    @property
    def printed(self) -> tuple[OnnxEmbedder, ...]:
        """The networks that embed a printed portrait (other photo-kind references use ``live``)."""
        if self.printed_student is None:
            return (self.live,)
        return _ensemble(self.printed_student, self.live, fuse=self.fuse_on_printed)


def _ensemble(student: OnnxEmbedder, base: OnnxEmbedder, *, fuse: bool) -> tuple[OnnxEmbedder, ...]:
    return (student, base) if fuse and student is not base else (student,)


def session_options(threads: int) -> Any:
    """CPU session options: ``threads`` intra-op threads that do not spin, one inter-op thread, all optimisations."""
    import onnxruntime as ort  # heavy: imported only when models are actually loaded

    if threads < 1:
        raise ValueError("threads must be at least 1")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def open_session(path: Path, options: Any) -> Any:
    """An onnxruntime CPU session for the (already verified) file; load failures become ``models.invalid``."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise DependencyUnavailable(
            f"cannot load face model {path.name}: {type(exc).__name__}", code="models.invalid"
        ) from exc


def load_sface_embedders(models_dir: Path, *, threads: int = 1, lock: ModelLock | None = None) -> Embedders:
    """SFace for live captures, and for the reference portrait the chip student when ``models.lock`` pins one
    (else SFace again; with ``fuse_with_base`` a chip is embedded by both), and for a printed portrait the printed
    student when pinned (likewise), after verifying their files.

    Raises:
        DependencyUnavailable: ``models.missing`` / ``models.invalid`` (file absent, altered, unreadable).
    """
    pins = lock if lock is not None else read_lock()
    sface = pins.sface
    paths = verify_installed(models_dir, pins, [SFACE_FILE, *(student.name for student in sface.students)])
    options = session_options(threads)

    def embedder(name: str) -> OnnxEmbedder:
        return OnnxEmbedder(open_session(paths[name], options), name.removesuffix(".onnx"), PixelScaling.RAW)

    base = embedder(SFACE_FILE)
    return Embedders(
        live=base,
        id_photo=base if sface.chip_student is None else embedder(sface.chip_student.name),
        fuse_on_chip=sface.fuse_chip_with_base,
        printed_student=None if sface.printed_student is None else embedder(sface.printed_student.name),
        fuse_on_printed=sface.fuse_printed_with_base,
    )


@dataclass(frozen=True, slots=True)
class FaceBox:
    """A detected face in pixel coordinates of the image given to :meth:`OnnxFaceModels.detect`.

    The box is the detector's box made square (side = its height, same centre) and clipped to the image,
    the crop convention the landmark, liveness and pose models expect.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    confidence: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0


ANTIALIAS_SIGMA_PER_SHRINK = 0.5
# A printed portrait (halftone dots, security print) is smoothed more: σ = 0.9 × shrink. Chosen on the calib fold of
# faces_east_asian_calib (bbasian, 723 images; 3,102 genuine / 518,904 impostor pairs of simulated card fronts:
# FNMR @1e-3 · @1e-4 10.96 · 23.95 % at 0.5 → −0.3 · −1.4 points at 0.9, a broad optimum over 0.7–0.9), then read
# once on faces_east_asian: 6.12 · 8.78 % → 5.57 · 7.97 % (benchmarks/printed_descreen.py; benchmarks/README.md,
# "Card front"). Ordinary photo references keep 0.5: at 0.9 they lost 1.1 · 1.5 points on the calib fold.
PRINTED_ANTIALIAS_SIGMA_PER_SHRINK = 0.9


class OnnxFaceModels:
    """The six faceplugin sessions. Build with :meth:`load`; never loaded at import time."""

    def __init__(self, sessions: dict[str, Any], lock: ModelLock) -> None:
        self._detect = sessions["fr_detect.onnx"]
        self._landmark = sessions["fr_landmark.onnx"]
        self.feature = OnnxEmbedder(sessions["fr_feature.onnx"], "fr_feature", PixelScaling.CENTRED)
        self._liveness = sessions["fr_liveness.onnx"]
        self._eye = sessions["fr_eye.onnx"]
        self._pose = sessions["fr_pose.onnx"]
        self.lock = lock

    @classmethod
    def load(cls, models_dir: Path, *, threads: int = 1, lock: ModelLock | None = None) -> OnnxFaceModels:
        """Verify each file's SHA-256 against ``models.lock``, then open one CPU session per model.

        Raises:
            DependencyUnavailable: ``models.missing`` / ``models.invalid`` (file absent, altered, unreadable).
        """
        options = session_options(threads)
        pins = lock if lock is not None else read_lock()
        paths = verify_installed(models_dir, pins, MODEL_FILES)
        return cls({name: open_session(paths[name], options) for name in MODEL_FILES}, pins)

    # -- detection -------------------------------------------------------------------------------------

    def detect(self, image_rgb: ImageArray, *, min_confidence: float = 0.7) -> list[FaceBox]:
        """Faces in the image, non-maximum suppressed, most confident first."""
        height, width = _check_image(image_rgb)
        resized = cv2.resize(image_rgb, (DETECT_WIDTH, DETECT_HEIGHT), interpolation=cv2.INTER_LINEAR)
        scores, boxes = self._detect.run(["scores", "boxes"], {"input": centred_tensor(resized)})
        face_scores = scores[0, :, 1]
        keep = face_scores >= min_confidence
        if not keep.any():
            return []
        relative = boxes[0][keep]
        confidences = face_scores[keep]
        pixel = relative * np.array([width, height, width, height], dtype=np.float32)
        chosen = _non_maximum_suppression(pixel, confidences, NMS_IOU)
        return [_square_box(pixel[i], float(confidences[i]), width, height) for i in chosen]

    # -- landmarks and embedding --------------------------------------------------------------------------

    def landmarks(self, image_rgb: ImageArray, box: FaceBox) -> FloatArray:
        """68 points (iBUG order) as a (68, 2) float32 array of pixel coordinates."""
        _check_image(image_rgb)
        x0, y0, x1, y1 = _crop_around(image_rgb.shape, box, 1.0)
        crop = image_rgb[y0:y1, x0:x1]
        grey = cv2.cvtColor(cv2.resize(crop, (64, 64), interpolation=cv2.INTER_LINEAR), cv2.COLOR_RGB2GRAY)
        tensor = (grey.astype(np.float32) / 256.0)[np.newaxis, np.newaxis]
        (output,) = self._landmark.run(["output"], {"input": tensor})
        points: FloatArray = np.asarray(output, dtype=np.float32).reshape(68, 2).copy()
        points[:, 0] = points[:, 0] * (x1 - x0) + x0
        points[:, 1] = points[:, 1] * (y1 - y0) + y0
        return points

    def aligned_face(
        self,
        image_rgb: ImageArray,
        landmarks68: FloatArray,
        scale: float = 1.0,
        *,
        antialias_sigma_per_shrink: float | None = None,
    ) -> ImageArray:
        """The 112×112 RGB crop fr_feature and SFace expect, by a least-squares similarity transform on 5 points.

        ``scale`` != 1 shrinks or enlarges the target points about their centroid (the face fills less or more
        of the crop), for averaging embeddings over the alignment's uncertainty.

        ``antialias_sigma_per_shrink``: when given and the transform shrinks the face by a factor d > 1, the image is
        first smoothed with a Gaussian of σ = ``antialias_sigma_per_shrink`` × d pixels (``ANTIALIAS_SIGMA_PER_SHRINK``,
        d / 2, for an ordinary photo; ``PRINTED_ANTIALIAS_SIGMA_PER_SHRINK`` for a printed portrait), so a fine
        pattern (a printed portrait's halftone screen and security print) is averaged instead of aliased into the
        crop (bilinear sampling alone reads one 2×2 patch per pixel).
        """
        source = five_points_from_68(landmarks68)
        target = ALIGNED_FIVE_POINTS
        if scale != 1.0:
            centroid = ALIGNED_FIVE_POINTS.mean(axis=0)
            target = centroid + (ALIGNED_FIVE_POINTS - centroid) * scale
        matrix = similarity_transform(source, target)
        if antialias_sigma_per_shrink is not None:
            shrink = 1.0 / math.sqrt(abs(float(np.linalg.det(matrix[:, :2]))))
            if shrink > 1.0:
                sigma = antialias_sigma_per_shrink * shrink
                image_rgb = np.asarray(cv2.GaussianBlur(image_rgb, (0, 0), sigma), dtype=np.uint8)
        aligned = cv2.warpAffine(
            image_rgb,
            matrix,
            (ALIGNED_SIZE_PX, ALIGNED_SIZE_PX),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        return np.asarray(aligned, dtype=np.uint8)

    def embed(self, image_rgb: ImageArray, landmarks68: FloatArray) -> FloatArray:
        """The (512,) float32 L2-normalised fr_feature embedding of the face at ``landmarks68``."""
        _check_image(image_rgb)
        return self.feature.embed_aligned(self.aligned_face(image_rgb, landmarks68))

    # -- liveness, eyes, pose -----------------------------------------------------------------------------

    def live_probability(self, image_rgb: ImageArray, box: FaceBox) -> float:
        """fr_liveness probability that the face is live (class 0), on the box scaled ×2.7, fed as BGR."""
        _check_image(image_rgb)
        x0, y0, x1, y1 = _crop_around(image_rgb.shape, box, LIVENESS_CROP_SCALE)
        crop = cv2.resize(image_rgb[y0:y1, x0:x1], (128, 128), interpolation=cv2.INTER_LINEAR)
        bgr = crop[:, :, ::-1].astype(np.float32)
        (logits,) = self._liveness.run(["output"], {"input": np.ascontiguousarray(bgr.transpose(2, 0, 1)[None])})
        return float(_softmax(logits[0])[0])

    def eyes_closed_probability(self, image_rgb: ImageArray, landmarks68: FloatArray) -> tuple[float, float]:
        """Probability that each eye is closed: (eye on the image's left, eye on the image's right)."""
        _check_image(image_rgb)
        grey = np.asarray(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
        left = self._eye_closed(grey, landmarks68, 36)
        right = self._eye_closed(grey, landmarks68, 42)
        return left, right

    def _eye_closed(self, grey: ImageArray, landmarks68: FloatArray, first: int) -> float:
        eye = landmarks68[first : first + 6]
        centre = eye[[1, 2, 4, 5]].mean(axis=0)
        side = max(float(eye[3, 0] - eye[0, 0]) * EYE_CROP_PADDING, 2.0)
        height, width = grey.shape
        x0 = int(np.clip(round(centre[0] - side / 2), 0, width - 2))
        y0 = int(np.clip(round(centre[1] - side / 2), 0, height - 2))
        x1 = int(np.clip(round(centre[0] + side / 2), x0 + 2, width))
        y1 = int(np.clip(round(centre[1] + side / 2), y0 + 2, height))
        crop = cv2.resize(grey[y0:y1, x0:x1], (24, 24), interpolation=cv2.INTER_LINEAR)
        (logits,) = self._eye.run(["output"], {"input": (crop.astype(np.float32) / 255.0)[None, None]})
        return float(_softmax(logits[0])[0])

    def head_pose(self, image_rgb: ImageArray, box: FaceBox) -> tuple[float, float, float]:
        """fr_pose (yaw, pitch, roll) in degrees, in the model's own convention.

        Measured sign of yaw (tests/contract/test_face_engines.py): POSITIVE yaw = the face turned towards
        the image's LEFT side (nose left of the eyes' midpoint) — with a camera that does not mirror, the
        subject turning to their own right; a mirrored image flips the sign. Measured on 50 East Asian
        photos: yaw correlates -0.71 with the nose's offset to the image's right, -0.63 with the mirrored
        image's yaw. The model under-reports large turns: compare against the person's own frontal frames.
        """
        height, width = _check_image(image_rgb)
        grow_x, grow_y = box.width / 4.0, box.height / 4.0
        x0 = int(max(box.x0 - grow_x, 0))
        y0 = int(max(box.y0 - grow_y, 0))
        x1 = int(min(box.x1 + grow_x, width))
        y1 = int(min(box.y1 + grow_y, height))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return 0.0, 0.0, 0.0
        crop = cv2.resize(image_rgb[y0:y1, x0:x1], (224, 224), interpolation=cv2.INTER_LINEAR)
        tensor = ((crop.astype(np.float32) / 255.0 - _IMAGENET_MEAN) / _IMAGENET_STD).transpose(2, 0, 1)[None]
        yaw, pitch, roll = self._pose.run(["output", "617", "618"], {"input": np.ascontiguousarray(tensor)})
        return (_expected_angle(yaw[0]), _expected_angle(pitch[0]), _expected_angle(roll[0]))


def centred_tensor(rgb: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """The 1×3×H×W float32 input of fr_detect and fr_feature: RGB, (x - 127) / 128."""
    tensor = ((rgb.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[np.newaxis]
    return np.ascontiguousarray(tensor)


def five_points_from_68(landmarks68: FloatArray) -> npt.NDArray[np.float64]:
    """Eye centres (mean of the four lid points), nose tip, and mouth corners (outer and inner averaged)."""
    points = np.asarray(landmarks68, dtype=np.float64)
    if points.shape != (68, 2):
        raise ValueError("expected (68, 2) landmarks")
    return np.array(
        [
            points[[37, 38, 40, 41]].mean(axis=0),
            points[[43, 44, 46, 47]].mean(axis=0),
            points[30],
            points[[48, 60]].mean(axis=0),
            points[[54, 64]].mean(axis=0),
        ]
    )


def similarity_transform(source: npt.NDArray[np.float64], target: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The 2×3 rotation + uniform scale + translation that maps ``source`` onto ``target`` best (Umeyama)."""
    source_mean = source.mean(axis=0)
    target_mean = target.mean(axis=0)
    source_centred = source - source_mean
    target_centred = target - target_mean
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    reflection = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        reflection[1, 1] = -1.0
    rotation = u @ reflection @ vt
    variance = float((source_centred**2).sum() / len(source))
    scale = float(np.trace(np.diag(singular) @ reflection) / variance) if variance > 0 else 1.0
    translation = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, translation[:, None]])


def _check_image(image_rgb: ImageArray) -> tuple[int, int]:
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError("expected an HxWx3 uint8 RGB image")
    height, width = image_rgb.shape[:2]
    if height < 2 or width < 2:
        raise ValueError("image too small")
    return int(height), int(width)


def _square_box(pixel_box: FloatArray, confidence: float, width: int, height: int) -> FaceBox:
    x0, y0, x1, y1 = (float(v) for v in pixel_box)
    side = y1 - y0
    centre_x, centre_y = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    return FaceBox(
        x0=max(centre_x - side / 2.0, 0.0),
        y0=max(centre_y - side / 2.0, 0.0),
        x1=min(centre_x + side / 2.0, float(width - 1)),
        y1=min(centre_y + side / 2.0, float(height - 1)),
        confidence=confidence,
    )


def _crop_around(shape: tuple[int, ...], box: FaceBox, scale: float) -> tuple[int, int, int, int]:
    """The box scaled about its centre, shifted (not cut) to stay inside the image, as integer bounds."""
    height, width = int(shape[0]), int(shape[1])
    box_w, box_h = max(box.width, 1.0), max(box.height, 1.0)
    scale = min((height - 1) / box_h, (width - 1) / box_w, scale)
    new_w, new_h = box_w * scale, box_h * scale
    centre_x, centre_y = box.x0 + box_w / 2.0, box.y0 + box_h / 2.0
    left, top = centre_x - new_w / 2.0, centre_y - new_h / 2.0
    left = min(max(left, 0.0), width - 1 - new_w)
    top = min(max(top, 0.0), height - 1 - new_h)
    x0, y0 = max(int(left), 0), max(int(top), 0)
    x1 = min(max(int(left + new_w), x0 + 2), width)
    y1 = min(max(int(top + new_h), y0 + 2), height)
    return x0, y0, x1, y1


def _non_maximum_suppression(boxes: FloatArray, confidences: FloatArray, max_iou: float) -> list[int]:
    order = list(np.argsort(-confidences, kind="stable"))
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    chosen: list[int] = []
    while order:
        best = int(order.pop(0))
        if areas[best] <= 0:
            continue
        chosen.append(best)
        if not order:
            break
        rest = np.array(order)
        ix0 = np.maximum(boxes[best, 0], boxes[rest, 0])
        iy0 = np.maximum(boxes[best, 1], boxes[rest, 1])
        ix1 = np.minimum(boxes[best, 2], boxes[rest, 2])
        iy1 = np.minimum(boxes[best, 3], boxes[rest, 3])
        intersection = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        iou = intersection / (areas[best] + areas[rest] - intersection + 1e-9)
        order = [int(i) for i, overlap in zip(rest, iou, strict=True) if overlap < max_iou]
    return chosen


def _softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    shifted = np.asarray(logits, dtype=np.float64) - float(np.max(logits))
    exp = np.exp(shifted)
    result: npt.NDArray[np.float64] = exp / exp.sum()
    return result


def _expected_angle(logits: npt.NDArray[np.float32]) -> float:
    return float((_softmax(logits) * _POSE_BINS).sum() * 3.0 - 99.0)
