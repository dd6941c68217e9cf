"""Simulating what a kiosk uploads for a liveness check, for tests and benchmarks: a recorded clip re-recorded the way
the browser's MediaRecorder records it (VP8 in WebM, at the kiosk's frame rate and bit rate), in memory."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

KIOSK_FPS = 15


def kiosk_recording(clip: Path, *, bit_rate: int, fps: int = KIOSK_FPS) -> tuple[bytes, list[npt.NDArray[np.uint8]]]:
    """The WebM bytes and the RGB frames that went into them: every n-th frame of ``clip`` for ``fps`` (every other
    frame of a 30 fps clip at 15), cropped to even sides, encoded at ``bit_rate`` bits per second."""
    with av.open(str(clip)) as source:
        stream = source.streams.video[0]
        step = max(1, round(float(stream.average_rate or 30) / fps))
        frames = [
            np.asarray(f.to_ndarray(format="rgb24"), dtype=np.uint8)
            for i, f in enumerate(source.decode(stream))
            if i % step == 0
        ]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="webm") as target:
        out = target.add_stream("libvpx", rate=fps)
        assert isinstance(out, av.VideoStream)
        out.height, out.width = (frames[0].shape[0] // 2) * 2, (frames[0].shape[1] // 2) * 2
        out.pix_fmt = "yuv420p"
        out.bit_rate = bit_rate
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[: out.height, : out.width]), format="rgb24")
            frame.pts = index
            for packet in out.encode(frame):
                target.mux(packet)
        for packet in out.encode():
            target.mux(packet)
    return buffer.getvalue(), frames
