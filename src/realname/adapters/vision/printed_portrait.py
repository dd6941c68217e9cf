"""``OnnxPrintedPortraitReader``: finds the printed portrait in a card-front image and checks that it is the same
photograph as the chip portrait (:class:`realname.app.card_front.PrintedPortraitReader`).

**Locating.** By face detection (fr_detect), not by a fixed card layout: a document camera's framing, the card's
position and rotation vary, and the card's only face is its portrait. The largest face is taken and a region around
it (the chip's framing, 1.5× wider for margin) is cut at the image's own resolution. When detection over the whole
image finds no face (a dark photograph under the security print defeats it), the card itself is found (the largest
bright region of the ID-1 shape), straightened, and the face detected inside the window where the card's layout
(``card_layout``) puts the portrait, either way up, on a smoothed, contrast-equalised copy; the portrait is cut from
the straightened card. No face either way, or a face smaller than the chip portrait's face, is
``document.portrait_not_found``.

**Same photograph.** A near-duplicate check that survives print, scan and chip compression and that a swapped
printed photo (another person's, or another photograph of the same person) fails:

1. the printed portrait is mapped into the chip's 102×126 frame from up to three starts: both faces' five landmark
   points (fr_landmark; the chip enlarged as the engine does), both faces' detector boxes, and the printed face's
   box onto where the chip standard's framing puts the face (``chip_photo.standard_face_box``: the start that does
   not need the chip's face to be found, or its landmarks to be right);
2. from each start the printed portrait is brought into the chip's domain: smoothed against aliasing, warped to
   102×126, and compressed as a chip is (JPEG 2000 at ``CHIP_DOMAIN_RATIO``, about 1,280 bytes, decoded);
3. ECC (OpenCV ``findTransformECC``, affine) registers it to the chip on greyscale;
4. both are band-pass filtered (a difference of Gaussians, ``BAND_PASS_SIGMAS_PX``: the detail a soft chip still
   keeps, without the smooth shading, tone and glare that two photographs of a room share and a highlight spoils)
   and their normalised cross-correlation over the inner area (a border of ``INNER_MARGIN`` left out: framing and
   compression edges) is the start's score, in [-1, 1]. The similarity is the best start's score: a wrong start
   only loses; another photograph correlates poorly from any start.

The threshold is calibrated by ``benchmarks/card_front.py --calibrate`` and pinned in ``models.lock``.
Nothing is stored or logged; the images live only in the call.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from realname.adapters.vision.card_layout import (
    CARD_ASPECT,
    PORTRAIT_BOTTOM,
    PORTRAIT_LEFT,
    PORTRAIT_RIGHT,
    PORTRAIT_TOP,
)
from realname.adapters.vision.chip_photo import (
    CHIP_HEIGHT_PX,
    CHIP_WIDTH_PX,
    FACE_CENTRE_BELOW_SHARE,
    framed_face_box,
    standard_face_box,
)
from realname.adapters.vision.onnx_models import FaceBox, OnnxFaceModels, five_points_from_68, similarity_transform
from realname.adapters.vision.quality import (
    PRINTED_DETECTION_SMOOTHING_PER_SIDE,
    pad_for_detection,
    print_suppressed,
    upscale_small,
)
from realname.app.matching import DecodedImage
from realname.domain.card_front import PortraitNotFound

ImageArray = npt.NDArray[np.uint8]
MIN_DETECTION_CONFIDENCE = 0.7
# The chip's face for the same-photograph registration: fr_detect misses the face at 0.7 on 27 of 457 simulated 1 KB
# chips of faces_east_asian, at 0.3 on 9 (benchmarks/README.md, "Card front").
CHIP_DETECTION_CONFIDENCE = 0.3
# The chip portrait's face box is about 60 % of its width (chip_photo.FACE_SHARE_OF_WIDTH); the cut-out keeps
# 1.5× that framing so the whole printed portrait is inside however the detector's box sits.
PORTRAIT_CROP_WIDTH_PER_FACE = 2.5
# A printed face smaller than a chip's face is no sharper reference than the chip.
MIN_PRINTED_FACE_PX = 60.0
CHIP_ENLARGED_HEIGHT_PX = 252
# The fallback locator (no face found over the whole image): the card is the largest bright region whose minimum-area
# rectangle has the ID-1 aspect ratio within this tolerance and covers at least this share of the image; the face is
# looked for in the layout's portrait window widened by this fraction of the card on each side, on a copy smoothed
# with σ = card width / 590 (≈ 2 px on a card 1,180 px wide: the halftone's and guilloche's scale).
CARD_ASPECT_TOLERANCE = 0.2
MIN_CARD_AREA_SHARE = 0.05
WINDOW_MARGIN = 0.06
DETECTION_SMOOTHING_PER_CARD_WIDTH = 590.0
# Compressing the printed portrait like a chip brings it into the chip's domain: JPEG 2000 (9/7 wavelet) at a fixed
# ratio of 30:1 to the raw 102×126×3 bytes, about 1,280 bytes, between the real chips' 1 KB and 1.5 KB. One encode
# (not a search for an exact budget, as the chip simulation does): the chip's own budget is unknown anyway.
CHIP_DOMAIN_RATIO = 30.0
INNER_MARGIN = 0.12
ECC_ITERATIONS = 100
ECC_EPSILON = 1e-5
ECC_GAUSSIAN_PX = 3
# The band the correlation reads, σ of the two Gaussians in chip pixels (chosen on the calibration fold by
# benchmarks/card_front.py; see benchmarks/README.md, "Card front").
BAND_PASS_SIGMAS_PX = (1.0, 4.0)
STANDARD_FRAMING = "standard_framing"


@dataclass(frozen=True, slots=True)
class FoundFace:
    """A face's five alignment points (eyes, nose, mouth corners) and detector box (x0, y0, x1, y1), in pixels."""

    points: npt.NDArray[np.float64]
    box: tuple[float, float, float, float]


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
        box = max(boxes, key=lambda b: b.height) if boxes else None
        if box is not None and box.height >= MIN_PRINTED_FACE_PX:
            return DecodedImage(_cut_around(rgb, box), printed=True)
        on_card = self._locate_on_card(rgb)
        if on_card is not None:
            return on_card
        if box is not None:
            raise PortraitNotFound("the card's portrait is too small in the image: bring the card closer")
        raise PortraitNotFound("no portrait was found on the card front: lay the card flat, face up, in view")

    def _locate_on_card(self, rgb: ImageArray) -> DecodedImage | None:
        """The fallback when detection over the whole image finds no face: find the card (the largest bright
        region of the ID-1 card's shape), straighten it, and detect the face only inside the window where the
        layout puts the portrait (either way up), on a copy smoothed and contrast-equalised so the security print
        and a dark photograph do not hide the face. The portrait is cut from the straightened card."""
        corners = card_corners(rgb)
        if corners is None:
            return None
        width = round(float(np.linalg.norm(corners[1] - corners[0])))
        height = round(width / CARD_ASPECT)
        target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
        best: tuple[FaceBox, ImageArray] | None = None
        for turn in (0, 2):  # upright, upside down
            to_card = cv2.getPerspectiveTransform(np.roll(corners, -turn, axis=0), target)
            card = np.asarray(
                cv2.warpPerspective(
                    rgb, to_card, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
                ),
                dtype=np.uint8,
            )
            box = self._face_in_window(card)
            if (
                box is not None
                and box.height >= MIN_PRINTED_FACE_PX
                and (best is None or box.confidence > best[0].confidence)
            ):
                best = (box, card)
        return None if best is None else DecodedImage(_cut_around(best[1], best[0]), printed=True)

    def _face_in_window(self, card: ImageArray) -> FaceBox | None:
        """The most confident face inside the portrait's window of a straightened card, in the card's pixels."""
        height, width = card.shape[:2]
        x0 = max(round((PORTRAIT_LEFT - WINDOW_MARGIN) * width), 0)
        y0 = max(round((PORTRAIT_TOP - WINDOW_MARGIN) * height), 0)
        x1 = min(round((PORTRAIT_RIGHT + WINDOW_MARGIN) * width), width)
        y1 = min(round((PORTRAIT_BOTTOM + WINDOW_MARGIN) * height), height)
        window = print_suppressed(card[y0:y1, x0:x1], width / DETECTION_SMOOTHING_PER_CARD_WIDTH)
        # fr_detect squeezes its input to 4:3: pad the upright window sideways instead of distorting the face.
        pad = max(round(window.shape[0] * 4 / 3) - window.shape[1], 0) // 2
        framed = cv2.copyMakeBorder(window, 0, 0, pad, pad, cv2.BORDER_CONSTANT, value=(127, 127, 127))
        boxes = self._models.detect(
            np.ascontiguousarray(framed, dtype=np.uint8), min_confidence=MIN_DETECTION_CONFIDENCE
        )
        if not boxes:
            return None
        found = boxes[0]
        dx, dy = x0 - pad, y0
        return FaceBox(found.x0 + dx, found.y0 + dy, found.x1 + dx, found.y1 + dy, found.confidence)

    def same_photograph_similarity(self, printed_portrait: DecodedImage, chip: DecodedImage) -> float | None:
        """Always measured: a portrait cut by :meth:`locate` has its face where the cut framed it, even when the
        face is not found again on the cut-out."""
        return max(self.same_photograph_scores(printed_portrait.rgb, chip.rgb).values())

    def same_photograph_scores(self, printed_rgb: ImageArray, chip_rgb: ImageArray) -> dict[str, float]:
        """The band-pass correlation from each registration start (:func:`scores_by_start`)."""
        printed = self.face(printed_rgb, printed_rgb.shape[0], printed=True)
        return scores_by_start(printed_rgb, printed, chip_rgb, self.chip_face(chip_rgb))

    def chip_face(self, chip_rgb: ImageArray) -> FoundFace | None:
        """The chip portrait's face, found on the chip enlarged as the engine enlarges it, at the lower
        ``CHIP_DETECTION_CONFIDENCE``: a chip holds one face by construction, and a wrong start only lowers the
        correlation (the check fails closed)."""
        enlarged = upscale_small(chip_rgb, CHIP_ENLARGED_HEIGHT_PX)
        return self.face(enlarged, chip_rgb.shape[0], min_confidence=CHIP_DETECTION_CONFIDENCE)

    def face(
        self,
        rgb: ImageArray,
        original_height: int,
        *,
        printed: bool = False,
        min_confidence: float = MIN_DETECTION_CONFIDENCE,
    ) -> FoundFace | None:
        """The largest face's five alignment points and detector box, in the coordinates of the image before
        enlarging (``rgb`` may be an enlarged copy of an image ``original_height`` high). ``printed``: the face is
        detected on a print-suppressed copy (as the engine does for a photo-kind reference); the landmarks are
        read from the picture itself."""
        padded = pad_for_detection(rgb)
        seen = (
            print_suppressed(padded, max(rgb.shape[:2]) / PRINTED_DETECTION_SMOOTHING_PER_SIDE) if printed else padded
        )
        boxes = self._models.detect(seen, min_confidence=min_confidence)
        if not boxes:
            return None
        box = max(boxes, key=lambda b: b.height)
        border = (padded.shape[0] - rgb.shape[0]) / 2.0
        scale = original_height / rgb.shape[0]
        points = (five_points_from_68(self._models.landmarks(padded, box)) - border) * scale
        corners = (box.x0 - border, box.y0 - border, box.x1 - border, box.y1 - border)
        return FoundFace(points, (corners[0] * scale, corners[1] * scale, corners[2] * scale, corners[3] * scale))


