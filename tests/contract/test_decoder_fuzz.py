"""Fuzzing the decoders of untrusted uploads: every input yields a valid result or the adapter's typed error.

Inputs: random bytes, a format signature followed by noise, small valid JPEG/PNG/WebP/MP4/WebM files made in
memory and then corrupted (bytes flipped, set, inserted, deleted, the file truncated), headers declaring huge
dimensions (decompression bombs), and, at the HTTP boundary, wrong content types and file names. Runs are
derandomized with a fixed number of examples, so CI sees the same inputs every time; each test prints how
many inputs it tried.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from realname.adapters.vision.clips import PyAvClipDecoder
from realname.adapters.vision.images import PillowImageDecoder
from realname.app.liveness import BurstFrame
from realname.config import PolicySettings
from realname.domain.face import FaceReason, ImageRejected
from realname.domain.liveness import ClipInvalid, ClipTooLarge, ClipTooLong
from tests.contract.test_images import encode
from tests.e2e import flows
from tests.e2e.conftest import Service, open_service
from tests.e2e.media import blank_clip

IMAGE_EXAMPLES = 300
CLIP_EXAMPLES = 300
BURST_EXAMPLES = 200
HTTP_EXAMPLES = 100
# Small enough that a bomb near the limit still decodes quickly; the refusal path is the same for any limit.
MAX_PIXELS = 2_000_000
MAX_CLIP_SECONDS = 10.0

TRIED: Counter[str] = Counter()


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    )


def report(capsys: pytest.CaptureFixture[str], name: str, outcomes: Counter[str]) -> None:
    with capsys.disabled():
        print(f"\n{name}: {TRIED[name]} inputs tried; outcomes {dict(sorted(outcomes.items()))}")


# -- seeds: small valid files, made in memory ----------------------------------------------------------------


def _gradient(width: int = 40, height: int = 30) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    rgb = np.stack([np.tile(x, (height, 1)), np.full((height, width), 90, np.uint8), np.tile(x[::-1], (height, 1))], 2)
    return Image.fromarray(np.ascontiguousarray(rgb))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int, colour_type: int = 2) -> bytes:
    """A PNG whose header declares ``width``×``height`` pixels, followed by a few bytes of image data."""
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def jpeg_declaring(seed: bytes, width: int, height: int) -> bytes:
    """``seed`` (a baseline JPEG) with the size in its frame header replaced."""
    at = seed.index(b"\xff\xc0")
    return seed[: at + 5] + struct.pack(">HH", height, width) + seed[at + 9 :]


def grey_png(width: int, height: int) -> bytes:
    return encode(Image.new("L", (width, height), 128), "PNG")


GRADIENT = _gradient()
JPEG = encode(GRADIENT, "JPEG", quality=85)
# Shapes that crashed the service (issue 14): a 2000×1 ID photo made the engine allocate gigabytes to enlarge it,
# a 1×39,000,000 one (under the pixel limit) and a 1×1 PNG sent as a clip gave 500s.
ODD_IMAGE_SEEDS = (grey_png(1, 1), grey_png(2000, 1), grey_png(1, 2000), png_declaring(1, 39_000_000, 0))
IMAGE_SEEDS = (
    *ODD_IMAGE_SEEDS,
    JPEG,
    encode(GRADIENT, "JPEG", quality=60, progressive=True),
    encode(GRADIENT.convert("L"), "JPEG"),
    encode(GRADIENT, "PNG"),
    encode(GRADIENT.convert("RGBA"), "PNG"),
    encode(GRADIENT.convert("P"), "PNG"),
    encode(GRADIENT, "WEBP", quality=80),
    encode(GRADIENT.convert("RGBA"), "WEBP", lossless=True),
)
SIGNATURES = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"GIF89a",
    b"\x00\x00\x00\x18ftypmp42",
)


@st.composite
def corrupted(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    """A seed file with a few bytes flipped, set, inserted or deleted, and maybe cut short."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        edit = draw(st.sampled_from(("flip", "set", "insert", "delete")))
        if edit == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "set" and data:
            data[at] = draw(st.sampled_from((0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255)))))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif data:
            del data[at : at + draw(st.integers(1, 16))]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@st.composite
