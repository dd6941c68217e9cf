"""Decoding liveness responses into time-stamped RGB frames, in memory, within size and duration limits.

Video (WebM from MediaRecorder, MP4) is decoded with PyAV straight from the uploaded bytes — no temporary
files — and sampled at about ``sample_fps`` frames per second by presentation time. A JPEG burst is decoded
frame by frame with the device's capture times. Library errors become ``liveness.clip_*`` errors.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from realname.adapters.vision.images import MAX_ASPECT_RATIO, MIN_IMAGE_SIDE_PX
from realname.app.liveness import BurstFrame, DecodedFrame
from realname.domain.liveness import ClipInvalid, ClipTooLarge, ClipTooLong

DEFAULT_SAMPLE_FPS = 15.0
DEFAULT_MAX_SIDE_PX = 640
# Recorders start and stop a little late and container times are rounded: allow half a second of slack.
_DURATION_SLACK_SECONDS = 0.5
_MAX_BURST_FRAMES = 300
# Decoding cost is bounded too, not only the upload size: a small file can hold huge or very many frames.
_MAX_FRAME_PIXELS = 3840 * 2160
_MAX_DECODED_FRAMES_PER_SECOND = 120


class PyAvClipDecoder:
    """Decodes a clip or a JPEG burst, keeping frames about ``1 / sample_fps`` apart and the longer side ≤ ``max_side_px``."""

    def __init__(
        self,
        *,
        max_bytes: int,
        max_seconds: float,
        sample_fps: float = DEFAULT_SAMPLE_FPS,
        max_side_px: int = DEFAULT_MAX_SIDE_PX,
    ) -> None:
        if max_bytes <= 0 or max_seconds <= 0 or sample_fps <= 0 or max_side_px < 16:
            raise ValueError("clip limits must be positive")
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.sample_fps = sample_fps
        self.max_side_px = max_side_px

    def decode_video(self, data: bytes) -> list[DecodedFrame]:
        """Sampled frames of a WebM/MP4 clip, times in seconds from its first frame.

        Raises:
            ClipTooLarge: more than ``max_bytes``, or frames larger than 4K.
            ClipTooLong: frames beyond ``max_seconds`` (plus half a second of slack).
            ClipInvalid: not a decodable video, no frame in it, more than 120 frames per second, or frames of a
                size no camera takes (a side under 16 px, or more than 4:1).
        """
        if len(data) > self.max_bytes:
            raise ClipTooLarge(f"the clip is larger than {self.max_bytes // (1024 * 1024)} MB")
        if not data:
            raise ClipInvalid("the clip is empty")
        frames: list[DecodedFrame] = []
        try:
            # Container and stream tags are never read; undecodable ones must not fail the upload.
            with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
                if not container.streams.video:
                    raise ClipInvalid("the upload has no video stream")
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                frames = self._sample(container.decode(stream))
        except av.error.FFmpegError as exc:
            raise ClipInvalid("the clip cannot be decoded as video") from exc
        if not frames:
            raise ClipInvalid("the clip holds no frame")
        return frames

    def _sample(self, decoded: Iterable[Any]) -> list[DecodedFrame]:
        return list(self.sampled(decoded))

    def sampled(self, decoded: Iterable[Any]) -> Iterator[DecodedFrame]:
        """PyAV video frames → sampled RGB frames, refusing odd, huge, too fast or too long ones on the way."""
        first: float | None = None
        next_t = 0.0
        step = 1.0 / self.sample_fps
        max_frames = int((self.max_seconds + _DURATION_SLACK_SECONDS) * _MAX_DECODED_FRAMES_PER_SECOND)
        for count, frame in enumerate(decoded):
            if count >= max_frames:
                raise ClipInvalid("the clip's frame rate is implausibly high")
            if int(frame.width) * int(frame.height) > _MAX_FRAME_PIXELS:
                raise ClipTooLarge("the clip's frames are larger than 4K")
            _refuse_odd_frame(int(frame.width), int(frame.height))
            if frame.time is None:
                continue
            if first is None:
                first = float(frame.time)
            t = float(frame.time) - first
            if t > self.max_seconds + _DURATION_SLACK_SECONDS:
                raise ClipTooLong(f"the clip is longer than {self.max_seconds:g} s")
            # A small tolerance keeps a steady cadence despite jittery presentation times.
            if t + 0.25 * step < next_t:
                continue
            next_t = max(next_t + step, t + 0.5 * step)
            yield DecodedFrame(t, self._rgb(frame))

    def _rgb(self, frame: Any) -> npt.NDArray[np.uint8]:
        width, height = int(frame.width), int(frame.height)
        if frame.format.name == "yuv420p" and width % 2 == 0 and height % 2 == 0:
            # OpenCV's planar conversion is about twice as fast as swscale's packed RGB output here.
            rgb = cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420)
        else:
            rgb = frame.to_ndarray(format="rgb24")
        target = self._target_size(width, height)
        if target != (width, height):
            rgb = cv2.resize(rgb, target, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(rgb, dtype=np.uint8)

    def _target_size(self, width: int, height: int) -> tuple[int, int]:
        longer = max(width, height)
        if longer <= self.max_side_px:
            return width, height
        scale = self.max_side_px / longer
        return max(2, round(width * scale)), max(2, round(height * scale))

    def decode_burst(self, frames: Sequence[BurstFrame]) -> list[DecodedFrame]:
        """Decode a JPEG burst; times are the device's capture times relative to the first frame.

        The capture times are kept as sent (order and gaps are judged by the liveness rules), only their span is
        limited here.

        Raises:
            ClipTooLarge: more than ``max_bytes`` in total, too many frames, or a frame larger than 4K.
            ClipTooLong: captures spanning more than ``max_seconds``.
            ClipInvalid: an empty burst or a frame that is not a decodable image.
        """
        if not frames:
            raise ClipInvalid("the burst holds no frame")
        if len(frames) > _MAX_BURST_FRAMES or sum(len(f.jpeg) for f in frames) > self.max_bytes:
            raise ClipTooLarge("the frame burst is too large")
        first = frames[0].captured_at_ms
        span = (max(f.captured_at_ms for f in frames) - min(f.captured_at_ms for f in frames)) / 1000.0
        if span > self.max_seconds + _DURATION_SLACK_SECONDS:
            raise ClipTooLong(f"the burst spans more than {self.max_seconds:g} s")
        decoded: list[DecodedFrame] = []
        for frame in frames:
            width, height = _burst_frame_size(frame.jpeg)
            if width * height > _MAX_FRAME_PIXELS:
                raise ClipTooLarge("a burst frame is larger than 4K")
            _refuse_odd_frame(width, height)
            try:
                bgr = cv2.imdecode(np.frombuffer(frame.jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
            except cv2.error as exc:
                raise ClipInvalid("a burst frame is not a decodable image") from exc
            if bgr is None:
                raise ClipInvalid("a burst frame is not a decodable image")
            height, width = bgr.shape[:2]
            target = self._target_size(int(width), int(height))
            if target != (width, height):
                bgr = cv2.resize(bgr, target, interpolation=cv2.INTER_AREA)
            rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
            decoded.append(DecodedFrame((frame.captured_at_ms - first) / 1000.0, rgb))
        return decoded


def _refuse_odd_frame(width: int, height: int) -> None:
    """A camera frame is at least ``MIN_IMAGE_SIDE_PX`` on each side and at most ``MAX_ASPECT_RATIO`` wide (e.g. a
    1×1 PNG uploaded as a clip decodes as one frame that no detector can take)."""
    if min(width, height) < MIN_IMAGE_SIDE_PX or max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ClipInvalid(f"the clip's frames are {width}x{height} pixels: not a camera picture")


def _burst_frame_size(data: bytes) -> tuple[int, int]:
    """Width and height from a burst frame's header, read before any pixel is decoded (no decompression bombs)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError as exc:
        raise ClipTooLarge("a burst frame is larger than 4K") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ClipInvalid("a burst frame is not a decodable image") from exc
    return int(width), int(height)
