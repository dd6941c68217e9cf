"""Typed fakes of the liveness ports: an in-memory challenge store, a decoder and an analyser that replay series."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np

from realname.app.liveness import AnalysedFrame, BurstFrame, DecodedFrame
from realname.domain.liveness import Challenge, ChallengeNotFound, ClipInvalid, FrameObservation


class InMemoryChallengeStore:
    def __init__(self) -> None:
        self.challenges: dict[str, Challenge] = {}

    def save(self, challenge: Challenge) -> None:
        self.challenges[challenge.nonce] = challenge

    def get(self, nonce: str) -> Challenge | None:
        return self.challenges.get(nonce)

    def issued_for(self, attempt_id: str) -> int:
        return sum(1 for c in self.challenges.values() if c.attempt_id == attempt_id)

    def supersede_live(self, attempt_id: str, now: datetime) -> int:
        live = [c for c in self.challenges.values() if c.attempt_id == attempt_id and not c.used]
        for challenge in live:
            self.challenges[challenge.nonce] = replace(challenge, used=True, superseded=True)
        return len(live)

    def consume(self, nonce: str, attempt_id: str, device_id: str, now: datetime) -> Challenge:
        challenge = self.challenges.get(nonce)
        if challenge is None:
            raise ChallengeNotFound("no challenge carries this nonce")
        used = challenge.consume(nonce=nonce, attempt_id=attempt_id, device_id=device_id, now=now)
        self.challenges[nonce] = used
        return used


class SeriesDecoder:
    """ "Decodes" a clip whose bytes name a prepared series; records what it was asked to decode."""

    def __init__(self, series: dict[bytes, Sequence[FrameObservation]]) -> None:
        self.series = series
        self.decoded: list[bytes] = []

    def decode_video(self, data: bytes) -> list[DecodedFrame]:
        if data not in self.series:
            raise ClipInvalid("unknown test clip")
        self.decoded.append(data)
        return [
            DecodedFrame(o.t_seconds, np.full((4, 4, 3), i % 255, dtype=np.uint8))
            for i, o in enumerate(self.series[data])
        ]

    def decode_burst(self, frames: Sequence[BurstFrame]) -> list[DecodedFrame]:
        return self.decode_video(frames[0].jpeg)


class SeriesAnalyser:
    """Returns the prepared observations of the clip the decoder last produced."""

    def __init__(self, decoder: SeriesDecoder) -> None:
        self.decoder = decoder

    def analyse(self, frames: Sequence[DecodedFrame]) -> list[AnalysedFrame]:
        series = self.decoder.series[self.decoder.decoded[-1]]
        return [AnalysedFrame(o, f.image_rgb) for o, f in zip(series, frames, strict=True)]
