"""The card-front reader on real models: the printed portrait is found on simulated document-camera images of two
public-domain portraits, passes the same-photograph check against its own chip at both realistic chip budgets, and
fails it against the other person's chip; unusable card fronts are typed errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realname.adapters.vision.card_front_photo import CardFrontConditions, simulate_card_front
from realname.adapters.vision.chip_photo import JPEG2000_1024, JPEG2000_1536, ChipCompression, simulate_chip_photo
from realname.adapters.vision.images import PillowImageDecoder
from realname.adapters.vision.onnx_engine import OnnxFaceEngine
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.adapters.vision.printed_portrait import (
    CHIP_ENLARGED_HEIGHT_PX,
    FoundFace,
    OnnxPrintedPortraitReader,
    band_pass_correlation,
    normalised_cross_correlation,
    registered_inner_areas,
    scores_by_start,
)
from realname.adapters.vision.quality import pad_for_detection, upscale_small
from realname.app.card_front import PrintedPortraitReader
from realname.app.matching import DecodedImage
from realname.bootstrap.vision import build_printed_portrait_reader
from realname.domain.card_front import PortraitNotFound
from realname.domain.face import ReferenceKind
from tests.contract.conftest import astronaut_rgb, grace_hopper_rgb, jpeg_bytes

DECODER = PillowImageDecoder()
MAX_PIXELS = 40_000_000


@pytest.fixture(scope="module")
def reader(onnx_models: OnnxFaceModels) -> PrintedPortraitReader:
    return build_printed_portrait_reader(onnx_models)


def _box(models: OnnxFaceModels, rgb: np.ndarray) -> tuple[float, float, float, float]:
    box = max(models.detect(rgb), key=lambda b: b.height)
    return box.x0, box.y0, box.x1, box.y1


def _chip(models: OnnxFaceModels, rgb: np.ndarray, compression: ChipCompression) -> DecodedImage:
    return DECODER.decode(simulate_chip_photo(rgb, _box(models, rgb), compression=compression), max_pixels=MAX_PIXELS)


def _card(models: OnnxFaceModels, rgb: np.ndarray, seed: int, **conditions: object) -> DecodedImage:
    data = simulate_card_front(rgb, _box(models, rgb), np.random.default_rng(seed), CardFrontConditions(**conditions))  # type: ignore[arg-type]
    return DECODER.decode(data, max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("compression", [JPEG2000_1024, JPEG2000_1536], ids=lambda c: c.name)
def test_a_printed_portrait_is_the_same_photograph_as_its_chip_and_not_as_anothers(
    onnx_models: OnnxFaceModels, reader: PrintedPortraitReader, compression: ChipCompression
) -> None:
    portraits = {"grace": grace_hopper_rgb(), "astronaut": astronaut_rgb()}
    chips = {name: _chip(onnx_models, rgb, compression) for name, rgb in portraits.items()}
    threshold = reader.same_photograph_threshold
    for seed in range(2):
        for name, rgb in portraits.items():
            printed = reader.locate(_card(onnx_models, rgb, seed))
            assert printed.reference_kind is ReferenceKind.PRINTED
            assert printed.printed  # the engine smooths its print more than an ordinary photo's
            assert printed.width > 3 * 102  # the portrait at print resolution, with margin
            own = reader.same_photograph_similarity(printed, chips[name])
            other = reader.same_photograph_similarity(printed, chips["astronaut" if name == "grace" else "grace"])
            assert own is not None and own >= threshold, (name, seed, own)
            assert other is not None and other < threshold - 0.1, (name, seed, other)


def test_the_band_pass_correlation_reads_detail_not_glare_or_tone(onnx_models: OnnxFaceModels) -> None:
    chip = _chip(onnx_models, grace_hopper_rgb(), JPEG2000_1024).rgb
    ys, xs = np.mgrid[0:126, 0:102].astype(np.float32)
    highlight = 0.9 * np.exp(-0.5 * (((xs - 55) / 12) ** 2 + ((ys - 55) / 9) ** 2))
    glared = np.clip(chip + highlight[:, :, None] * (255.0 - chip), 0, 255).astype(np.uint8)
    plain = normalised_cross_correlation(*registered_inner_areas(_grey(chip), _grey(glared)))
    assert plain < 0.98  # the patch alone spoils a plain correlation of the very same image
    assert band_pass_correlation(chip, glared) > 0.98
    toned = np.clip(chip.astype(np.float32) * 0.8 + 30, 0, 255).astype(np.uint8)
    assert band_pass_correlation(chip, toned) > 0.99  # a print's tone curve changes nothing
    unrelated = _chip(onnx_models, astronaut_rgb(), JPEG2000_1024).rgb
    assert band_pass_correlation(chip, unrelated) < 0.5


def _grey(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.float32)


def test_a_card_front_without_a_face_is_portrait_not_found(reader: PrintedPortraitReader) -> None:
    blank = DECODER.decode(jpeg_bytes(np.full((900, 1200, 3), 230, dtype=np.uint8)), max_pixels=MAX_PIXELS)
    with pytest.raises(PortraitNotFound) as raised:
        reader.locate(blank)
    assert raised.value.code == "document.portrait_not_found"


def test_a_card_front_too_far_away_is_portrait_not_found(
    onnx_models: OnnxFaceModels, reader: PrintedPortraitReader
) -> None:
    card = _card(onnx_models, grace_hopper_rgb(), 0)
    tiny = DecodedImage(np.ascontiguousarray(card.rgb[::6, ::6]))  # the face about 35 px high
    with pytest.raises(PortraitNotFound, match="too small"):
        reader.locate(tiny)


def test_a_chip_without_a_face_fails_the_check(onnx_models: OnnxFaceModels, reader: PrintedPortraitReader) -> None:
    printed = reader.locate(_card(onnx_models, grace_hopper_rgb(), 0))
    grey_chip = DecodedImage(np.full((126, 102, 3), 128, dtype=np.uint8))
    # Registered from the chip standard's framing alone (no face to find on the chip): nothing correlates.
    similarity = reader.same_photograph_similarity(printed, grey_chip)
    assert similarity is not None and similarity < reader.same_photograph_threshold - 0.3


def test_a_printed_portrait_whose_face_is_not_found_again_is_registered_from_its_cut(
    onnx_models: OnnxFaceModels,
) -> None:
    reader = OnnxPrintedPortraitReader(onnx_models, 0.0)
    printed = reader.locate(_card(onnx_models, grace_hopper_rgb(), 1)).rgb
    chip = _chip(onnx_models, grace_hopper_rgb(), JPEG2000_1536).rgb
    # As if the detector missed the face on the cut-out: the box the cut was framed around stands in for it.
    from_cut = scores_by_start(printed, None, chip, reader.chip_face(chip))
    assert "landmarks" not in from_cut
    assert max(from_cut.values()) > 0.8, from_cut
    other = _chip(onnx_models, astronaut_rgb(), JPEG2000_1536).rgb
    assert max(scores_by_start(printed, None, other, reader.chip_face(other)).values()) < 0.5
    blank = np.full((441, 358, 3), 200, dtype=np.uint8)  # nothing printed: nothing correlates
    assert max(scores_by_start(blank, None, chip, reader.chip_face(chip)).values()) < 0.3


def test_a_chip_whose_landmarks_are_wrong_is_still_registered_from_the_standard_framing(
    onnx_models: OnnxFaceModels,
) -> None:
    reader = OnnxPrintedPortraitReader(onnx_models, 0.0)
    printed = reader.locate(_card(onnx_models, grace_hopper_rgb(), 1))
    chip = _chip(onnx_models, grace_hopper_rgb(), JPEG2000_1536).rgb
    face = reader.face(printed.rgb, printed.rgb.shape[0], printed=True)
    chip_face = reader.chip_face(chip)
    assert face is not None and chip_face is not None
    wrong = FoundFace(chip_face.points[::-1] * 0.6 + 10.0, (20.0, 20.0, 50.0, 50.0))  # a face found in the wrong place
    from_wrong = scores_by_start(printed.rgb, face, chip, wrong)
    assert from_wrong["landmarks"] < 0.5 and from_wrong["face_boxes"] < 0.5, from_wrong
    assert from_wrong["standard_framing"] > 0.8, from_wrong


def _dark(rgb: np.ndarray, gain: float = 0.35) -> np.ndarray:
    """The photograph as an underexposed webcam frame: a dark face the detector loses under the security print."""
    return (rgb.astype(np.float32) * gain).astype(np.uint8)


@pytest.mark.parametrize("seed", [0, 2])
def test_a_dark_portrait_the_detector_misses_on_the_whole_card_is_found_on_the_straightened_card(
    onnx_models: OnnxFaceModels, reader: PrintedPortraitReader, sface_engine: OnnxFaceEngine, seed: int
) -> None:
    dark = _dark(grace_hopper_rgb())
    box = _box(onnx_models, grace_hopper_rgb())  # where the face is; the dark copy is what gets printed
    # No glare patch: on a photograph this dark a highlight outweighs the face in the correlation (a limit of the
    # same-photograph check, not of locating; benchmarks/README.md, "Card front").
    without_glare = CardFrontConditions(glare=False)
    card = DECODER.decode(
        simulate_card_front(dark, box, np.random.default_rng(seed), without_glare), max_pixels=MAX_PIXELS
    )
    assert onnx_models.detect(card.rgb, min_confidence=0.7) == []  # the case the fallback exists for
    printed = reader.locate(card)
    assert printed.reference_kind is ReferenceKind.PRINTED
    chip = simulate_chip_photo(dark, box, compression=JPEG2000_1536)
    own = reader.same_photograph_similarity(printed, DECODER.decode(chip, max_pixels=MAX_PIXELS))
    other = reader.same_photograph_similarity(printed, _chip(onnx_models, astronaut_rgb(), JPEG2000_1536))
    assert own is not None and own >= reader.same_photograph_threshold, own
    assert other is not None and other < reader.same_photograph_threshold - 0.1, other
    # The engine finds the face on the print-suppressed copy too, and the embedding is the person's.
    analysis = sface_engine.analyse_id_photo(printed)
    live = sface_engine.analyse(DecodedImage(grace_hopper_rgb()))
    assert analysis.embedding is not None and live.embedding is not None
    assert float(analysis.embedding @ live.embedding) >= sface_engine.threshold_for(ReferenceKind.PRINTED)


def test_an_upside_down_card_front_gives_an_upright_portrait(
    onnx_models: OnnxFaceModels, reader: PrintedPortraitReader
) -> None:
    card = _card(onnx_models, grace_hopper_rgb(), 0)
    turned = DecodedImage(np.ascontiguousarray(card.rgb[::-1, ::-1]))
    printed = reader.locate(turned)
    face = OnnxPrintedPortraitReader(onnx_models, 0.0).face(printed.rgb, printed.rgb.shape[0])
    assert face is not None
    points = face.points  # eyes, nose, mouth
    assert points[:2, 1].mean() < points[2, 1] < points[3:, 1].mean()  # eyes above the nose above the mouth
    own = reader.same_photograph_similarity(printed, _chip(onnx_models, grace_hopper_rgb(), JPEG2000_1536))
    assert own is not None and own >= reader.same_photograph_threshold, own


def test_a_bright_card_shaped_region_without_a_face_is_still_portrait_not_found(reader: PrintedPortraitReader) -> None:
    mat = np.full((1200, 1600, 3), 40, dtype=np.uint8)
    mat[300:840, 300:1156] = 236  # an empty card of the ID-1 shape on the mat
    with pytest.raises(PortraitNotFound, match="no portrait"):
        reader.locate(DecodedImage(mat))


def test_a_soft_chip_whose_face_the_detector_barely_sees_can_still_be_checked(
    onnx_models: OnnxFaceModels, reader: PrintedPortraitReader
) -> None:
    box = _box(onnx_models, astronaut_rgb())
    chip_rgb = _chip(onnx_models, astronaut_rgb(), JPEG2000_1024).rgb
    soft = np.asarray(cv2.GaussianBlur(_dark(chip_rgb, 0.5), (0, 0), 2.0), dtype=np.uint8)  # a dim, soft reader
    enlarged = pad_for_detection(upscale_small(soft, CHIP_ENLARGED_HEIGHT_PX))
    assert onnx_models.detect(enlarged, min_confidence=0.7) == []  # the engine's confidence would find no face
    card = simulate_card_front(astronaut_rgb(), box, np.random.default_rng(0), CardFrontConditions(glare=False))
    printed = reader.locate(DECODER.decode(card, max_pixels=MAX_PIXELS))
    own = reader.same_photograph_similarity(printed, DecodedImage(soft))
    assert own is not None and own >= reader.same_photograph_threshold, own


def test_the_engine_embeds_a_printed_portrait_with_its_own_smoothing(
    onnx_models: OnnxFaceModels, reader: PrintedPortraitReader, sface_engine: OnnxFaceEngine
) -> None:
    printed = reader.locate(_card(onnx_models, grace_hopper_rgb(), 0))
    as_print = sface_engine.analyse_id_photo(printed).embedding
    as_photo = sface_engine.analyse_id_photo(DecodedImage(printed.rgb)).embedding
    live = sface_engine.analyse(DecodedImage(grace_hopper_rgb())).embedding
    assert as_print is not None and as_photo is not None and live is not None
    assert float(as_print @ as_photo) < 0.9999  # not the same crop: the print was smoothed more
    assert float(as_print @ live) >= sface_engine.threshold_for(ReferenceKind.PRINTED)
