"""The card front as a second reference: the rule that admits the card's printed portrait, and how it decides.

A document camera at the counter images the ID card's front; the printed portrait there is the same photograph as
the chip portrait at several times its resolution, so a live face is matched against it more reliably. It is
trusted only when it is proven to be the same photograph as the chip portrait (which the card reader read): a card
whose printed photo was swapped (another person's, or another photograph of the holder) is refused with
``document.portrait_mismatch``, and the printed portrait is never used then.

Pure: standard library only. Adapters measure the same-photograph similarity; this module decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from realname.domain.errors import InvalidInput
from realname.domain.face import FaceReason


class PortraitNotFound(InvalidInput):
    """The card-front image shows no usable printed portrait (no face, or too small): capture it again."""

    code = FaceReason.PORTRAIT_NOT_FOUND.value


@dataclass(frozen=True, slots=True)
class SamePhotographCheck:
    """Whether the printed portrait is the chip portrait's photograph.

    ``similarity`` is the normalised cross-correlation of the two after the printed one was brought into the chip's
    domain and registered to it (1 = identical); None when it could not be measured (no face to register by), which
    fails the check. ``threshold`` is the calibrated minimum.
    """

    similarity: float | None
    threshold: float

    @property
    def passed(self) -> bool:
        return self.similarity is not None and self.similarity >= self.threshold

    @property
    def reasons(self) -> tuple[FaceReason, ...]:
        return () if self.passed else (FaceReason.PORTRAIT_MISMATCH,)


class DecidingReference(StrEnum):
    """Which reference portrait's comparison decides a verification (a stable value: it is audited)."""

    CHIP = "chip"
    PRINTED_PORTRAIT = "printed_portrait"


def deciding_reference(check: SamePhotographCheck | None) -> DecidingReference | None:
    """The rule. No card front (``check`` is None): the chip portrait decides, as without this feature. A card
    front whose printed portrait passed the same-photograph check: the live face against the printed portrait
    decides, alone, at the engine's threshold for a photo reference. A failed check: nothing decides — the
    verification is refused with ``document.portrait_mismatch`` (None).

    Why the printed portrait alone and not "chip or printed": accepting when either comparison passes gives an
    impostor two chances, roughly doubling the false-match rate the thresholds were calibrated for; and once the
    printed portrait is proven to be the chip's photograph, the chip adds little but blur
    (benchmarks/README.md, "Card front", compares the rules).
    """
    if check is None:
        return DecidingReference.CHIP
    return DecidingReference.PRINTED_PORTRAIT if check.passed else None
