"""``OnnxPrintedPortraitReader``: finds the printed portrait in a card-front image and checks that it is the same
photograph as the chip portrait (:class:`realname.app.card_front.PrintedPortraitReader`).

**Locating.** By face detection (fr_detect), not by a fixed card layout: a document camera's framing, the card's
position and rotation vary, and the card's only face is its portrait. The largest face is taken and a region around
it (the chip's framing, 1.5× wider for margin) is cut at the image's own resolution. No face, or a face smaller than
the chip portrait's face, is ``document.portrait_not_found``.

**Same photograph.** A near-duplicate check that survives print, scan and chip compression and that a swapped
printed photo (another person's, or another photograph of the same person) fails:

1. both faces' five landmark points (fr_landmark; the chip enlarged as the engine does) give a similarity transform
   from the printed portrait into the chip's 102×126 frame;
2. the printed portrait is brought into the chip's domain: smoothed against aliasing, warped to 102×126, and
   compressed as a chip is (JPEG 2000 at ``CHIP_DOMAIN_RATIO``, about 1,280 bytes, decoded);
3. ECC (OpenCV ``findTransformECC``, affine) registers it to the chip on greyscale;
4. the normalised cross-correlation of the two greyscale images over the inner area (a border of
   ``INNER_MARGIN`` left out: framing and compression edges) is the similarity, in [-1, 1].

The threshold is calibrated by ``benchmarks/card_front.py --calibrate`` and pinned in ``models.lock``.
Nothing is stored or logged; the images live only in the call.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from realname.adapters.vision.chip_photo import CHIP_HEIGHT_PX, CHIP_WIDTH_PX
from realname.adapters.vision.onnx_models import FaceBox, OnnxFaceModels, five_points_from_68, similarity_transform
from realname.adapters.vision.quality import pad_for_detection, upscale_small
from realname.app.matching import DecodedImage
from realname.domain.card_front import PortraitNotFound

ImageArray = npt.NDArray[np.uint8]
MIN_DETECTION_CONFIDENCE = 0.7
# The chip portrait's face box is about 60 % of its width (chip_photo.FACE_SHARE_OF_WIDTH); the cut-out keeps
# 1.5× that framing so the whole printed portrait is inside however the detector's box sits.
PORTRAIT_CROP_WIDTH_PER_FACE = 2.5
# A printed face smaller than a chip's face is no sharper reference than the chip.
MIN_PRINTED_FACE_PX = 60.0
CHIP_ENLARGED_HEIGHT_PX = 252
# Compressing the printed portrait like a chip brings it into the chip's domain: JPEG 2000 (9/7 wavelet) at a fixed
# ratio of 30:1 to the raw 102×126×3 bytes, about 1,280 bytes, between the real chips' 1 KB and 1.5 KB. One encode
# (not a search for an exact budget, as the chip simulation does): the chip's own budget is unknown anyway.
CHIP_DOMAIN_RATIO = 30.0
INNER_MARGIN = 0.12
ECC_ITERATIONS = 100
ECC_EPSILON = 1e-5
ECC_GAUSSIAN_PX = 3
GLARE_RESIDUAL_SIGMAS = 3.0
MAX_GLARE_SHARE = 0.4
# Which of :func:`correlation_scores` decides (chosen by benchmarks/card_front.py; see benchmarks/README.md).
SHIPPED_SCORE = "ncc_glare_masked"


class OnnxPrintedPortraitReader:
    """Stateless and thread-safe; shares the faceplugin sessions with the face engine and liveness."""

    def __init__(self, models: OnnxFaceModels, same_photograph_threshold: float) -> None:
        self._models = models
        self._threshold = same_photograph_threshold

    @property
    def same_photograph_threshold(self) -> float:
        return self._threshold

    def locate(self, card_front: DecodedImage) -> DecodedImage:
        rgb = card_front.rgb
        boxes = self._models.detect(rgb, min_confidence=MIN_DETECTION_CONFIDENCE)
        if not boxes:
            raise PortraitNotFound("no portrait was found on the card front: lay the card flat, face up, in view")
        box = max(boxes, key=lambda b: b.height)
        if box.height < MIN_PRINTED_FACE_PX:
            raise PortraitNotFound("the card's portrait is too small in the image: bring the card closer")
        return DecodedImage(_cut_around(rgb, box))

    def same_photograph_similarity(self, printed_portrait: DecodedImage, chip: DecodedImage) -> float | None:
        chip_points = self.five_points(upscale_small(chip.rgb, CHIP_ENLARGED_HEIGHT_PX), chip.rgb.shape[0])
        printed_points = self.five_points(printed_portrait.rgb, printed_portrait.rgb.shape[0])
        if chip_points is None or printed_points is None:
            return None
        in_chip_domain = to_chip_domain(printed_portrait.rgb, similarity_transform(printed_points, chip_points))
        return correlation_scores(chip.rgb, in_chip_domain)[SHIPPED_SCORE]

    def five_points(self, rgb: ImageArray, original_height: int) -> npt.NDArray[np.float64] | None:
        """The five alignment points of the largest face, in the coordinates of the image before enlarging."""
        padded = pad_for_detection(rgb)
        boxes = self._models.detect(padded, min_confidence=MIN_DETECTION_CONFIDENCE)
        if not boxes:
            return None
        box = max(boxes, key=lambda b: b.height)
        border = (padded.shape[0] - rgb.shape[0]) / 2.0
        points = five_points_from_68(self._models.landmarks(padded, box)) - border
        scaled: npt.NDArray[np.float64] = points * (original_height / rgb.shape[0])
        return scaled


def _cut_around(rgb: ImageArray, box: FaceBox) -> ImageArray:
    """The region around ``box`` framed as a chip portrait is (face centred, slightly high), with margin; the
    part outside the image is filled with grey."""
    width = PORTRAIT_CROP_WIDTH_PER_FACE * box.height
    height = width * CHIP_HEIGHT_PX / CHIP_WIDTH_PX
    centre_x = (box.x0 + box.x1) / 2.0
    centre_y = (box.y0 + box.y1) / 2.0 + 0.05 * height
    left, top = round(centre_x - width / 2.0), round(centre_y - height / 2.0)
    right, bottom = left + round(width), top + round(height)
    out = np.full((bottom - top, right - left, 3), 127, dtype=np.uint8)
    image_height, image_width = rgb.shape[:2]
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, image_width), min(bottom, image_height)
    out[y0 - top : y1 - top, x0 - left : x1 - left] = rgb[y0:y1, x0:x1]
    return out


def to_chip_domain(printed_rgb: ImageArray, to_chip: npt.NDArray[np.float64]) -> ImageArray:
    """The printed portrait in the chip's 102×126 frame (``to_chip``: 2×3 map from printed to chip pixels),
    smoothed against aliasing before it is shrunk, then compressed and decoded as a chip is."""
    scale = float(np.sqrt(abs(np.linalg.det(to_chip[:, :2]))))
    source = printed_rgb
    if scale < 1.0:
        source = np.asarray(cv2.GaussianBlur(printed_rgb, (0, 0), 0.5 / scale), dtype=np.uint8)
    warped = cv2.warpAffine(
        source,
        to_chip,
        (CHIP_WIDTH_PX, CHIP_HEIGHT_PX),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return compress_like_chip(np.ascontiguousarray(warped, dtype=np.uint8))


def compress_like_chip(rgb: ImageArray) -> ImageArray:
    """JPEG 2000 at ``CHIP_DOMAIN_RATIO``, decoded (in memory)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(
        buffer,
        format="JPEG2000",
        codec="j2k",
        irreversible=True,
        quality_mode="rates",
        quality_layers=[CHIP_DOMAIN_RATIO],
    )
    with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8)


