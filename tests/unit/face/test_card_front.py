"""The card front as a second reference: the domain rule and the use-case steps, with fakes."""

from __future__ import annotations

import pytest

from realname.app.card_front import compare_with_card_front, match_with_card_front, read_card_front
from realname.domain.attempts import ReasonCategory, categorise
from realname.domain.card_front import DecidingReference, PortraitNotFound, SamePhotographCheck, deciding_reference
from realname.domain.face import FaceAnalysis, FaceReason, ReferenceKind
from realname.domain.policy import Policy
from tests.unit.face.fakes import FakeFaceEngine, FakePrintedPortraitReader, MarkedDecoder, face, unit_vector

NAMES = [
    *("chip", "printed", "lifted", "swapped", "card", "swapped_card", "blank_card"),
    *("live", "near", "stranger", "nobody"),
]
ANALYSES: dict[str, FaceAnalysis] = {
    "chip": face(unit_vector(1, 1.2, 0)),  # a soft chip: cos to "live" ≈ 0.78
    "printed": face(unit_vector(1, 0, 0)),  # the card's printed portrait: cos to "live" ≈ 0.98
    "lifted": face(unit_vector(1, 0.2, 0)),  # the printed portrait with its glare lifted: cos to "live" 1
    "swapped": face(unit_vector(1, 0.1, 0)),  # another person's photo pasted on the card, looks like "live"
    "live": face(unit_vector(1, 0.2, 0)),
    "near": face(unit_vector(1, 0.9, 0)),  # cos to "printed" ≈ 0.74
    "stranger": face(unit_vector(0, 1, 0)),
    "nobody": FaceAnalysis(face_count=0),
}
SIZES = {
    "printed": (500, 620),
    "lifted": (500, 620),
    "swapped": (500, 620),
    "card": (1600, 1200),
    "swapped_card": (1600, 1200),
}
PORTRAITS = {"card": "printed", "swapped_card": "swapped"}
SIMILARITIES = {("printed", "chip"): 0.97, ("swapped", "chip"): 0.62}
POLICY = Policy()


def _setup(chip_threshold: float = 0.8, photo_threshold: float = 0.5):  # type: ignore[no-untyped-def]
    engine = FakeFaceEngine(NAMES, ANALYSES, threshold=chip_threshold, photo_threshold=photo_threshold)
    reader = FakePrintedPortraitReader(NAMES, PORTRAITS, SIMILARITIES, threshold=0.9, sizes=SIZES)
    decoder = MarkedDecoder(NAMES, sizes=SIZES)
    return engine, reader, decoder


def _image(decoder: MarkedDecoder, name: str):  # type: ignore[no-untyped-def]
    return decoder.decode(f"img:{name}".encode(), max_pixels=10**8)


# -- the domain rule -----------------------------------------------------------------------------------------


def test_without_a_card_front_the_chip_decides() -> None:
    assert deciding_reference(None) is DecidingReference.CHIP


def test_a_verified_printed_portrait_decides() -> None:
    check = SamePhotographCheck(similarity=0.95, threshold=0.9)
    assert check.passed and check.reasons == ()
    assert deciding_reference(check) is DecidingReference.PRINTED_PORTRAIT


@pytest.mark.parametrize("similarity", [0.8999, 0.2, -0.5, None])
def test_a_printed_portrait_that_is_not_the_chips_photograph_decides_nothing(similarity: float | None) -> None:
    check = SamePhotographCheck(similarity=similarity, threshold=0.9)
    assert not check.passed
    assert check.reasons == (FaceReason.PORTRAIT_MISMATCH,)
    assert deciding_reference(check) is None


def test_the_threshold_itself_passes() -> None:
    assert SamePhotographCheck(similarity=0.9, threshold=0.9).passed


def test_a_clerk_sees_a_portrait_mismatch_as_a_document_problem() -> None:
    assert categorise((FaceReason.PORTRAIT_MISMATCH.value,)) is ReasonCategory.DOCUMENT
    assert PortraitNotFound("x").code == "document.portrait_not_found"


# -- the use-case steps ---------------------------------------------------------------------------------------


def test_without_a_card_front_frames_are_matched_against_the_chip_unchanged() -> None:
    engine, reader, decoder = _setup()
    result = match_with_card_front(_image(decoder, "chip"), None, [_image(decoder, "live")], engine, reader, k=3)
    assert result.check is None and result.decided_by is DecidingReference.CHIP
    assert result.comparison.match.reference is ReferenceKind.CHIP
    assert not result.comparison.match.matched  # the soft chip: 0.78 < 0.8
    assert reader.calls == []


