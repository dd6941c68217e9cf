"""OnnxFaceModels, the interface the liveness analysis also uses: shapes, ranges and measured behaviour."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from realname.adapters.vision.chip_photo import chip_portrait
from realname.adapters.vision.models import read_lock
from realname.adapters.vision.onnx_engine import OnnxFaceEngine
from realname.adapters.vision.onnx_models import (
    ALIGNED_FIVE_POINTS,
    ANTIALIAS_SIGMA_PER_SHRINK,
    PRINTED_ANTIALIAS_SIGMA_PER_SHRINK,
    Embedders,
    OnnxEmbedder,
    OnnxFaceModels,
    PixelScaling,
    five_points_from_68,
    load_sface_embedders,
    similarity_transform,
)
from realname.app.matching import DecodedImage
from realname.bootstrap.vision import build_face_engine
from realname.domain.errors import DependencyUnavailable
from realname.domain.face import ReferenceKind, ReferenceThresholds
from realname.domain.policy import Policy
from tests.contract.conftest import astronaut_rgb, grace_hopper_rgb

HALF = ReferenceThresholds(chip=0.5, photo=0.5)


def test_detect_returns_sorted_pixel_boxes_inside_the_image(onnx_models: OnnxFaceModels) -> None:
    grace = cv2.resize(grace_hopper_rgb(), (256, 300))
    astronaut = cv2.resize(astronaut_rgb(), (300, 300))[:, 22:278]
    both = np.ascontiguousarray(np.hstack([grace, astronaut]))
    boxes = onnx_models.detect(both)
    assert len(boxes) == 2
    assert boxes[0].confidence >= boxes[1].confidence >= 0.7
    centres = sorted((b.x0 + b.x1) / 2 for b in boxes)
    assert centres[0] < 256 < centres[1]
    for box in boxes:
        assert 0 <= box.x0 < box.x1 <= both.shape[1] and 0 <= box.y0 < box.y1 <= both.shape[0]


def test_detect_finds_nothing_on_a_plain_image(onnx_models: OnnxFaceModels) -> None:
    assert onnx_models.detect(np.full((240, 320, 3), 90, dtype=np.uint8)) == []


def test_landmarks_and_embedding_shapes(onnx_models: OnnxFaceModels) -> None:
    rgb = grace_hopper_rgb()
    box = onnx_models.detect(rgb)[0]
    points = onnx_models.landmarks(rgb, box)
    assert points.shape == (68, 2) and points.dtype == np.float32
    assert box.x0 - 20 <= points[:, 0].min() and points[:, 0].max() <= box.x1 + 20
    left_eye, right_eye = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    assert left_eye[0] < right_eye[0]  # point 36-41 is the eye on the image's left
    assert points[30, 1] > left_eye[1]  # the nose tip is below the eyes
    embedding = onnx_models.embed(rgb, points)
    assert embedding.shape == (512,) and embedding.dtype == np.float32
    assert float(np.linalg.norm(embedding)) == pytest.approx(1.0, abs=1e-5)


def test_live_probability_eyes_and_pose_ranges(onnx_models: OnnxFaceModels) -> None:
    rgb = grace_hopper_rgb()
    box = onnx_models.detect(rgb)[0]
    live = onnx_models.live_probability(rgb, box)
    assert 0.0 <= live <= 1.0
    left, right = onnx_models.eyes_closed_probability(rgb, onnx_models.landmarks(rgb, box))
    assert left < 0.5 and right < 0.5  # her eyes are open
    yaw, pitch, roll = onnx_models.head_pose(rgb, box)
    assert abs(yaw) < 20 and abs(pitch) < 25 and abs(roll) < 20


def test_similarity_transform_recovers_a_known_transform() -> None:
    source = np.array([[10, 10], [50, 12], [30, 40], [15, 60], [45, 62]], dtype=np.float64)
    angle, scale, shift = np.deg2rad(12), 1.7, np.array([5.0, -3.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = source @ (scale * rotation).T + shift
    matrix = similarity_transform(source, target)
    assert np.allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    assert np.allclose(matrix[:, 2], shift, atol=1e-9)


def test_five_points_need_68() -> None:
    with pytest.raises(ValueError, match="68"):
        five_points_from_68(np.zeros((5, 2), dtype=np.float32))


def test_engine_refuses_a_policy_stricter_than_its_calibration(face_models_dir: Path) -> None:
    with pytest.raises(DependencyUnavailable) as caught:
        build_face_engine("onnx", face_models_dir, 1, Policy(target_fmr=1e-6))
    assert caught.value.code == "models.uncalibrated"


@pytest.mark.parametrize("threads", [2, 3])
def test_analysing_on_several_threads_gives_the_same_results(onnx_models: OnnxFaceModels, threads: int) -> None:
    grace = DecodedImage(grace_hopper_rgb())
    astronaut = DecodedImage(astronaut_rgb())
    blank = DecodedImage(np.full((240, 320, 3), 90, dtype=np.uint8))
    sequential = OnnxFaceEngine(onnx_models, HALF, threads=1)
    threaded = OnnxFaceEngine(onnx_models, HALF, threads=threads)
    for analyse in ("analyse", "analyse_id_photo"):
        expected = getattr(sequential, analyse)(grace).embedding
        actual = getattr(threaded, analyse)(grace).embedding
        assert expected is not None and actual is not None
        np.testing.assert_array_equal(actual, expected)
    id_analysis, live = threaded.analyse_all(grace, [astronaut, blank, grace])
    expected_all = [sequential.analyse_id_photo(grace), *(sequential.analyse(i) for i in (astronaut, blank, grace))]
    for got, want in zip([id_analysis, *live], expected_all, strict=True):
        assert got == want  # face count and quality (the embedding is not part of equality)
        if want.embedding is None:
            assert got.embedding is None
        else:
            np.testing.assert_array_equal(got.embedding, want.embedding)
    assert live[1].face_count == 0 and live[1].embedding is None
    assert live[0].quality is not None and live[0].quality.yaw_degrees is not None  # live gates measured
    assert id_analysis.quality is not None and id_analysis.quality.yaw_degrees is None  # the ID photo is not gated


def test_threads_must_be_positive(onnx_models: OnnxFaceModels) -> None:
    with pytest.raises(ValueError, match="threads"):
        OnnxFaceEngine(onnx_models, HALF, threads=0)


def test_sface_embeds_raw_pixels_into_128_dimensions(face_models_dir: Path, onnx_models: OnnxFaceModels) -> None:
    sface = load_sface_embedders(face_models_dir).live
    assert sface.scaling is PixelScaling.RAW and onnx_models.feature.scaling is PixelScaling.CENTRED
    rgb = grace_hopper_rgb()
    aligned = onnx_models.aligned_face(rgb, onnx_models.landmarks(rgb, onnx_models.detect(rgb)[0]))
    tensor = sface.tensor(aligned)
    assert tensor.shape == (1, 3, 112, 112) and tensor.dtype == np.float32
    assert tensor.max() > 200  # raw 0-255: SFace normalises inside its graph
    embedding = sface.embed_aligned(aligned)
    assert embedding.shape == (128,) and embedding.dtype == np.float32
    assert float(np.linalg.norm(embedding)) == pytest.approx(1.0, abs=1e-5)
    assert float(np.dot(embedding, sface.embed_aligned(np.ascontiguousarray(aligned[:, ::-1])))) > 0.8  # its mirror
    with pytest.raises(ValueError, match="112x112"):
        sface.embed_aligned(aligned[:100])


def test_without_a_pinned_student_both_sides_use_the_base_sface(face_models_dir: Path) -> None:
    lock = read_lock()
    unpinned = dataclasses.replace(lock, sface=dataclasses.replace(lock.sface, chip_student=None))
    embedders = load_sface_embedders(face_models_dir, lock=unpinned)
    assert embedders.live is embedders.id_photo and embedders.live.name == "sface"
    assert embedders.chip == (embedders.live,)


def test_the_pinned_student_embeds_chips_fused_with_the_base(face_models_dir: Path) -> None:
    """models.lock pins the chip student with ``fuse_with_base``: a chip goes through both networks."""
    embedders = load_sface_embedders(face_models_dir)
    assert read_lock().sface.fuse_chip_with_base
    assert (embedders.live.name, embedders.id_photo.name) == ("sface", "sface_chip")
    assert embedders.chip == (embedders.id_photo, embedders.live)


class _Reversed(OnnxEmbedder):
    """A visibly different network of the same dimension: another embedder's vector, reversed."""

    def __init__(self, inner: OnnxEmbedder) -> None:  # delegates; no session of its own
        self._inner = inner

    def embed_aligned(self, aligned_rgb: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self._inner.embed_aligned(aligned_rgb)[::-1])


