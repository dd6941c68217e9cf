"""Decoding and analysing a clip while it is still being recorded: the server side of a streamed liveness response.

The kiosk's recorder (MediaRecorder with a timeslice) hands out a WebM in pieces: only the first carries the
header, and a piece may end inside a frame, so pieces cannot be decoded on their own. One PyAV demuxer and decoder
therefore run over the whole stream, in a thread of their own that reads from a :class:`_BytePipe`: a read blocks
until the next piece arrives (or the stream ends). The thread only decodes and samples; the frames it yields are
analysed by whoever fed the piece (:meth:`PyAvStreamingAnalysis.feed`, called from the request's bounded worker
pool), so the CPU-heavy models stay inside the same limit as a single upload. Frames are measured and dropped:
the analysis keeps per-frame measurements and one candidate picture per second for matching
(``OnnxClipAnalysis`` with ``keep_frames_per_second``), never the clip.

The demuxer must not need to seek: WebM from MediaRecorder (unknown sizes, no cues) and fragmented MP4 stream;
an MP4 whose index sits at its end does not, and is refused as ``liveness.clip_invalid`` (the single upload takes
it). Probing is limited so the first frames come out with the first pieces instead of after five seconds.
"""

from __future__ import annotations

import queue
import threading
from collections import deque

import av

from realname.adapters.vision.clips import PyAvClipDecoder
from realname.adapters.vision.liveness_analyser import OnnxClipAnalysis
from realname.app.liveness import AnalysedFrame, DecodedFrame, ImageRgb
from realname.domain.errors import RealnameError
from realname.domain.liveness import ClipInvalid

_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_PROBE_OPTIONS = {"probesize": "4096", "analyzeduration": "0", "fpsprobesize": "0"}
_DRAIN_WAIT_SECONDS = 30.0
_END_WAIT_SECONDS = 30.0


class _Aborted(Exception):
    """The stream was given up: the decoding thread stops at its next read."""


class _BytePipe:
    """A non-seekable file for PyAV: ``read`` blocks until bytes are written, the pipe is closed (end of file) or
    aborted. Knows whether the reader is waiting with nothing left, so a writer can wait for its bytes to be taken.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._pieces: deque[bytes] = deque()
        self._closed = False
        self._aborted = False
        self._starved = False
        self._finished = False

    def read(self, size: int) -> bytes:
        with self._condition:
            while not self._pieces and not self._closed and not self._aborted:
                self._starved = True
                self._condition.notify_all()
                self._condition.wait()
            self._starved = False
            if self._aborted:
                raise _Aborted
            if not self._pieces:
                return b""
            piece = self._pieces.popleft()
            if len(piece) > size:
                self._pieces.appendleft(piece[size:])
                piece = piece[:size]
            return piece

    def write(self, data: bytes) -> None:
        with self._condition:
            self._pieces.append(data)
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def abort(self) -> None:
        with self._condition:
            self._aborted = True
            self._pieces.clear()
            self._condition.notify_all()

    def reader_finished(self) -> None:
        with self._condition:
            self._finished = True
            self._pieces.clear()
            self._condition.notify_all()

    def wait_taken(self, timeout_seconds: float) -> bool:
        """Wait until the reader has taken every written byte and waits for more (or has stopped reading)."""
        with self._condition:
            return self._condition.wait_for(
                lambda: self._finished or (not self._pieces and self._starved), timeout=timeout_seconds
            )


class PyAvStreamingAnalysis:
    """One streamed clip: pieces in, measurements out; the verdict's frames once the stream has ended.

    Not thread-safe: one piece at a time (the caller keeps pieces in order).
    """

    def __init__(self, decoder: PyAvClipDecoder, analysis: OnnxClipAnalysis) -> None:
        self._decoder = decoder
        self._analysis = analysis
        self._pipe = _BytePipe()
        self._frames: queue.SimpleQueue[DecodedFrame] = queue.SimpleQueue()
        self._error: RealnameError | None = None
        self._pieces = 0
        self._thread = threading.Thread(target=self._decode, name="liveness-stream", daemon=True)
        self._thread.start()

    @property
    def frames_analysed(self) -> int:
        return self._analysis.frames

    def feed(self, piece: bytes) -> None:
        """Hand the next piece to the decoder, then analyse every frame it could decode from it.

        Raises:
            ClipInvalid, ClipTooLarge, ClipTooLong: the stream so far cannot be a clip we accept.
        """
        self._raise_error()
        if self._pieces == 0 and not _streamable_start(piece):
            self.abort()
            raise ClipInvalid("a streamed clip must be WebM or fragmented MP4, starting with its header")
        self._pieces += 1
        self._pipe.write(piece)
        self._pipe.wait_taken(_DRAIN_WAIT_SECONDS)
        self._analyse_decoded()
        self._raise_error()

    def settled_candidates(self) -> list[tuple[float, ImageRgb]]:
        """Pictures kept for matching that later frames can no longer replace, with their provisional rating."""
        return self._analysis.settled_candidates()

    def finish(self) -> list[AnalysedFrame]:
        """End of stream: decode and analyse what is left, then every frame's measurements.

        Raises:
            ClipInvalid, ClipTooLarge, ClipTooLong.
        """
        self._pipe.close()
        self._thread.join(_END_WAIT_SECONDS)
        if self._thread.is_alive():
            self.abort()
            raise ClipInvalid("the streamed clip could not be decoded in time")
        self._analyse_decoded()
        self._raise_error()
        if self._analysis.frames == 0:
            raise ClipInvalid("the clip holds no frame")
        return self._analysis.finish()

    def abort(self) -> None:
        """Give up: the decoding thread stops and every decoded frame is dropped."""
        self._pipe.abort()
        while not self._frames.empty():
            self._frames.get_nowait()

    def _analyse_decoded(self) -> None:
        while not self._frames.empty():
            self._analysis.add(self._frames.get_nowait())

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _decode(self) -> None:
        try:
            with av.open(self._pipe, mode="r", metadata_errors="ignore", options=_PROBE_OPTIONS) as container:
                if not container.streams.video:
                    raise ClipInvalid("the upload has no video stream")
                stream = container.streams.video[0]
                # Frame threading would hold frames back until more arrive; pieces should come out whole.
                stream.thread_type = "SLICE"
                for frame in self._decoder.sampled(container.decode(stream)):
                    self._frames.put(frame)
        except _Aborted:
            pass
        except RealnameError as exc:
            self._error = exc
        except av.error.FFmpegError as exc:
            self._error = ClipInvalid("the streamed clip cannot be decoded as video")
            self._error.__cause__ = exc
        finally:
            self._pipe.reader_finished()


def _streamable_start(piece: bytes) -> bool:
    """Whether a stream's first piece opens a container that can be read front to back: Matroska/WebM (EBML
    header) or ISO-BMFF (an ``ftyp`` box first). Anything else would leave the demuxer waiting for a format it
    never finds, so it is refused at once."""
    return piece.startswith(_EBML_MAGIC) or piece[4:8] == b"ftyp"
