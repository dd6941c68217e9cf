"""Coverage-guided fuzzing (atheris/libFuzzer) of the parsers that take untrusted input.

    make fuzz                                   # every target, 20,000 runs each
    .venv/bin/python tests/fuzz/atheris_fuzz.py image -runs=100000
    .venv/bin/python tests/fuzz/atheris_fuzz.py document -max_total_time=300

Targets: ``image`` (the Pillow image decoder), ``clip`` (the PyAV clip decoder), ``document`` (the document
parser, every kind). Seeds are small valid files made in memory (the same as the hypothesis tests use). A
target fails — libFuzzer writes the input to ``crash-*`` and exits non-zero — when the code under test raises
anything but its typed error. Only the project's Python code is instrumented; Pillow, libav and OpenCV are
C libraries and are exercised but not coverage-guided. Not part of ``make test``: atheris is an extra
(``pip install -e '.[fuzz]'``), and a run is measured in minutes.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import atheris

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

with atheris.instrument_imports(include=["realname"]):
    from realname.adapters.vision.clips import PyAvClipDecoder
    from realname.adapters.vision.images import PillowImageDecoder
    from realname.adapters.vision.quality import pad_for_detection, upscale_small
    from realname.domain.face import ImageRejected
    from realname.domain.identity import REASONS, DocumentKind, check_document
    from realname.domain.liveness import ClipInvalid, ClipTooLarge, ClipTooLong

from tests.contract.test_decoder_fuzz import CLIP_SEEDS, IMAGE_SEEDS, ODD_CLIP_SEEDS  # noqa: E402
from tests.unit.identity.identity_samples import MIN_AGE, REGIONS, TODAY, resident_number, td3  # noqa: E402

MAX_PIXELS = 2_000_000
ID_PHOTO_MIN_HEIGHT_PX = 252  # as the engines enlarge a chip photo
IMAGES = PillowImageDecoder()
CLIPS = PyAvClipDecoder(max_bytes=20 * 1024 * 1024, max_seconds=10.0)
KINDS = ("auto", *(kind for kind in DocumentKind if kind is not DocumentKind.UNKNOWN))


def fuzz_image(data: bytes) -> None:
    try:
        decoded = IMAGES.decode(data, max_pixels=MAX_PIXELS)
    except ImageRejected:
        return
    # What the engines do to an ID photo before detection: an allocation blown up by an odd shape (a 2000×1
    # image enlarged to a face's height) ends the run at libFuzzer's memory limit.
    pad_for_detection(upscale_small(decoded.rgb, ID_PHOTO_MIN_HEIGHT_PX))


def fuzz_clip(data: bytes) -> None:
    with contextlib.suppress(ClipInvalid, ClipTooLarge, ClipTooLong):
        CLIPS.decode_video(data)


def fuzz_document(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    kind = KINDS[provider.ConsumeIntInRange(0, len(KINDS) - 1)]
    birth = date.fromordinal(provider.ConsumeIntInRange(1, date.max.toordinal()))
    value = provider.ConsumeUnicodeNoSurrogates(200)
    result = check_document(value, kind=kind, today=TODAY, regions=REGIONS, min_age=MIN_AGE, printed_birth_date=birth)
    if not set(result.reasons) <= set(REASONS) or result.valid == bool(result.reasons):
        raise AssertionError(f"result outside the reason table: {result.reasons}")


TARGETS: dict[str, tuple[Callable[[bytes], None], tuple[bytes, ...]]] = {
    "image": (fuzz_image, IMAGE_SEEDS),
    "clip": (fuzz_clip, CLIP_SEEDS + ODD_CLIP_SEEDS),
    "document": (fuzz_document, (b"\x00\x01" + resident_number().encode(), b"\x06\x02" + td3().encode())),
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options, e.g. -runs=20000]")
    target, seeds = TARGETS[sys.argv[1]]
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{sys.argv[1]}-") as corpus:
        for index, seed in enumerate(seeds):
            Path(corpus, f"seed-{index}").write_bytes(seed)
        atheris.Setup([sys.argv[0], *sys.argv[2:], corpus], target)
        atheris.Fuzz()


if __name__ == "__main__":
    main()
