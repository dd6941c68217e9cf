"""Streamed verification: the kiosk uploads its clip in chunks while the customer performs the challenge, the
server analyses each chunk on arrival, and the decision follows the last chunk within a fraction of a second.

Flow (the single upload, ``Verification.verify``, stays for other clients and does the same checks):

1. :meth:`LivenessStreams.open` — the chip portrait signed by the attempt's terminal, the optional card front and
   the challenge's nonce: every check of a single upload before analysis runs here (``begin_verification``:
   lock-outs, the terminal's signed read, the challenge consumed), then a stream id is returned.
2. :meth:`LivenessStreams.add_chunk` — chunk ``seq`` = 0, 1, 2, … of the recording, in order, one at a time;
   each is decoded and analysed before the call returns. Only per-frame measurements and one candidate picture
   per second (for matching) stay in memory, never the clip.
3. :meth:`LivenessStreams.finish` — with the number of chunks sent: the rest is analysed, the clip decided
   against the consumed challenge, matched and recorded exactly as a single upload (``decide_verification``).

Protections: a stream belongs to one attempt, the clerk who opened it and one consumed challenge (so an attempt
gets no more streams than challenges); a duplicate, early or concurrent chunk, a missing chunk at the end, or a
clip error gives up the stream at once (typed 409/400 errors; the challenge stays burnt, as for a failed upload);
total bytes are capped at ``policy.max_upload_bytes`` and the duration by the decoder; a stream idle for
``idle_seconds`` or open longer than the clip limit plus ``grace_seconds`` is given up by a sweeper and its memory
freed; a process holds at most ``max_open`` streams (429 ``liveness.streams_busy``).

Work is moved ahead of the last chunk: the chip portrait is analysed at the opening, and each chunk's settled
candidate pictures (their one-second slot has passed) are analysed for matching when they may end among the
matched frames (:class:`PreparedFaces`), so after the last chunk only its own frames, the few pictures not yet
analysed, the decision and its transaction remain.

Streams live in the memory of the process that opened them (a recording's pieces decode only in order, by one
decoder). With several workers or hosts the HTTP adapter relays a chunk that reaches another process to the one
holding the stream (``adapters.http.stream_relay``); when that process is gone the chunk finds no stream and fails
closed with ``liveness.stream_unknown``, and the kiosk starts again with a new challenge (or uses the single upload).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from realname.app.actors import Actor
from realname.app.liveness import ImageRgb, LivenessChecker, StreamedClip
from realname.app.matching import DecodedImage, FaceEngine
from realname.app.ports import Clock, RandomSource
from realname.app.verification import Decision, StartedVerification, Verification
from realname.domain.errors import RealnameError
from realname.domain.face import FaceAnalysis, ReferenceKind
from realname.domain.liveness import (
    ChunkDuplicate,
    ChunkMissing,
    ChunkOutOfOrder,
    ClipTooLarge,
    StreamsBusy,
    StreamUnknown,
)
from realname.domain.organisation import Role
from realname.domain.policy import Policy
from realname.domain.terminals import ReaderSignature

STREAM_ID_BYTES = 16
STREAMING_ROLES = (Role.CLERK, Role.REVIEWER, Role.ADMIN, Role.SUBSCRIBER)
"""Who may send a stream's chunks: whoever may answer a challenge (the opening checks the attempt as verify does)."""


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Per-process and per-stream limits of streamed clips."""

    max_open: int = 16
    max_chunks: int = 200
    idle_seconds: float = 15.0
    grace_seconds: float = 30.0
    sweep_every_seconds: float = 2.0


@dataclass(frozen=True, slots=True)
class OpenedStream:
    stream_id: str
    max_chunks: int
    max_bytes: int
    idle_seconds: float
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ChunkReceipt:
    received: int
    bytes_received: int
    frames_analysed: int


@dataclass(eq=False)
class _Stream:
    stream_id: str
    attempt_id: str
    actor_ref: str
    started: StartedVerification
    clip: StreamedClip
    faces: PreparedFaces
    expires_at: datetime
    last_chunk_at: datetime
    next_seq: int = 0
    bytes_received: int = 0
    busy: threading.Lock = field(default_factory=threading.Lock)


class PreparedFaces:
    """A face engine for one streamed verification that does its work while the clip still arrives.

    The reference portrait (when given) was analysed at the stream's opening, and live candidate pictures are
    analysed as soon as they are settled (:meth:`prepare`), so the match after the last chunk mostly finds its
    analyses done. A live picture is recognised by its pixel array (the very array the clip kept), so a cached
    analysis is exactly what :meth:`FaceEngine.analyse` gave for it.
    """

    def __init__(
        self, engine: FaceEngine, reference: DecodedImage | None = None, analysis: FaceAnalysis | None = None
    ) -> None:
        self._engine = engine
        self._reference = reference
        self._analysis = analysis
        self._live: dict[int, tuple[ImageRgb, FaceAnalysis]] = {}

    @property
    def name(self) -> str:
        return self._engine.name

    @property
    def prepared(self) -> int:
        return len(self._live)

    def threshold_for(self, kind: ReferenceKind) -> float:
        return self._engine.threshold_for(kind)

    def is_prepared(self, rgb: ImageRgb) -> bool:
        known = self._live.get(id(rgb))
        return known is not None and known[0] is rgb

    def prepare(self, rgb: ImageRgb) -> None:
        """Analyse a live picture now, for a later :meth:`analyse` or :meth:`analyse_all` of the same array."""
        if not self.is_prepared(rgb):
            # The array is held with its analysis, so its id cannot be reused by another array meanwhile.
            self._live[id(rgb)] = (rgb, self._engine.analyse(DecodedImage(rgb)))

    def forget(self) -> None:
        self._live.clear()

    def analyse(self, image: DecodedImage) -> FaceAnalysis:
        known = self._live.get(id(image.rgb))
        if known is not None and known[0] is image.rgb:
            return known[1]
        return self._engine.analyse(image)

    def analyse_id_photo(self, image: DecodedImage) -> FaceAnalysis:
        if self._analysis is not None and image is self._reference:
            return self._analysis
        return self._engine.analyse_id_photo(image)

    def analyse_all(
        self, id_photo: DecodedImage, live: Sequence[DecodedImage]
    ) -> tuple[FaceAnalysis, list[FaceAnalysis]]:
        missing = [image for image in live if not self.is_prepared(image.rgb)]
        if self._analysis is None or id_photo is not self._reference:
            # The reference still has to be analysed: with the missing live pictures, side by side.
            reference, fresh = self._engine.analyse_all(id_photo, missing)
        else:
            reference = self._analysis
            fresh = []
            if len(missing) == 1:
                fresh = [self._engine.analyse(missing[0])]
            elif missing:
                # The engine is thread-safe: the missing live pictures are analysed side by side, as analyse_all
                # would.
                with ThreadPoolExecutor(max_workers=len(missing), thread_name_prefix="live-frame") as pool:
                    fresh = list(pool.map(self._engine.analyse, missing))
        done = {id(image): analysis for image, analysis in zip(missing, fresh, strict=True)}
        return reference, [done[id(image)] if id(image) in done else self.analyse(image) for image in live]


class LivenessStreams:
    """The streamed verifications open in this process. One instance per process (made by the composition root)."""

    def __init__(
        self,
        *,
        verification: Verification,
        liveness: Callable[[], LivenessChecker],
        face_engine: Callable[[], FaceEngine],
        clock: Clock,
        random: RandomSource,
        policy: Policy,
        limits: StreamLimits | None = None,
    ) -> None:
        self._verification = verification
        self._liveness = liveness
        self._face_engine = face_engine
        self._clock = clock
        self._random = random
        self._policy = policy
        self.limits = limits or StreamLimits()
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()
        self._sweeper: threading.Thread | None = None

    @property
    def open_count(self) -> int:
        with self._lock:
            return len(self._streams)

    def open(
        self,
        actor: Actor,
        attempt_id: str,
        *,
        nonce: str,
        id_photo: bytes,
        reader: ReaderSignature | None = None,
        card_front: bytes | None = None,
    ) -> OpenedStream:
        """Run the checks of a verification, consume the challenge and open a stream for its clip.

        Raises:
            StreamsBusy: this process holds ``limits.max_open`` streams (nothing was checked or spent).
            Everything ``Verification.begin_verification`` raises.
        """
        self.sweep()
        if self.open_count >= self.limits.max_open:
            raise StreamsBusy("this server is analysing as many streamed clips as it can", retry_after_seconds=5)
        started = self._verification.begin_verification(
            actor, attempt_id, nonce=nonce, id_photo=id_photo, reader=reader, card_front=card_front
        )
        engine = self._face_engine()
        if started.card_front_given:
            faces = PreparedFaces(engine)
        else:
            # The chip portrait is analysed now, while the customer performs the challenge, not after the last chunk.
            faces = PreparedFaces(engine, started.id_image, engine.analyse_id_photo(started.id_image))
        now = self._clock.now()
        expires_at = now + timedelta(seconds=self._policy.max_clip_seconds + self.limits.grace_seconds)
        stream = _Stream(
            stream_id=self._random.token_bytes(STREAM_ID_BYTES).hex(),
            attempt_id=started.attempt_id,
            actor_ref=actor.ref,
            started=started,
            clip=self._liveness().begin_stream(),
            faces=faces,
            expires_at=expires_at,
            last_chunk_at=now,
        )
        with self._lock:
            # One stream per attempt: a newer one (after a new challenge) replaces an abandoned one.
            for other in [s for s in self._streams.values() if s.attempt_id == stream.attempt_id]:
                self._drop(other)
            self._streams[stream.stream_id] = stream
        self._start_sweeper()
        return OpenedStream(
            stream.stream_id,
            self.limits.max_chunks,
            self._policy.max_upload_bytes,
            self.limits.idle_seconds,
            expires_at,
        )

    def add_chunk(self, actor: Actor, attempt_id: str, stream_id: str, seq: int, data: bytes) -> ChunkReceipt:
        """Decode and analyse chunk ``seq`` of the stream (the next one, sent after the previous was answered).

        Raises:
            StreamUnknown, ChunkDuplicate, ChunkOutOfOrder, ClipTooLarge, ClipTooLong, ClipInvalid. Every error but
            StreamUnknown gives the stream up.
        """
        stream = self._get(actor, attempt_id, stream_id)
        if not stream.busy.acquire(blocking=False):
            self._give_up(stream)
            raise ChunkOutOfOrder("chunks must be sent one after the other, each once the previous was answered")
        # From here the stream is ours alone; any error below gives it up.
        try:
            self._require_open(stream)
            if seq < stream.next_seq:
                raise ChunkDuplicate(f"chunk {seq} was already received; the stream was given up")
            if seq > stream.next_seq:
                raise ChunkOutOfOrder(f"chunk {stream.next_seq} must come before chunk {seq}; the stream was given up")
            if seq >= self.limits.max_chunks:
                raise ClipTooLarge(f"a streamed clip has at most {self.limits.max_chunks} chunks")
            if stream.bytes_received + len(data) > self._policy.max_upload_bytes:
                raise ClipTooLarge(f"the clip is larger than {self._policy.max_upload_bytes // (1024 * 1024)} MB")
            stream.next_seq += 1
            stream.bytes_received += len(data)
            stream.last_chunk_at = self._clock.now()
            stream.clip.feed(data)
            self._prepare_candidates(stream)
            # Idle time counts from the answer: the kiosk sends the next chunk only once this one was answered.
            stream.last_chunk_at = self._clock.now()
            return ChunkReceipt(stream.next_seq, stream.bytes_received, stream.clip.frames_analysed)
        except RealnameError:
            self._give_up(stream)
            raise
        finally:
            stream.busy.release()

    def finish(self, actor: Actor, attempt_id: str, stream_id: str, chunks: int) -> Decision:
        """End the stream after ``chunks`` chunks: analyse the rest, decide, match and record the decision.

        Raises:
            StreamUnknown, ChunkMissing, ChunkOutOfOrder (a chunk still being analysed), the clip errors, and what
            ``Verification.decide_verification`` raises.
        """
        stream = self._get(actor, attempt_id, stream_id)
        if not stream.busy.acquire(blocking=False):
            self._give_up(stream)
            raise ChunkOutOfOrder("the stream was ended while a chunk was still being analysed")
        try:
            self._require_open(stream)
            with self._lock:
                self._streams.pop(stream.stream_id, None)
            if chunks != stream.next_seq:
                stream.clip.abort()
                raise ChunkMissing(f"{chunks} chunks were sent but {stream.next_seq} received; the stream was given up")
            try:
                frames = stream.clip.finish()
            except RealnameError:
                stream.clip.abort()
                raise
            checked = self._liveness().check_frames(frames, stream.started.challenge.actions)
            del frames
        finally:
            stream.busy.release()
        try:
            return self._verification.decide_verification(actor, stream.started, checked, stream.faces)
        finally:
            stream.faces.forget()

    def _prepare_candidates(self, stream: _Stream) -> None:
        """Analyse for matching the settled candidate pictures most likely to end among the frames matched: the
        best ``best_frames`` by their provisional rating (against the median pose so far, as the final pick rates
        against the clip's). Each picture is analysed once; the rest wait for the end, if they are picked.

        Every analysis of a picture that is not picked is CPU the single upload never spends. Measured on the
        candidate series of 7 real clips streamed in 0.5 s chunks (benchmarks/README.md, "Streamed verification"):
        analyses per clip 7.1 → 6.1 against the previous rule (best ``best_frames + 1`` against the first pose),
        pictures left for after the last chunk 6 → 4 in all. Waiting until a candidate is 2 s old cut analyses to
        4.0 per clip but left one or two per clip for after the last chunk: median decision 303 ms against 180 ms.
        """
        wanted = self._liveness().thresholds.best_frames
        settled = sorted(stream.clip.settled_candidates(), key=lambda candidate: candidate[0], reverse=True)
        for _, rgb in settled[:wanted]:
            stream.faces.prepare(rgb)

    def sweep(self) -> int:
        """Give up every stream idle for ``limits.idle_seconds`` or past its expiry; return how many."""
        now = self._clock.now()
        idle = timedelta(seconds=self.limits.idle_seconds)
        with self._lock:
            stale = [s for s in self._streams.values() if now >= s.expires_at or now - s.last_chunk_at >= idle]
            for stream in stale:
                self._drop(stream)
        return len(stale)

    def _get(self, actor: Actor, attempt_id: str, stream_id: str) -> _Stream:
        actor.require(*STREAMING_ROLES)
        self.sweep()
        with self._lock:
            stream = self._streams.get(stream_id)
        if stream is None or stream.attempt_id != attempt_id or stream.actor_ref != actor.ref:
            # As on every attempt route, an attempt the caller may not act on is "not found" (raised here); on
            # their own attempt, someone else's stream is indistinguishable from a missing one.
            self._verification.get_attempt(actor, attempt_id)
            raise StreamUnknown(
                "no open stream with this id on this server (ended, given up, timed out, or opened on another "
                "server process); answer a new challenge"
            )
        return stream

    def _require_open(self, stream: _Stream) -> None:
        """The stream may have ended or been given up while the caller waited for it."""
        with self._lock:
            if self._streams.get(stream.stream_id) is not stream:
                raise StreamUnknown("the stream has ended or was given up; answer a new challenge")

    def _give_up(self, stream: _Stream) -> None:
        with self._lock:
            self._drop(stream)

    def _drop(self, stream: _Stream) -> None:
        """Forget a stream and free what it holds (caller holds ``_lock``)."""
        if self._streams.get(stream.stream_id) is stream:
            del self._streams[stream.stream_id]
        stream.clip.abort()
        stream.faces.forget()

    def _start_sweeper(self) -> None:
        with self._lock:
            if self._sweeper is not None and self._sweeper.is_alive():
                return
            self._sweeper = threading.Thread(target=self._sweep_while_open, name="liveness-stream-sweeper", daemon=True)
            self._sweeper.start()

    def _sweep_while_open(self) -> None:
        """Streams abandoned mid-way (the kiosk crashed, the network dropped) are freed even if no request comes."""
        stop = threading.Event()
        while True:
            stop.wait(self.limits.sweep_every_seconds)
            self.sweep()
            with self._lock:
                if not self._streams:
                    self._sweeper = None
                    return
