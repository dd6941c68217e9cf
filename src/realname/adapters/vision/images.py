"""Decoding untrusted image bytes into upright RGB pixels, with limits checked before any pixel is decoded.

Only JPEG, PNG and WebP are accepted (recognised by their signature, then parsed by Pillow restricted to that
format). The size is read from the header and refused before decoding when it is above ``max_pixels``, when
a side is under ``MIN_IMAGE_SIDE_PX`` or when one side is more than ``MAX_ASPECT_RATIO`` times the other: no
portrait is 2000×1, and enlarging such an image to a usable height would allocate gigabytes. EXIF orientation
is applied and dropped; grayscale, palette, CMYK, 16-bit and alpha images all come out as 8-bit RGB
(transparent areas on white). Every failure is an :class:`~realname.domain.face.ImageRejected` with a code.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from realname.app.matching import DecodedImage
from realname.domain.face import FaceReason, ImageRejected

_SUPPORTED_SIGNATURES: tuple[tuple[str, bytes], ...] = (("JPEG", b"\xff\xd8\xff"), ("PNG", b"\x89PNG\r\n\x1a\n"))
# Image formats we recognise in order to say "unsupported" rather than "not an image".
_OTHER_IMAGE_SIGNATURES = (b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"\x00\x00\x01\x00", b"8BPS")
MIN_IMAGE_SIDE_PX = 16
MAX_ASPECT_RATIO = 4.0
_HEIF_BRANDS = (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif", b"ftyphevc")


def sniff_format(data: bytes) -> str:
    """``JPEG``, ``PNG`` or ``WEBP`` from the leading bytes.

    Raises:
        ImageRejected: ``image.unsupported_format`` for another image format, ``image.invalid`` otherwise.
    """
    for name, signature in _SUPPORTED_SIGNATURES:
        if data.startswith(signature):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith(_OTHER_IMAGE_SIGNATURES) or data[4:12] in _HEIF_BRANDS:
        raise ImageRejected("only JPEG, PNG and WebP images are accepted", code=FaceReason.IMAGE_UNSUPPORTED_FORMAT)
    raise ImageRejected("the file is not an image", code=FaceReason.IMAGE_INVALID)


class PillowImageDecoder:
    """:class:`realname.app.matching.ImageDecoder` on Pillow. Stateless and thread-safe."""

    def decode(self, data: bytes, *, max_pixels: int) -> DecodedImage:
        image_format = sniff_format(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data), formats=[image_format])
            width, height = image.size
            if width <= 0 or height <= 0:
                raise ImageRejected("the image has no pixels", code=FaceReason.IMAGE_INVALID)
            refuse_odd_shape(width, height)
            if width * height > max_pixels:
                raise ImageRejected(
                    f"the image has {width}x{height} pixels; at most {max_pixels} are accepted",
                    code=FaceReason.IMAGE_TOO_LARGE,
                )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.load()
                upright = ImageOps.exif_transpose(image)
                rgb = to_rgb_array(upright)
        except Image.DecompressionBombError as exc:
            raise ImageRejected("the image is too large", code=FaceReason.IMAGE_TOO_LARGE) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageRejected("the image is damaged or truncated", code=FaceReason.IMAGE_INVALID) from exc
        return DecodedImage(rgb)


def refuse_odd_shape(width: int, height: int) -> None:
    """Refuse a size no face photo has, before any pixel is decoded or resized.

    Raises:
        ImageRejected: ``image.too_small`` (a side under ``MIN_IMAGE_SIDE_PX``) or ``image.aspect_ratio`` (one
            side more than ``MAX_ASPECT_RATIO`` times the other).
    """
    if min(width, height) < MIN_IMAGE_SIDE_PX:
        raise ImageRejected(
            f"the image is {width}x{height} pixels; each side needs at least {MIN_IMAGE_SIDE_PX}",
            code=FaceReason.IMAGE_TOO_SMALL,
        )
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ImageRejected(
            f"the image is {width}x{height} pixels; no side may be more than {MAX_ASPECT_RATIO:g} times the other",
            code=FaceReason.IMAGE_ASPECT_RATIO,
        )


def to_rgb_array(image: Image.Image) -> np.ndarray[tuple[int, int, int], np.dtype[np.uint8]]:
    """8-bit RGB pixels of any Pillow mode; alpha is composited on white, 16-bit is scaled down."""
    mode = image.mode
    if mode in {"I;16", "I;16L", "I;16B", "I;16N", "I"}:
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        grey = np.clip(values * (255.0 / peak), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float64), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    has_alpha = mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb)


def encode_jpeg(rgb: np.ndarray[tuple[int, int, int], np.dtype[np.uint8]], *, quality: int = 90) -> bytes:
    """JPEG bytes of an RGB frame, in memory (used only for evidence the operator chose to keep)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
