"""PillowImageDecoder on real encoded bytes: formats, limits before decoding, EXIF orientation, colour modes."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from realname.adapters.vision.images import PillowImageDecoder, sniff_format
from realname.domain.face import FaceReason, ImageRejected

DECODER = PillowImageDecoder()
LIMIT = 40_000_000


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def gradient(width: int = 60, height: int = 40) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    rgb = np.stack(
        [np.tile(x, (height, 1)), np.full((height, width), 80, np.uint8), np.full((height, width), 200, np.uint8)],
        axis=2,
    )
    return Image.fromarray(rgb)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def reason_of(data: bytes, max_pixels: int = LIMIT) -> FaceReason:
    with pytest.raises(ImageRejected) as caught:
        DECODER.decode(data, max_pixels=max_pixels)
    return caught.value.reason


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_supported_formats_decode_to_rgb(fmt: str) -> None:
    decoded = DECODER.decode(
        encode(gradient(), fmt, quality=95) if fmt != "PNG" else encode(gradient(), fmt), max_pixels=LIMIT
    )
    assert (decoded.width, decoded.height) == (60, 40)
    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.shape == (40, 60, 3)
    assert abs(int(decoded.rgb[20, 59, 0]) - 255) < 12 and abs(int(decoded.rgb[20, 0, 2]) - 200) < 12


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_image_formats_are_unsupported(fmt: str) -> None:
    assert reason_of(encode(gradient(), fmt)) == FaceReason.IMAGE_UNSUPPORTED_FORMAT


def test_non_image_and_empty_bytes_are_invalid() -> None:
    assert reason_of(b"%PDF-1.7 not an image") == FaceReason.IMAGE_INVALID
    assert reason_of(b"") == FaceReason.IMAGE_INVALID


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_files_are_invalid(fmt: str) -> None:
    data = encode(gradient(300, 200), fmt)
    assert reason_of(data[: len(data) // 2]) == FaceReason.IMAGE_INVALID


def test_limit_is_checked_from_the_header_before_decoding() -> None:
    """A PNG header claiming 100 000 × 100 000 pixels with no pixel data: refused as too large, not as broken."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", b"\0" * 16) + png_chunk(b"IEND", b"")
    assert reason_of(png) == FaceReason.IMAGE_TOO_LARGE
    assert reason_of(encode(gradient(60, 40), "PNG"), max_pixels=2399) == FaceReason.IMAGE_TOO_LARGE
    assert DECODER.decode(encode(gradient(60, 40), "PNG"), max_pixels=2400).width == 60


def test_exif_orientation_is_applied() -> None:
    image = gradient(60, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    decoded = DECODER.decode(encode(image, "JPEG", exif=exif.tobytes(), quality=95), max_pixels=LIMIT)
    assert (decoded.width, decoded.height) == (40, 60)
    # the bright right edge of the stored image becomes the bottom row once upright
    assert decoded.rgb[-1, :, 0].mean() > 200 and decoded.rgb[0, :, 0].mean() < 60


def test_grayscale_cmyk_palette_and_alpha_become_rgb() -> None:
    grey = DECODER.decode(encode(gradient().convert("L"), "PNG"), max_pixels=LIMIT).rgb
    assert np.array_equal(grey[:, :, 0], grey[:, :, 2])
    cmyk = DECODER.decode(encode(gradient().convert("CMYK"), "JPEG", quality=95), max_pixels=LIMIT).rgb
    assert abs(int(cmyk[20, 59, 0]) - 255) < 20
    palette = DECODER.decode(encode(gradient().convert("P"), "PNG"), max_pixels=LIMIT).rgb
    assert palette.shape == (40, 60, 3)
    transparent = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    assert DECODER.decode(encode(transparent, "PNG"), max_pixels=LIMIT).rgb.min() == 255  # on white


def test_sixteen_bit_grayscale_is_scaled_to_eight_bits() -> None:
    values = np.full((16, 16), 65535 // 2, dtype=np.uint16)
    image = Image.fromarray(values)
    decoded = DECODER.decode(encode(image, "PNG"), max_pixels=LIMIT).rgb
    assert 120 <= int(decoded[0, 0, 0]) <= 135


def test_sniffing_names_the_format() -> None:
    assert sniff_format(encode(gradient(), "WEBP")) == "WEBP"
    assert sniff_format(encode(gradient(), "PNG")) == "PNG"


def grey_png(width: int, height: int) -> bytes:
    """A real, decodable greyscale PNG of any shape (a 1×39,000,000 one is 76 kB)."""
    return encode(Image.new("L", (width, height), 128), "PNG")


@pytest.mark.parametrize(
    ("width", "height", "reason"),
    [
        (1, 1, FaceReason.IMAGE_TOO_SMALL),
        (2000, 1, FaceReason.IMAGE_TOO_SMALL),
        (15, 400, FaceReason.IMAGE_TOO_SMALL),
        (1000, 200, FaceReason.IMAGE_ASPECT_RATIO),
        (20, 81, FaceReason.IMAGE_ASPECT_RATIO),
    ],
)
def test_shapes_no_photo_has_are_refused_before_decoding(width: int, height: int, reason: FaceReason) -> None:
    assert reason_of(grey_png(width, height)) == reason


def test_a_one_by_39_million_png_is_refused_from_its_header() -> None:
    # Under the pixel limit (39 M < 40 M), but decoding it would take 117 MB and enlarging it to a face-sized
    # height would be absurd.
    assert reason_of(grey_png(1, 39_000_000)) == FaceReason.IMAGE_TOO_SMALL


def test_the_extreme_accepted_shapes_still_decode() -> None:
    assert DECODER.decode(grey_png(16, 64), max_pixels=LIMIT).rgb.shape == (64, 16, 3)
    assert DECODER.decode(grey_png(400, 100), max_pixels=LIMIT).rgb.shape == (100, 400, 3)
