"""The same assertions on every face engine with real images: same person above the threshold, different
people below it, and each bad input with its reason. A subset needs no shared data (public-domain portraits
shipped with packages); the rest uses ../shared/data."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from realname.adapters.vision.chip_photo import (
    JPEG2000_1024,
    JPEG2000_1536,
    JPEG_Q25,
    ChipCompression,
    simulate_chip_photo,
)
from realname.adapters.vision.images import PillowImageDecoder
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.app.matching import DecodedImage, FaceEngine, compare_faces, match_frames
from realname.domain.face import FaceReason, QualityGates, ReferenceKind, live_capture_reasons
from realname.domain.policy import Policy
from tests.contract.conftest import astronaut_rgb, grace_hopper_rgb, jpeg_bytes

POLICY = Policy()
DECODER = PillowImageDecoder()


# The chip each engine is expected to match its source photo from. sface (the default) gets a realistic chip (JPEG
# 2000 at 1,536 bytes). onnx and dlib keep the milder JPEG q25 chip: on the realistic chip of Grace Hopper onnx
# reaches 0.510 against its threshold 0.5625 and dlib 0.928 / 0.944 (both portraits) against 0.967 — they reject
# most realistic chips (docs/models/sface.md, "Measured accuracy"), so these tests would only restate that.
CHIP_FOR_ENGINE: dict[str, ChipCompression] = {"sface": JPEG2000_1536, "onnx": JPEG_Q25, "dlib": JPEG_Q25}


def chip_of(rgb: np.ndarray, models: OnnxFaceModels, compression: ChipCompression = JPEG2000_1536) -> bytes:
    box = models.detect(rgb)[0]
    return simulate_chip_photo(rgb, (box.x0, box.y0, box.x1, box.y1), compression=compression)


def compare(engine: FaceEngine, id_bytes: bytes, live_bytes: bytes):  # type: ignore[no-untyped-def]
    return compare_faces(id_bytes, live_bytes, engine, POLICY, DECODER).match


# -- without shared data -----------------------------------------------------------------------------------


def test_chip_photo_matches_the_photo_it_was_made_from(face_engine: FaceEngine, onnx_models: OnnxFaceModels) -> None:
    for rgb in (grace_hopper_rgb(), astronaut_rgb()):
        result = compare(face_engine, chip_of(rgb, onnx_models, CHIP_FOR_ENGINE[face_engine.name]), jpeg_bytes(rgb))
        assert result.matched, result
        assert result.reference is ReferenceKind.CHIP
        assert result.similarity is not None and result.similarity >= face_engine.threshold_for(ReferenceKind.CHIP)


def test_different_people_do_not_match(face_engine: FaceEngine, onnx_models: OnnxFaceModels) -> None:
    grace, astronaut = grace_hopper_rgb(), astronaut_rgb()
    for id_rgb, live_rgb in ((grace, astronaut), (astronaut, grace)):
        result = compare(face_engine, chip_of(id_rgb, onnx_models), jpeg_bytes(live_rgb))
        assert not result.matched
        assert result.similarity is not None and result.similarity < face_engine.threshold_for(ReferenceKind.CHIP)
        assert result.reasons == ()


def test_no_face(face_engine: FaceEngine) -> None:
    wall = np.full((480, 640, 3), 180, dtype=np.uint8)
    cv2.rectangle(wall, (100, 100), (300, 300), (40, 90, 200), -1)
    result = compare(face_engine, jpeg_bytes(grace_hopper_rgb()), jpeg_bytes(wall))
    assert result.reasons == (FaceReason.NO_FACE,)
    assert result.similarity is None and not result.matched


def test_two_faces(face_engine: FaceEngine) -> None:
    grace = cv2.resize(grace_hopper_rgb(), (256, 300))
    astronaut = cv2.resize(astronaut_rgb(), (300, 300))[:, 22:278]
    both = np.hstack([grace, astronaut])
    result = compare(face_engine, jpeg_bytes(grace_hopper_rgb()), jpeg_bytes(both))
    assert FaceReason.MULTIPLE_FACES in result.reasons
    assert not result.matched


def test_face_too_small(face_engine: FaceEngine) -> None:
    canvas = np.full((960, 1280, 3), 200, dtype=np.uint8)
    canvas[400:520, 600:702] = cv2.resize(grace_hopper_rgb(), (102, 120))
    result = compare(face_engine, jpeg_bytes(grace_hopper_rgb()), jpeg_bytes(canvas))
    assert FaceReason.TOO_SMALL in result.reasons or FaceReason.NO_FACE in result.reasons
    assert not result.matched


def test_blurred(face_engine: FaceEngine) -> None:
    blurred = cv2.GaussianBlur(grace_hopper_rgb(), (0, 0), 6)
    result = compare(face_engine, jpeg_bytes(grace_hopper_rgb()), jpeg_bytes(blurred))
    assert FaceReason.BLURRED in result.reasons
    assert not result.matched


def test_too_dark_and_too_bright(face_engine: FaceEngine) -> None:
    grace = grace_hopper_rgb().astype(np.float32)
    dark = np.clip(grace * 0.22, 0, 255).astype(np.uint8)
    bright = np.clip(grace * 0.35 + 200, 0, 255).astype(np.uint8)
    dark_result = compare(face_engine, jpeg_bytes(grace_hopper_rgb()), jpeg_bytes(dark))
    bright_result = compare(face_engine, jpeg_bytes(grace_hopper_rgb()), jpeg_bytes(bright))
    assert FaceReason.TOO_DARK in dark_result.reasons or FaceReason.NO_FACE in dark_result.reasons
    assert FaceReason.TOO_BRIGHT in bright_result.reasons or FaceReason.NO_FACE in bright_result.reasons
    assert not dark_result.matched and not bright_result.matched


def test_unusable_images_have_their_reasons(face_engine: FaceEngine) -> None:
    good = jpeg_bytes(grace_hopper_rgb())
    assert compare(face_engine, good, b"not an image at all").reasons == (FaceReason.IMAGE_INVALID,)
    assert compare(face_engine, good, good[: len(good) // 2]).reasons == (FaceReason.IMAGE_INVALID,)
    assert compare(face_engine, b"GIF89a" + b"\0" * 20, good).reasons == (FaceReason.IMAGE_UNSUPPORTED_FORMAT,)
    tiny_policy = Policy(max_image_pixels=1000)
    result = compare_faces(good, good, face_engine, tiny_policy, DECODER).match
    assert result.reasons == (FaceReason.IMAGE_TOO_LARGE,)


def test_small_id_photo_at_chip_resolution_is_accepted(face_engine: FaceEngine, onnx_models: OnnxFaceModels) -> None:
    chip = DECODER.decode(chip_of(grace_hopper_rgb(), onnx_models), max_pixels=10**6)
    assert (chip.width, chip.height) == (102, 126)
    analysis = face_engine.analyse_id_photo(chip)
    assert analysis.face_count == 1 and analysis.embedding is not None


def test_realistic_chip_is_not_gated_for_being_small_or_soft(
    onnx_based_engine: FaceEngine, onnx_models: OnnxFaceModels
) -> None:
    """The softest realistic chip (JPEG 2000, 1,024 bytes) as the ID photo is only asked for a face: live gates
    strict enough to refuse its pixels as a live capture (too small, too soft) raise nothing on the ID side."""
    strict = QualityGates(min_face_height_px=200.0, min_sharpness=10_000.0)
    for portrait in (grace_hopper_rgb(), astronaut_rgb()):
        chip_bytes = chip_of(portrait, onnx_models, JPEG2000_1024)
        chip = DECODER.decode(chip_bytes, max_pixels=10**6)
        as_live = live_capture_reasons(onnx_based_engine.analyse(chip), strict)
        assert FaceReason.TOO_SMALL in as_live and FaceReason.BLURRED in as_live
        comparison = compare_faces(chip_bytes, jpeg_bytes(portrait), onnx_based_engine, POLICY, DECODER, strict)
        assert comparison.id_reasons == ()
        assert comparison.match.similarity is not None


# -- with shared data --------------------------------------------------------------------------------------


def clip_frame(path: Path, at_seconds: float) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= at_seconds:
                return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
    raise AssertionError(f"{path} is shorter than {at_seconds} s")


def test_eyes_closed_on_real_capture(shared_data: Path, onnx_based_engine: FaceEngine) -> None:
    clip = shared_data / "liveness" / "fellway_eyesclosed_b.mp4"
    closed = jpeg_bytes(clip_frame(clip, 1.0))
    open_eyes = jpeg_bytes(clip_frame(clip, 4.0))
    assert FaceReason.EYES_CLOSED in compare(onnx_based_engine, open_eyes, closed).reasons
    assert FaceReason.EYES_CLOSED not in compare(onnx_based_engine, open_eyes, open_eyes).reasons


def test_turned_head_is_not_frontal_and_yaw_sign_matches_the_docstring(
    shared_data: Path, face_engine: FaceEngine, onnx_models: OnnxFaceModels
) -> None:
    clip = shared_data / "liveness" / "tvl_real_turnR_turnL.mp4"
    frontal = jpeg_bytes(clip_frame(clip, 0.3))
    turned_to_image_right = clip_frame(clip, 3.0)
    assert FaceReason.NOT_FRONTAL in compare(face_engine, frontal, jpeg_bytes(turned_to_image_right)).reasons
    yaw = onnx_models.head_pose(turned_to_image_right, onnx_models.detect(turned_to_image_right)[0])[0]
    assert yaw < -20  # documented: positive yaw = face turned towards the image's left


def _east_asian_images(shared_data: Path) -> dict[str, list[Path]]:
    people: dict[str, list[Path]] = {}
    with (shared_data / "faces_east_asian" / "images.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["source"] == "lfw":
                people.setdefault(row["identity"], []).append(shared_data / "faces_east_asian" / "images" / row["file"])
    return people


def test_east_asian_genuine_and_impostor_rates_on_a_sample(shared_data: Path, face_engine: FaceEngine) -> None:
    """Photo vs photo on 12 LFW East Asian people: no impostor pair matches, and at least the genuine share
    measured in benchmarks/face_accuracy.py (minus a margin) does: sface ~94 %, onnx ~88 %, dlib only ~29 % at its
    photo threshold calibrated for FMR 1e-4 on East Asian faces (0.9751; 19 % on this sample)."""
    people = {k: v[:3] for k, v in sorted(_east_asian_images(shared_data).items()) if len(v) >= 3}
    chosen = dict(list(people.items())[:12])
    embeddings = {}
    for identity, paths in chosen.items():
        for path in paths:
            analysis = face_engine.analyse(DECODER.decode(path.read_bytes(), max_pixels=POLICY.max_image_pixels))
            assert analysis.embedding is not None, path
            embeddings[(identity, path)] = analysis.embedding
    keys = list(embeddings)
    genuine: list[float] = []
    impostor: list[float] = []
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            similarity = float(np.dot(embeddings[a], embeddings[b]))
            (genuine if a[0] == b[0] else impostor).append(similarity)
    threshold = face_engine.threshold_for(ReferenceKind.PHOTO)
    assert sum(s >= threshold for s in impostor) == 0
    minimum_genuine_share = {"sface": 0.85, "onnx": 0.75, "dlib": 0.1}[face_engine.name]
    assert np.mean([s >= threshold for s in genuine]) >= minimum_genuine_share


def test_match_frames_on_clip_frames(shared_data: Path, onnx_based_engine: FaceEngine) -> None:
    clip = shared_data / "liveness" / "lestari_real_static.mp4"
    frames = [DecodedImage(clip_frame(clip, t)) for t in (0.2, 0.8, 1.4, 2.0)]
    id_photo = DECODER.decode(jpeg_bytes(frames[0].rgb), max_pixels=10**8)
    result = match_frames(id_photo, frames[1:], onnx_based_engine, k=2).match
    assert result.frames_used == 2
    assert result.reference is ReferenceKind.PHOTO  # a full frame as the reference
    assert result.matched


def test_analyse_all_gives_what_separate_calls_give(face_engine: FaceEngine) -> None:
    grace = DecodedImage(grace_hopper_rgb())
    others = [DecodedImage(astronaut_rgb()), DecodedImage(np.full((200, 200, 3), 128, dtype=np.uint8))]
    id_analysis, live = face_engine.analyse_all(grace, others)
    assert id_analysis == face_engine.analyse_id_photo(grace)
    assert live == [face_engine.analyse(image) for image in others]
    assert live[1].face_count == 0
    assert id_analysis.embedding is not None and live[0].embedding is not None
    assert float(np.dot(id_analysis.embedding, live[0].embedding)) < face_engine.threshold_for(ReferenceKind.PHOTO)