def test_a_fused_chip_embedding_is_the_mean_of_each_networks_mean(
    face_models_dir: Path, onnx_models: OnnxFaceModels
) -> None:
    base = load_sface_embedders(face_models_dir).live
    other = _Reversed(base)
    grace_rgb = grace_hopper_rgb()
    box = onnx_models.detect(grace_rgb)[0]
    chip = DecodedImage(chip_portrait(grace_rgb, (box.x0, box.y0, box.x1, box.y1)))

    def chip_embedding(embedders: Embedders) -> np.ndarray:
        embedding = OnnxFaceEngine(onnx_models, HALF, embedders=embedders).analyse_id_photo(chip).embedding
        assert embedding is not None
        return embedding

    alone = chip_embedding(Embedders(live=base, id_photo=other))
    by_base = chip_embedding(Embedders.same(base))
    fused = chip_embedding(Embedders(live=base, id_photo=other, fuse_on_chip=True))
    expected = (alone + by_base) / np.linalg.norm(alone + by_base)
    np.testing.assert_allclose(fused, expected, atol=1e-6)
    assert float(alone @ by_base) < 0.9  # the two networks really differ, so the test can tell fusion apart
    live = OnnxFaceEngine(onnx_models, HALF, embedders=Embedders(live=base, id_photo=other, fuse_on_chip=True))
    np.testing.assert_array_equal(live.analyse(DecodedImage(grace_rgb)).embedding, by_base_live(onnx_models, base))


