"""The framing guide of the capture step: a low-resolution preview frame in, one feedback category out.

Privacy: the frame lives only in memory for the call; nothing of it is stored, logged or audited, and only the
category goes back (no box, no count, no measurement). It is a biometric processing all the same, so it is
allowed only once the customer has given the biometric consent for this attempt, only to the staff serving the
attempt, and at most a few frames a second per attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol

from realname.app.actors import Actor
from realname.app.attempts import scoped_attempt
from realname.app.matching import DecodedImage, ImageDecoder
from realname.app.ports import Clock
from realname.app.unit_of_work import UnitOfWork
from realname.domain.errors import TooManyRequests
from realname.domain.framing import FaceInFrame, Framing, FramingLimits, framing_feedback
from realname.domain.organisation import Role

MAX_PREVIEW_PIXELS: Final = 640 * 640
"""A preview frame is small (the kiosk sends 320 px wide); anything larger is refused before decoding."""
MAX_PREVIEW_BYTES: Final = 256 * 1024
MIN_INTERVAL: Final = timedelta(milliseconds=200)
"""At most five frames a second per attempt (the kiosk sends about three)."""
_FORGET_AFTER: Final = timedelta(minutes=5)


class FaceFinder(Protocol):
    """Finds faces in one image, nothing else (no landmarks, no embedding). Thread-safe."""

    def find_faces(self, image: DecodedImage) -> Sequence[FaceInFrame]: ...


class FramingRateLimited(TooManyRequests):
    code = "framing.rate_limited"


@dataclass(frozen=True, slots=True)
class FramingDeps:
    uow: Callable[[], UnitOfWork]
    decoder: ImageDecoder
    finder: Callable[[], FaceFinder]
    """Called on first use (the models load then, never at start-up)."""
    clock: Clock
    limits: FramingLimits = field(default_factory=FramingLimits)


class FramingGuide:
    """``check`` one preview frame of an attempt's capture step. The throttle is per worker process, in memory."""

    def __init__(self, deps: FramingDeps) -> None:
        self._d = deps
        self._last_frame_at: dict[str, datetime] = {}

    def check(self, actor: Actor, attempt_id: str, frame: bytes) -> Framing:
        """The feedback for one preview frame (JPEG/PNG/WebP, at most 640×640 pixels).

        Raises:
            NotFound: ``attempt.not_found`` (also another outlet's or another clerk's attempt).
            Forbidden: ``auth.role_forbidden`` for anyone but the clerks and admins who capture at a kiosk.
            AttemptStateError: no biometric consent for this attempt (yet), or it is done; AttemptExpired.
            FramingRateLimited: a frame came less than 200 ms after the previous one of this attempt.
            ImageRejected: the frame is not a usable image (``image.*``).
        """
        # Scoped as every step of an attempt is (another outlet's, another clerk's or another subscriber's attempt
        # is indistinguishable from a missing one); then only the staff who capture at a kiosk.
        actor.require(Role.CLERK, Role.REVIEWER, Role.ADMIN, Role.SUBSCRIBER)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt = scoped_attempt(uow, actor, attempt_id, lock=False)  # read only: no row lock
            actor.require(Role.CLERK, Role.ADMIN)
            attempt.require_capture_consent(now)  # read only: nothing is saved or audited
        self._throttle(attempt_id, now)
        image = self._d.decoder.decode(frame, max_pixels=MAX_PREVIEW_PIXELS)
        return framing_feedback(self._d.finder().find_faces(image), image.rgb, self._d.limits)

    def _throttle(self, attempt_id: str, now: datetime) -> None:
        last = self._last_frame_at.get(attempt_id)
        if last is not None and now - last < MIN_INTERVAL:
            raise FramingRateLimited("one preview frame at a time, at most five a second", retry_after_seconds=1)
        self._last_frame_at[attempt_id] = now
        if len(self._last_frame_at) > 1000:
            stale = [key for key, at in self._last_frame_at.items() if now - at > _FORGET_AFTER]
            for key in stale:
                del self._last_frame_at[key]