def sprinkled(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    """A seed file with a few bytes overwritten and its length kept: the structure survives, the values lie."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def signature_then_noise() -> st.SearchStrategy[bytes]:
    return st.tuples(st.sampled_from(SIGNATURES), st.binary(max_size=512)).map(lambda parts: parts[0] + parts[1])


def image_inputs() -> st.SearchStrategy[bytes]:
    dimension = st.integers(0, 2**31 - 1) | st.sampled_from((1, 65535, 65500, 46341, 1415, 1414))
    return st.one_of(
        st.binary(max_size=1024),
        signature_then_noise(),
        corrupted(IMAGE_SEEDS),
        sprinkled(IMAGE_SEEDS),
        st.builds(png_declaring, dimension, dimension, st.sampled_from((0, 2, 3, 4, 6))),
        st.builds(jpeg_declaring, st.just(JPEG), st.integers(0, 65535), st.integers(0, 65535)),
    )


# -- the image decoder ---------------------------------------------------------------------------------------


def test_image_decoder_returns_pixels_or_a_typed_rejection(capsys: pytest.CaptureFixture[str]) -> None:
    decoder = PillowImageDecoder()
    outcomes: Counter[str] = Counter()

    @fuzz_settings(IMAGE_EXAMPLES)
    @given(data=image_inputs())
    def decode(data: bytes) -> None:
        TRIED["image decoder"] += 1
        try:
            image = decoder.decode(data, max_pixels=MAX_PIXELS)
        except ImageRejected as rejected:
            assert rejected.reason in (
                FaceReason.IMAGE_INVALID,
                FaceReason.IMAGE_TOO_LARGE,
                FaceReason.IMAGE_UNSUPPORTED_FORMAT,
                FaceReason.IMAGE_TOO_SMALL,
                FaceReason.IMAGE_ASPECT_RATIO,
            )
            outcomes[str(rejected.code)] += 1
            return
        assert image.rgb.dtype == np.uint8 and image.rgb.ndim == 3 and image.rgb.shape[2] == 3
        assert 0 < image.width * image.height <= MAX_PIXELS
        assert min(image.width, image.height) >= 16 and max(image.width, image.height) <= 4 * min(
            image.width, image.height
        )
        outcomes["decoded"] += 1

    decode()
    report(capsys, "image decoder", outcomes)
    assert outcomes["decoded"] and outcomes["image.invalid"] and outcomes["image.too_large"]
    assert outcomes["image.too_small"] and outcomes["image.aspect_ratio"]


# -- the clip decoder ----------------------------------------------------------------------------------------

CLIP_SEEDS = (blank_clip("mp4", frames=6, side_px=32), blank_clip("webm", frames=6, side_px=32))
ODD_CLIP_SEEDS = ODD_IMAGE_SEEDS[:3]
"""Images uploaded as clips: FFmpeg decodes a PNG as a one-frame video."""


def clip_inputs() -> st.SearchStrategy[bytes]:
    seeds = CLIP_SEEDS + ODD_CLIP_SEEDS
    return st.one_of(st.binary(max_size=2048), signature_then_noise(), corrupted(seeds), sprinkled(seeds))


@pytest.fixture(scope="module")
def clip_decoder() -> PyAvClipDecoder:
    return PyAvClipDecoder(max_bytes=PolicySettings().max_upload_bytes, max_seconds=MAX_CLIP_SECONDS)


def test_clip_decoder_returns_frames_or_a_typed_error(
    clip_decoder: PyAvClipDecoder, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes: Counter[str] = Counter()

    @fuzz_settings(CLIP_EXAMPLES)
    @given(data=clip_inputs())
    def decode(data: bytes) -> None:
        TRIED["clip decoder"] += 1
        try:
            frames = clip_decoder.decode_video(data)
        except (ClipInvalid, ClipTooLarge, ClipTooLong) as refused:
            outcomes[refused.code] += 1
            return
        assert frames
        for frame in frames:
            assert 0.0 <= frame.t_seconds <= MAX_CLIP_SECONDS + 0.5
            assert frame.image_rgb.dtype == np.uint8 and frame.image_rgb.shape[2] == 3
        outcomes["decoded"] += 1

    decode()
    report(capsys, "clip decoder", outcomes)
    assert outcomes["decoded"] and outcomes["liveness.clip_invalid"]


@pytest.mark.parametrize("seed", CLIP_SEEDS, ids=["mp4", "webm"])
def test_clip_with_tags_that_are_not_utf8_still_decodes(clip_decoder: PyAvClipDecoder, seed: bytes) -> None:
    # Found by the fuzzer: PyAV decoded container tags strictly and raised UnicodeDecodeError (an HTTP 500).
    broken_tags = seed.replace(b"Lavf", b"\x80avf")
    assert broken_tags != seed
    assert len(clip_decoder.decode_video(broken_tags)) == len(clip_decoder.decode_video(seed))


@pytest.mark.parametrize("seed", ODD_CLIP_SEEDS, ids=["1x1", "2000x1", "1x2000"])
def test_an_image_of_an_odd_shape_sent_as_a_clip_is_refused(clip_decoder: PyAvClipDecoder, seed: bytes) -> None:
    with pytest.raises(ClipInvalid) as refused:
        clip_decoder.decode_video(seed)
    assert "not a camera picture" in refused.value.message
    with pytest.raises(ClipInvalid):
        clip_decoder.decode_burst([BurstFrame(seed, 0.0)])


def test_burst_decoder_refuses_frames_larger_than_4k(clip_decoder: PyAvClipDecoder) -> None:
    huge = np.full((2176, 3856, 3), 100, np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(huge).save(buffer, format="JPEG", quality=30)
    with pytest.raises(ClipTooLarge):
        clip_decoder.decode_burst([BurstFrame(buffer.getvalue(), 0.0)])


def test_burst_decoder_refuses_a_jpeg_bomb_before_decoding_it(clip_decoder: PyAvClipDecoder) -> None:
    # 30000×30000 declared in a 1 kB file: decoding it would allocate 2.7 GB.
    for width, height in ((30000, 30000), (65535, 65535), (3841, 2161)):
        with pytest.raises(ClipTooLarge):
            clip_decoder.decode_burst([BurstFrame(jpeg_declaring(JPEG, width, height), 0.0)])


def test_burst_decoder_returns_frames_or_a_typed_error(
    clip_decoder: PyAvClipDecoder, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes: Counter[str] = Counter()
    frame = st.builds(
        BurstFrame,
        jpeg=st.one_of(
            st.binary(max_size=256),
            corrupted(IMAGE_SEEDS),
            st.builds(jpeg_declaring, st.just(JPEG), st.integers(0, 65535), st.integers(0, 65535)),
        ),
        captured_at_ms=st.floats(min_value=0, max_value=20_000, allow_nan=False),
    )

    @fuzz_settings(BURST_EXAMPLES)
    @given(burst=st.lists(frame, max_size=4))
    def decode(burst: list[BurstFrame]) -> None:
        TRIED["burst decoder"] += 1
        try:
            frames = clip_decoder.decode_burst(burst)
        except (ClipInvalid, ClipTooLarge, ClipTooLong) as refused:
            outcomes[refused.code] += 1
            return
        assert len(frames) == len(burst)
        outcomes["decoded"] += 1

    decode()
    report(capsys, "burst decoder", outcomes)
    assert outcomes["decoded"] and outcomes["liveness.clip_invalid"] and outcomes["liveness.clip_too_large"]


# -- the upload endpoint: the clip and the chip photo ---------------------------------------------------------

CONTENT_TYPES = ("video/mp4", "video/webm", "image/jpeg", "image/png", "application/octet-stream", "text/plain", "")
FILE_NAMES = ("clip.mp4", "chip.jpg", "../../etc/passwd", "", "x" * 300)


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz-upload") / "data"
    # Every rejected check counts towards the lock-out; lift it so each input reaches the decoders.
    yield from open_service(data_dir, policy=PolicySettings(max_failed_attempts=1_000_000))


def test_upload_endpoint_answers_every_input_with_a_decision_or_a_typed_4xx(
    kiosk: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    clerk = kiosk.staff()
    outcomes: Counter[str] = Counter()
    state = {"attempt": ""}
    valid_clip, valid_photo = CLIP_SEEDS[0], JPEG

    def challenged() -> tuple[str, str]:
        if state["attempt"]:
            again = kiosk.client.post(f"/v1/attempts/{state['attempt']}/challenge", headers=clerk)
            if again.status_code == 200:
                return state["attempt"], str(again.json()["nonce"])
        state["attempt"] = flows.start_attempt(kiosk.client, clerk)
        flows.prepare_attempt(kiosk.client, clerk, state["attempt"], flows.resident_id(301))
        return state["attempt"], flows.issue_challenge(kiosk.client, clerk, state["attempt"])

    upload = st.tuples(st.sampled_from(FILE_NAMES), st.sampled_from(CONTENT_TYPES))
    bad_clip = st.tuples(clip_inputs(), st.just(valid_photo))
    bad_photo = st.tuples(st.just(valid_clip), image_inputs())

    @fuzz_settings(HTTP_EXAMPLES)
    @given(files=bad_clip | bad_photo, clip_type=upload, photo_type=upload)
    def answer(files: tuple[bytes, bytes], clip_type: tuple[str, str], photo_type: tuple[str, str]) -> None:
        TRIED["upload endpoint"] += 1
        attempt, nonce = challenged()
        response = flows.answer_liveness(
            kiosk.client, clerk, attempt, nonce, files[0], files[1], clip_type=clip_type, photo_type=photo_type
        )
        assert response.status_code < 500, response.text
        body = response.json()
        if response.status_code == 200:
            assert body["passed"] is False and body["similarity"] is None
            outcomes["decided"] += 1
            return
        assert 400 <= response.status_code < 500 and set(body) == {"code", "message", "request_id"}, response.text
        assert body["code"].replace("_", "").replace(".", "").isalpha()
        outcomes[f"{response.status_code} {body['code']}"] += 1

    answer()
    report(capsys, "upload endpoint", outcomes)
    assert outcomes["decided"] and outcomes["400 image.invalid"] and outcomes["400 liveness.clip_invalid"]