def by_base_live(onnx_models: OnnxFaceModels, base: OnnxEmbedder) -> np.ndarray:
    """A live capture's embedding by the base alone (fusion is for chip references only)."""
    embedding = (
        OnnxFaceEngine(onnx_models, HALF, embedders=Embedders.same(base))
        .analyse(DecodedImage(grace_hopper_rgb()))
        .embedding
    )
    assert embedding is not None
    return embedding


def test_a_chip_reference_uses_the_reference_embedder_and_a_photo_reference_the_live_one(
    face_models_dir: Path, onnx_models: OnnxFaceModels
) -> None:
    """Live captures and chip-sized references go to their own networks (here visibly different ones: 512-d and
    128-d); a reference of the photo kind is embedded as a live capture is."""
    sface = load_sface_embedders(face_models_dir).live
    engine = OnnxFaceEngine(onnx_models, HALF, embedders=Embedders(live=onnx_models.feature, id_photo=sface))
    grace_rgb = grace_hopper_rgb()
    box = onnx_models.detect(grace_rgb)[0]
    chip = DecodedImage(chip_portrait(grace_rgb, (box.x0, box.y0, box.x1, box.y1)))
    grace = DecodedImage(grace_rgb)
    assert chip.reference_kind is ReferenceKind.CHIP and grace.reference_kind is ReferenceKind.PHOTO
    id_analysis, (live,) = engine.analyse_all(chip, [grace])
    assert id_analysis.embedding is not None and id_analysis.embedding.shape == (128,)
    assert live.embedding is not None and live.embedding.shape == (512,)
    photo_reference = engine.analyse_id_photo(grace).embedding
    assert photo_reference is not None and photo_reference.shape == (512,)
    # Same network, scales and mirrors; the reference is smoothed against aliasing before its large face is shrunk.
    assert not np.array_equal(photo_reference, live.embedding)
    assert float(photo_reference @ live.embedding) > 0.95


