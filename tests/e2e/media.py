"""Test media made at test time from ../shared/data: simulated chip photos from real clips."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np

from realname.adapters.vision.card_front_photo import simulate_card_front
from realname.adapters.vision.chip_photo import simulate_chip_photo
from realname.adapters.vision.kiosk_recording import kiosk_recording
from realname.adapters.vision.onnx_models import OnnxFaceModels


def frame_at(clip: Path, t_seconds: float) -> np.ndarray:
    """The RGB frame of ``clip`` shown at ``t_seconds``."""
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= t_seconds:
                return np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
    raise ValueError(f"{clip.name} is shorter than {t_seconds} s")


def chip_photo(models: OnnxFaceModels, clip: Path, t_seconds: float) -> bytes:
    """A 102×126 JPEG portrait of the face in ``clip`` at ``t_seconds``, as an ID card's chip holds it."""
    rgb = frame_at(clip, t_seconds)
    faces = models.detect(rgb)
    assert faces, f"no face in {clip.name} at {t_seconds} s"
    box = faces[0]
    return simulate_chip_photo(rgb, (box.x0, box.y0, box.x1, box.y1))


def card_front_image(models: OnnxFaceModels, rgb: np.ndarray, seed: int = 0) -> bytes:
    """A simulated document-camera JPEG of a card front whose printed portrait is ``rgb``'s face, framed as
    :func:`chip_photo` frames the chip."""
    faces = models.detect(rgb)
    assert faces, "no face to print on the card"
    box = max(faces, key=lambda b: b.height)
    return simulate_card_front(rgb, (box.x0, box.y0, box.x1, box.y1), np.random.default_rng(seed))


def jpeg_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


_CODECS = {"mp4": "libx264", "webm": "libvpx"}


def blank_clip(container_format: str = "mp4", *, frames: int = 10, side_px: int = 64, fps: int = 10) -> bytes:
    """A tiny clip of flat grey frames, made in memory: there is no face in it, so a liveness check fails fast."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(_CODECS[container_format], rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width = stream.height = side_px
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            grey = np.full((side_px, side_px, 3), 96 + 8 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def kiosk_webm(clip: Path, *, bit_rate: int = 2_000_000) -> bytes:
    """The clip as a kiosk's MediaRecorder uploads it: VP8 in WebM at 15 fps."""
    return kiosk_recording(clip, bit_rate=bit_rate)[0]


def pieces(data: bytes, count: int) -> list[bytes]:
    """``data`` cut into ``count`` pieces at arbitrary byte positions (a recorder's chunks need not end on frames)."""
    size = -(-len(data) // count)
    return [data[i : i + size] for i in range(0, len(data), size)]