def test_a_verified_card_front_decides_by_the_printed_portrait_at_the_photo_threshold() -> None:
    engine, reader, decoder = _setup()
    printed = read_card_front(reader, decoder, b"img:card", POLICY)
    chip = _image(decoder, "chip")
    result = match_with_card_front(chip, printed, [_image(decoder, "live")], engine, reader, k=3)
    assert result.check == SamePhotographCheck(0.97, 0.9)
    assert result.decided_by is DecidingReference.PRINTED_PORTRAIT
    match = result.comparison.match
    assert (match.matched, match.reference, match.threshold) == (True, ReferenceKind.PHOTO, 0.5)
    assert match.similarity == pytest.approx(0.9806, abs=1e-3)
    assert ("check", "printed", "chip") in reader.calls


def test_the_live_frames_are_matched_against_the_printed_portrait_with_its_glare_lifted_against_the_chip() -> None:
    engine = FakeFaceEngine(NAMES, ANALYSES, threshold=0.8, photo_threshold=0.5)
    reader = FakePrintedPortraitReader(NAMES, PORTRAITS, SIMILARITIES, sizes=SIZES, lifted={"printed": "lifted"})
    decoder = MarkedDecoder(NAMES, sizes=SIZES)
    printed = read_card_front(reader, decoder, b"img:card", POLICY)
    result = match_with_card_front(_image(decoder, "chip"), printed, [_image(decoder, "live")], engine, reader, k=3)
    assert reader.calls[-2:] == [("check", "printed", "chip"), ("without_glare", "printed", "chip")]
    assert result.comparison.match.similarity == pytest.approx(1.0)  # "lifted", not "printed" (0.98)
    assert result.check == SamePhotographCheck(0.97, 0.9)  # the check itself ran on the portrait as captured
    compared = compare_with_card_front(b"img:chip", b"img:live", b"img:card", engine, reader, POLICY, decoder)
    assert compared.comparison.match.similarity == pytest.approx(1.0)


def test_a_swapped_printed_photo_is_refused_even_when_the_live_face_matches_it() -> None:
    engine, reader, decoder = _setup()
    printed = read_card_front(reader, decoder, b"img:swapped_card", POLICY)
    result = match_with_card_front(_image(decoder, "chip"), printed, [_image(decoder, "live")], engine, reader, k=3)
    assert result.decided_by is None
    match = result.comparison.match
    assert not match.matched and match.similarity is None
    assert match.reason_codes == ["document.portrait_mismatch"]
    assert ("live", "live") not in engine.calls  # nothing is matched against a portrait that is not the chip's
    assert not any(call[0] == "without_glare" for call in reader.calls)  # nor is the chip used to repair it


def test_a_verified_printed_portrait_still_rejects_another_person() -> None:
    engine, reader, decoder = _setup()
    printed = read_card_front(reader, decoder, b"img:card", POLICY)
    result = match_with_card_front(_image(decoder, "chip"), printed, [_image(decoder, "stranger")], engine, reader, k=3)
    assert result.decided_by is DecidingReference.PRINTED_PORTRAIT
    assert not result.comparison.match.matched and result.comparison.match.reasons == ()


def test_a_card_front_without_a_portrait_is_an_error_before_anything_else() -> None:
    _, reader, decoder = _setup()
    with pytest.raises(PortraitNotFound) as raised:
        read_card_front(reader, decoder, b"img:blank_card", POLICY)
    assert raised.value.code == "document.portrait_not_found"


def test_an_undecodable_card_front_is_an_image_error() -> None:
    _, reader, _ = _setup()
    decoder = MarkedDecoder(NAMES, {b"junk": FaceReason.IMAGE_INVALID})
    with pytest.raises(Exception, match="rejected by the fake") as raised:
        read_card_front(reader, decoder, b"junk", POLICY)
    assert getattr(raised.value, "code", None) == "image.invalid"


def test_compare_with_card_front_one_live_photo() -> None:
    engine, reader, decoder = _setup()
    good = compare_with_card_front(b"img:chip", b"img:near", b"img:card", engine, reader, POLICY, decoder)
    assert good.decided_by is DecidingReference.PRINTED_PORTRAIT
    assert good.comparison.match.matched  # 0.74 >= 0.5, the photo threshold
    swapped = compare_with_card_front(b"img:chip", b"img:near", b"img:swapped_card", engine, reader, POLICY, decoder)
    assert swapped.comparison.match.reason_codes == ["document.portrait_mismatch"]
    assert not swapped.comparison.match.matched


def test_compare_with_card_front_reports_an_unusable_chip_or_live_photo() -> None:
    engine, reader, _ = _setup()
    decoder = MarkedDecoder(NAMES, {b"broken": FaceReason.IMAGE_INVALID}, sizes=SIZES)
    no_chip = compare_with_card_front(b"broken", b"img:live", b"img:card", engine, reader, POLICY, decoder)
    assert no_chip.check is None and no_chip.comparison.match.reason_codes == ["image.invalid"]
    no_face = compare_with_card_front(b"img:chip", b"img:nobody", b"img:card", engine, reader, POLICY, decoder)
    assert no_face.comparison.match.reason_codes == ["face.none"]
    assert no_face.comparison.live_reasons == (FaceReason.NO_FACE,)