def test_a_printed_portrait_goes_to_the_printed_student_and_an_ordinary_photo_to_the_live_network(
    face_models_dir: Path, onnx_models: OnnxFaceModels
) -> None:
    """A printed portrait (``DecodedImage.printed``, as the card-front reader cuts it) is embedded by the printed
    student — fused with the live network when so pinned — and an ordinary photo reference by the live network."""
    base = load_sface_embedders(face_models_dir).live
    student = _Reversed(base)
    grace_rgb = grace_hopper_rgb()
    printed, photo = DecodedImage(grace_rgb, printed=True), DecodedImage(grace_rgb)

    def reference(image: DecodedImage, embedders: Embedders) -> np.ndarray:
        embedding = OnnxFaceEngine(onnx_models, HALF, embedders=embedders).analyse_id_photo(image).embedding
        assert embedding is not None
        return embedding

    by_base = reference(printed, Embedders.same(base))
    alone = reference(printed, Embedders(live=base, id_photo=base, printed_student=student))
    fused = reference(printed, Embedders(live=base, id_photo=base, printed_student=student, fuse_on_printed=True))
    assert float(alone @ by_base) < 0.9  # the student really differs
    np.testing.assert_allclose(fused, (alone + by_base) / np.linalg.norm(alone + by_base), atol=1e-6)
    np.testing.assert_array_equal(
        reference(photo, Embedders(live=base, id_photo=base, printed_student=student, fuse_on_printed=True)),
        reference(photo, Embedders.same(base)),
    )


def test_a_reference_is_analysed_by_its_kind_and_a_chip_sized_print_as_a_chip(
    sface_engine: OnnxFaceEngine, onnx_models: OnnxFaceModels
) -> None:
    """The engine's plan for a reference follows ``reference_kind``: a photo-sized printed portrait gets the printed
    smoothing and embedders, an ordinary photo the photo smoothing and the live embedder, and an image flagged
    printed but chip-sized is a chip (chip embedders and scales, no smoothing, detected on its own pixels)."""
    embedders = sface_engine.embedders
    grace_rgb = grace_hopper_rgb()
    box = onnx_models.detect(grace_rgb)[0]
    chip_rgb = chip_portrait(grace_rgb, (box.x0, box.y0, box.x1, box.y1))
    images = (DecodedImage(grace_rgb, printed=True), DecodedImage(grace_rgb), DecodedImage(chip_rgb, printed=True))
    plans = {image.reference_kind: sface_engine._id_photo_job(image) for image in images}
    assert list(plans) == [ReferenceKind.PRINTED, ReferenceKind.PHOTO, ReferenceKind.CHIP]
    assert [
        (job.embedders, job.antialias_sigma_per_shrink, job.print_suppressed_detection) for job in plans.values()
    ] == [
        (embedders.printed, PRINTED_ANTIALIAS_SIGMA_PER_SHRINK, True),
        ((embedders.live,), ANTIALIAS_SIGMA_PER_SHRINK, True),
        (embedders.chip, None, False),
    ]
    assert embedders.printed != (embedders.live,) != embedders.chip  # three different networks, so the test can tell
    assert plans[ReferenceKind.CHIP].scales == sface_engine.id_photo_scales
    assert plans[ReferenceKind.PRINTED].scales == plans[ReferenceKind.PHOTO].scales == sface_engine.live_scales
    np.testing.assert_array_equal(
        sface_engine.analyse_id_photo(DecodedImage(chip_rgb, printed=True)).embedding,
        sface_engine.analyse_id_photo(DecodedImage(chip_rgb)).embedding,
    )


def test_the_pinned_printed_student_embeds_printed_portraits_alone(face_models_dir: Path) -> None:
    """models.lock pins the printed-portrait student without fusion (docs/models/sface.md, "Printed-portrait
    student"): a printed portrait goes through it only; chips and live captures are unaffected."""
    sface = read_lock().sface
    assert sface.printed_student is not None and not sface.fuse_printed_with_base
    embedders = load_sface_embedders(face_models_dir)
    assert [embedder.name for embedder in embedders.printed] == ["sface_printed"]
    assert (embedders.live.name, embedders.id_photo.name) == ("sface", "sface_chip")