def correlation_scores(chip_rgb: ImageArray, in_chip_domain_rgb: ImageArray) -> dict[str, float]:
    """ECC-register the printed portrait (already in the chip's frame and domain) to the chip, then correlate their
    inner areas: ``ncc`` over all of it, ``ncc_glare_masked`` leaving out a glare patch (see :func:`glare_mask`)."""
    chip_inner, printed_inner = registered_inner_areas(_grey(chip_rgb), _grey(in_chip_domain_rgb))
    keep = ~glare_mask(chip_inner, printed_inner)
    return {
        "ncc": normalised_cross_correlation(chip_inner, printed_inner),
        "ncc_glare_masked": normalised_cross_correlation(chip_inner[keep], printed_inner[keep]),
    }


def registered_inner_areas(
    chip_grey: npt.NDArray[np.float32], printed_grey: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """ECC-register ``printed_grey`` to ``chip_grey`` (affine, from the identity), and both inner areas. Registration
    that does not converge keeps the identity: a different photograph then simply correlates poorly."""
    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_ITERATIONS, ECC_EPSILON)
    try:
        _, found = cv2.findTransformECC(
            chip_grey,
            printed_grey,
            warp,
            cv2.MOTION_AFFINE,
            criteria,
            None,
            ECC_GAUSSIAN_PX,  # type: ignore[call-overload]
        )
        warp = np.asarray(found, dtype=np.float32)
    except cv2.error:
        warp = np.eye(2, 3, dtype=np.float32)
    height, width = chip_grey.shape
    aligned = cv2.warpAffine(
        printed_grey,
        warp,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    dy, dx = round(INNER_MARGIN * height), round(INNER_MARGIN * width)
    return chip_grey[dy:-dy, dx:-dx], np.asarray(aligned, dtype=np.float32)[dy:-dy, dx:-dx]


def glare_mask(chip_grey: npt.NDArray[np.float32], printed_grey: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    """Pixels a specular highlight has washed out: where the printed portrait is much brighter than the chip
    predicts (a least-squares grey-level fit; residual above ``GLARE_RESIDUAL_SIGMAS`` robust standard deviations),
    grown by a pixel. Glare only ever brightens, so only that side is left out. When more than
    ``MAX_GLARE_SHARE`` of the area would go, nothing is left out (the two are then simply unalike)."""
    x = chip_grey.astype(np.float64).ravel()
    y = printed_grey.astype(np.float64).ravel()
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    spread = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    bright = (residual > GLARE_RESIDUAL_SIGMAS * max(spread, 1.0)).reshape(chip_grey.shape).astype(np.uint8)
    grown = cv2.dilate(bright, np.ones((3, 3), np.uint8)).astype(bool)
    if grown.mean() > MAX_GLARE_SHARE:
        return np.zeros_like(grown)
    return grown


def normalised_cross_correlation(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Pearson correlation of two equally shaped images (0 when either is flat)."""
    x = a.astype(np.float64).ravel() - float(a.mean())
    y = b.astype(np.float64).ravel() - float(b.mean())
    norm = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / norm) if norm > 0 else 0.0


def _grey(rgb: ImageArray) -> npt.NDArray[np.float32]:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
