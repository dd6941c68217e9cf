"""Matching with a card-front image as well as the chip portrait: the port that reads the printed portrait, and the
use-case steps that check it and match against it.

A document camera images the ID card's front; its printed portrait is the chip portrait's photograph at several
times the resolution. :func:`read_card_front` finds it (or raises ``document.portrait_not_found``) — cheap, so it
runs before anything irreversible (a challenge is burnt). :func:`match_with_card_front` then checks that it is the
chip's photograph and lets the rule of :func:`realname.domain.card_front.deciding_reference` pick the reference
the live frames are matched against. Nothing here keeps an image: the caller drops them after the decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from realname.app.matching import (
    DecodedImage,
    FaceComparison,
    FaceEngine,
    ImageDecoder,
    decide_comparison,
    decode_or_reason,
    match_frames,
)
from realname.domain.card_front import DecidingReference, SamePhotographCheck, deciding_reference
from realname.domain.face import FaceAnalysis, FaceMatch, FaceReason, QualityGates
from realname.domain.policy import Policy


class PrintedPortraitReader(Protocol):
    """Finds the printed portrait on a card-front image and measures whether it is the chip's photograph."""

    @property
    def same_photograph_threshold(self) -> float:
        """The calibrated minimum of :meth:`same_photograph_similarity` for the same photograph."""
        ...

    def locate(self, card_front: DecodedImage) -> DecodedImage:
        """The printed portrait cut from the card-front image, at the image's resolution.

        Raises:
            PortraitNotFound: ``document.portrait_not_found`` (no face on the card, or too small to be sharper
                than the chip).
        """
        ...

    def same_photograph_similarity(self, printed_portrait: DecodedImage, chip: DecodedImage) -> float | None:
        """How alike the printed portrait, brought into the chip's domain and registered to it, is to the chip
        (a band-pass normalised cross-correlation, 1 = identical); None when it cannot be measured (no face to
        register by)."""
        ...


@dataclass(frozen=True, slots=True)
class CardFrontMatch:
    """The comparison that decides, and — when a card front was given — its same-photograph check."""

    comparison: FaceComparison
    check: SamePhotographCheck | None
    decided_by: DecidingReference | None


def read_card_front(
    reader: PrintedPortraitReader, decoder: ImageDecoder, card_front_bytes: bytes, policy: Policy
) -> DecodedImage:
    """Decode a card-front image and cut its printed portrait out.

    Raises:
        ImageRejected: the bytes are not a usable image.
        PortraitNotFound: no printed portrait can be found on it.
    """
    return reader.locate(decoder.decode(card_front_bytes, max_pixels=policy.max_image_pixels))


def match_with_card_front(
    chip: DecodedImage,
    printed_portrait: DecodedImage | None,
    frames: Sequence[DecodedImage],
    engine: FaceEngine,
    reader: PrintedPortraitReader | None,
    k: int,
) -> CardFrontMatch:
    """Match the live ``frames`` against the reference the rule picks.

    Without a printed portrait the chip decides (:func:`realname.app.matching.match_frames`, unchanged). With one,
    it must first pass the same-photograph check against the chip; if it does, the frames are matched against it
    (a photo reference: the engine's photo threshold); if not, nothing is matched and the outcome carries
    ``document.portrait_mismatch``.
    """
    if printed_portrait is None:
        return CardFrontMatch(match_frames(chip, frames, engine, k=k), None, DecidingReference.CHIP)
    if reader is None:
        raise ValueError("a printed portrait needs its reader")
    check = check_same_photograph(reader, printed_portrait, chip)
    decided_by = deciding_reference(check)
    if decided_by is None:
        kind = printed_portrait.reference_kind
        refused = FaceMatch(
            False, None, engine.threshold_for(kind), engine.name, check.reasons, frames_used=0, reference=kind
        )
        return CardFrontMatch(FaceComparison(refused, check.reasons, ()), check, None)
    reference = printed_portrait if decided_by is DecidingReference.PRINTED_PORTRAIT else chip
    return CardFrontMatch(match_frames(reference, frames, engine, k=k), check, decided_by)


def compare_with_card_front(
    id_photo_bytes: bytes,
    live_photo_bytes: bytes,
    card_front_bytes: bytes,
    engine: FaceEngine,
    reader: PrintedPortraitReader,
    policy: Policy,
    decoder: ImageDecoder,
    gates: QualityGates | None = None,
) -> CardFrontMatch:
    """One live photo against a chip photo and a card front (the CLI's ``face compare --card-front``).

    Raises:
        ImageRejected: the card front is not a usable image.
        PortraitNotFound: no printed portrait on it.

    Returns:
        The check and the comparison that decides: against the printed portrait when it passed; a refusal with
        ``document.portrait_mismatch`` when it did not; an unusable chip photo or live photo gives its reasons as
        :func:`realname.app.matching.compare_faces` does.
    """
    printed = read_card_front(reader, decoder, card_front_bytes, policy)
    chip, chip_reasons = decode_or_reason(decoder, id_photo_bytes, policy)
    live, live_reasons = decode_or_reason(decoder, live_photo_bytes, policy)
    check = None if chip is None else check_same_photograph(reader, printed, chip)
    return decide_with_card_front(
        printed, check, live, engine, gates or QualityGates(), chip_reasons=chip_reasons, live_reasons=live_reasons
    )


def check_same_photograph(
    reader: PrintedPortraitReader, printed_portrait: DecodedImage, chip: DecodedImage
) -> SamePhotographCheck:
    return SamePhotographCheck(
        reader.same_photograph_similarity(printed_portrait, chip), reader.same_photograph_threshold
    )


def decide_with_card_front(
    printed_portrait: DecodedImage,
    check: SamePhotographCheck | None,
    live: DecodedImage | None,
    engine: FaceEngine,
    gates: QualityGates,
    *,
    chip_reasons: tuple[FaceReason, ...] = (),
    live_reasons: tuple[FaceReason, ...] = (),
    live_analysis: FaceAnalysis | None = None,
    printed_analysis: FaceAnalysis | None = None,
) -> CardFrontMatch:
    """The decision for one live photo once the check is known (``check`` None: the chip photo was unusable, whose
    ``chip_reasons`` then decide). Analyses already made (batch runs) may be passed in."""
    kind = printed_portrait.reference_kind
    threshold = engine.threshold_for(kind)
    if check is None or not check.passed:
        reasons = chip_reasons if check is None else check.reasons
        refused = FaceMatch(False, None, threshold, engine.name, reasons, frames_used=0, reference=kind)
        return CardFrontMatch(FaceComparison(refused, reasons, ()), check, None)
    if live is not None and live_analysis is None:
        if printed_analysis is None:
            printed_analysis, (live_analysis,) = engine.analyse_all(printed_portrait, [live])
        else:
            live_analysis = engine.analyse(live)
    elif printed_analysis is None:
        printed_analysis = engine.analyse_id_photo(printed_portrait)
    comparison = decide_comparison(printed_analysis, live_analysis, engine, gates, kind, (), live_reasons)
    return CardFrontMatch(comparison, check, DecidingReference.PRINTED_PORTRAIT)