def test_without_a_pinned_printed_student_printed_portraits_use_the_live_network(face_models_dir: Path) -> None:
    lock = read_lock()
    unpinned = dataclasses.replace(lock, sface=dataclasses.replace(lock.sface, printed_student=None))
    embedders = load_sface_embedders(face_models_dir, lock=unpinned)
    assert embedders.printed == (embedders.live,)


def checkerboard_face(face_scale: float, period_px: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A 600×600 pixel checkerboard and 68 'landmarks' whose five points span a face ``face_scale`` × the aligned
    one."""
    y, x = np.mgrid[0:600, 0:600]
    board = ((x // period_px + y // period_px) % 2 * 255).astype(np.uint8)
    rgb = np.ascontiguousarray(np.repeat(board[:, :, None], 3, axis=2))
    landmarks = np.zeros((68, 2))
    five = 300 + (ALIGNED_FIVE_POINTS - ALIGNED_FIVE_POINTS.mean(axis=0)) * face_scale
    landmarks[[37, 38, 40, 41]] = five[0]
    landmarks[[43, 44, 46, 47]] = five[1]
    landmarks[30] = five[2]
    landmarks[[48, 60]] = five[3]
    landmarks[[54, 64]] = five[4]
    return rgb, landmarks


def test_antialiased_alignment_averages_a_fine_pattern_instead_of_aliasing_it(onnx_models: OnnxFaceModels) -> None:
    rgb, landmarks = checkerboard_face(3.7)
    plain = onnx_models.aligned_face(rgb, landmarks).astype(np.float64)
    smoothed = onnx_models.aligned_face(rgb, landmarks, antialias_sigma_per_shrink=ANTIALIAS_SIGMA_PER_SHRINK).astype(
        np.float64
    )
    assert plain.std() > 40  # bilinear sampling of a 2-pixel pattern shrunk 3.7×: moiré
    assert smoothed.std() < 10 and abs(smoothed.mean() - 127.5) < 10  # the pattern's mean grey


def test_a_printed_portraits_smoothing_is_stronger(onnx_models: OnnxFaceModels) -> None:
    rgb, landmarks = checkerboard_face(1.6)  # a coarser pattern, shrunk less: the default smoothing leaves some
    default = onnx_models.aligned_face(rgb, landmarks, antialias_sigma_per_shrink=ANTIALIAS_SIGMA_PER_SHRINK).astype(
        np.float64
    )
    printed = onnx_models.aligned_face(
        rgb, landmarks, antialias_sigma_per_shrink=PRINTED_ANTIALIAS_SIGMA_PER_SHRINK
    ).astype(np.float64)
    assert PRINTED_ANTIALIAS_SIGMA_PER_SHRINK > ANTIALIAS_SIGMA_PER_SHRINK
    assert printed.std() < 0.5 * default.std(), (printed.std(), default.std())


def test_antialiasing_leaves_a_face_that_is_not_shrunk_alone(onnx_models: OnnxFaceModels) -> None:
    rgb, landmarks = checkerboard_face(0.5)  # half the aligned size: the crop enlarges it
    np.testing.assert_array_equal(
        onnx_models.aligned_face(rgb, landmarks),
        onnx_models.aligned_face(rgb, landmarks, antialias_sigma_per_shrink=ANTIALIAS_SIGMA_PER_SHRINK),
    )


def test_sface_engine_thresholds_come_from_the_lock_per_reference_kind(sface_engine: OnnxFaceEngine) -> None:
    pinned = read_lock().threshold_for("sface").thresholds
    assert sface_engine.name == "sface"
    assert sface_engine.threshold_for(ReferenceKind.CHIP) == pinned.chip
    assert sface_engine.threshold_for(ReferenceKind.PHOTO) == pinned.photo
    # the printed portrait has its own, calibrated on printed-vs-live impostors (benchmarks/printed_calibration.py)
    assert pinned.printed is not None
    assert sface_engine.threshold_for(ReferenceKind.PRINTED) == pinned.printed < pinned.photo