def card_corners(rgb: ImageArray) -> npt.NDArray[np.float32] | None:
    """The corners of the card in a document-camera image (the largest bright region, Otsu's threshold, whose
    minimum-area rectangle has the ID-1 card's aspect ratio and covers at least ``MIN_CARD_AREA_SHARE`` of the
    image), ordered so the first edge is a long one, clockwise in image coordinates; None when there is no such
    region."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    smoothed = cv2.GaussianBlur(grey, (0, 0), 2.0)
    _, mask = cv2.threshold(smoothed, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    rectangle = cv2.minAreaRect(max(contours, key=cv2.contourArea))
    long_side, short_side = max(rectangle[1]), min(rectangle[1])
    if short_side <= 0 or long_side * short_side < MIN_CARD_AREA_SHARE * grey.size:
        return None
    if abs(long_side / short_side / CARD_ASPECT - 1.0) > CARD_ASPECT_TOLERANCE:
        return None
    points = np.asarray(cv2.boxPoints(rectangle), dtype=np.float32)
    centre = points.mean(axis=0)
    points = points[np.argsort(np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0]))]
    if np.linalg.norm(points[1] - points[0]) < np.linalg.norm(points[2] - points[1]):
        points = np.roll(points, -1, axis=0)
    return points


def _cut_around(rgb: ImageArray, box: FaceBox) -> ImageArray:
    """The region around ``box`` framed as a chip portrait is (face centred, slightly high), with margin; the
    part outside the image is filled with grey. :func:`cut_face_box` is where the face then sits."""
    width = PORTRAIT_CROP_WIDTH_PER_FACE * box.height
    height = width * CHIP_HEIGHT_PX / CHIP_WIDTH_PX
    centre_x = (box.x0 + box.x1) / 2.0
    centre_y = (box.y0 + box.y1) / 2.0 + FACE_CENTRE_BELOW_SHARE * height
    left, top = round(centre_x - width / 2.0), round(centre_y - height / 2.0)
    right, bottom = left + round(width), top + round(height)
    out = np.full((bottom - top, right - left, 3), 127, dtype=np.uint8)
    image_height, image_width = rgb.shape[:2]
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, image_width), min(bottom, image_height)
    out[y0 - top : y1 - top, x0 - left : x1 - left] = rgb[y0:y1, x0:x1]
    return out


def cut_face_box(width: int, height: int) -> tuple[float, float, float, float]:
    """Where :func:`_cut_around` put the face box it cut around, in a cut-out ``width`` × ``height`` (only its height
    and centre: what :func:`box_transform` reads)."""
    return framed_face_box(width, height, 1.0 / PORTRAIT_CROP_WIDTH_PER_FACE)


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


def scores_by_start(
    printed_rgb: ImageArray, printed: FoundFace | None, chip_rgb: ImageArray, chip: FoundFace | None
) -> dict[str, float]:
    """The band-pass correlation of the printed portrait with the chip from each start (:func:`registration_starts`).

    Every start is run, even one whose transform is close to another's: on 240 simulated checks (60 card fronts of
    faces_east_asian, genuine and swapped, two chip budgets) two starts came within 1 chip pixel of each other
    twice, and their scores still differed by 0.007-0.008 (benchmarks/card_front_starts.py; benchmarks/README.md,
    "Card front")."""
    return {
        name: band_pass_correlation(chip_rgb, to_chip_domain(printed_rgb, to_chip))
        for name, to_chip in registration_starts(printed_rgb, printed, chip).items()
    }


def registration_starts(
    printed_rgb: ImageArray, printed: FoundFace | None, chip: FoundFace | None
) -> dict[str, npt.NDArray[np.float64]]:
    """The 2×3 maps from printed to chip pixels the registration starts from: ``landmarks`` when both faces were
    found, ``face_boxes`` when the chip's was, ``standard_framing`` always. Without the printed face (not found again
    on the cut-out) its box is where :meth:`OnnxPrintedPortraitReader.locate` framed it."""
    printed_box = printed.box if printed is not None else cut_face_box(printed_rgb.shape[1], printed_rgb.shape[0])
    starts = {STANDARD_FRAMING: box_transform(printed_box, standard_face_box())}
    if chip is not None:
        starts["face_boxes"] = box_transform(printed_box, chip.box)
        if printed is not None:
            starts["landmarks"] = similarity_transform(printed.points, chip.points)
    return starts


def box_transform(
    source: tuple[float, float, float, float], target: tuple[float, float, float, float]
) -> npt.NDArray[np.float64]:
    """The 2×3 uniform scale + translation that maps box ``source`` onto box ``target`` (x0, y0, x1, y1): heights
    matched, centres on each other."""
    scale = (target[3] - target[1]) / (source[3] - source[1])
    source_centre = ((source[0] + source[2]) / 2.0, (source[1] + source[3]) / 2.0)
    target_centre = ((target[0] + target[2]) / 2.0, (target[1] + target[3]) / 2.0)
    return np.array(
        [
            [scale, 0.0, target_centre[0] - scale * source_centre[0]],
            [0.0, scale, target_centre[1] - scale * source_centre[1]],
        ]
    )


def band_pass_correlation(chip_rgb: ImageArray, in_chip_domain_rgb: ImageArray) -> float:
    """ECC-register the printed portrait (already in the chip's frame and domain) to the chip, band-pass both
    (``BAND_PASS_SIGMAS_PX``) and correlate their inner areas."""
    chip_inner, printed_inner = registered_inner_areas(_grey(chip_rgb), _grey(in_chip_domain_rgb))
    return normalised_cross_correlation(band_pass(chip_inner), band_pass(printed_inner))


def band_pass(grey: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A difference of Gaussians at ``BAND_PASS_SIGMAS_PX``."""
    fine, coarse = BAND_PASS_SIGMAS_PX
    return np.asarray(cv2.GaussianBlur(grey, (0, 0), fine) - cv2.GaussianBlur(grey, (0, 0), coarse), dtype=np.float32)


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


def normalised_cross_correlation(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Pearson correlation of two equally shaped images (0 when either is flat)."""
    x = a.astype(np.float64).ravel() - float(a.mean())
    y = b.astype(np.float64).ravel() - float(b.mean())
    norm = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / norm) if norm > 0 else 0.0


def _grey(rgb: ImageArray) -> npt.NDArray[np.float32]:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
