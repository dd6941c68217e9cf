"""The privacy self-check behind ``realname privacy scan``: looks through every byte of the data
folder (the SQLite file, its ``-wal``/``-shm``, logs, anything else) for what must never be stored:

- ``image.jpeg|png|gif|webp``: image file signatures (JPEG only with a JFIF/Exif/DQT header, so random
  ciphertext does not trip it);
- ``image.base64``: base64 or data-URI encoded images;
- ``video.mp4|webm``: MP4/MOV (an ``ftyp`` box) and WebM/Matroska (an EBML header naming its doc type)
  signatures, the containers liveness clips come in; ``video.base64``: the same base64 or data-URI
  encoded;
- ``embedding.float32|float64``: 128 or 512 consecutive floats that look like a face embedding
  (all finite, small, nearly all non-zero, with a plausible vector norm) at any byte alignment;
- ``needle``: the plaintext of known test identities (ID numbers, names) in UTF-8 or UTF-16.

Files are read in overlapping chunks, so a finding across a chunk boundary is still seen. Findings
never echo a needle in full.

A file whose SHA-256 is one the caller vouches for (the model files ``models.lock`` pins) is skipped and listed
as such: its bytes are exactly a published model's, so it holds nobody's data, while its millions of weights
look like embeddings. A model file altered by one byte no longer matches and is scanned like any other.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CHUNK_BYTES = 8 * 1024 * 1024
EMBEDDING_SIZES = (128, 512)
_MAX_ABS = 4.0
_MIN_ABS = 1e-4
_MIN_NON_SMALL_FRACTION = 0.9
_NORM_RANGE = (0.2, 50.0)

_SIGNATURES: tuple[tuple[re.Pattern[bytes], str], ...] = (
    (re.compile(rb"\xff\xd8\xff\xe0..JFIF\x00", re.DOTALL), "image.jpeg"),
    (re.compile(rb"\xff\xd8\xff\xe1..Exif\x00", re.DOTALL), "image.jpeg"),
    (re.compile(rb"\xff\xd8\xff\xdb\x00[\x43\x84\xc5]"), "image.jpeg"),
    (re.compile(rb"\x89PNG\r\n\x1a\n"), "image.png"),
    (re.compile(rb"GIF8[79]a"), "image.gif"),
    (re.compile(rb"RIFF....WEBPVP8", re.DOTALL), "image.webp"),
    (re.compile(rb"data:image/[A-Za-z+.-]{1,16};base64,"), "image.base64"),
    (re.compile(rb"/9j/[A-Za-z0-9+/]{40}"), "image.base64"),
    (re.compile(rb"iVBORw0KGgo[A-Za-z0-9+/]{20}"), "image.base64"),
    (re.compile(rb"R0lGOD[lh]h[A-Za-z0-9+/]{20}"), "image.base64"),
    (re.compile(rb"UklGR[A-Za-z0-9+/]{6}XRUJQ"), "image.base64"),
    (re.compile(rb"\x00\x00\x00[\x08-\x7f]ftyp[A-Za-z0-9 ]{4}"), "video.mp4"),
    (re.compile(rb"\x1a\x45\xdf\xa3.{1,64}?\x42\x82[\x81-\x88](?:webm|matroska)", re.DOTALL), "video.webm"),
    (re.compile(rb"data:video/[A-Za-z0-9+.-]{1,16};base64,"), "video.base64"),
    # "\0\0\0<size>ftyp" and the EBML magic 1A 45 DF A3, as they start a base64 text.
    (re.compile(rb"AAAA[A-Za-z0-9+/]{2}Z0eXB[A-Za-z0-9+/]{10}"), "video.base64"),
    (re.compile(rb"GkXfo[A-Za-z0-9+/]{20}"), "video.base64"),
)
_LONGEST_SIGNATURE = 96


@dataclass(frozen=True, slots=True)
class Finding:
    path: Path
    offset: int
    kind: str
    detail: str = ""

    def line(self) -> str:
        suffix = f"\t{self.detail}" if self.detail else ""
        return f"{self.path}\t{self.offset}\t{self.kind}{suffix}"


def mask_needle(needle: str) -> str:
    """A hint at which needle matched without repeating it."""
    return f"{needle[:2]}…({len(needle)} chars)"


@dataclass(frozen=True, slots=True)
class _Needle:
    pattern: bytes
    label: str


def _needle_forms(needles: Iterable[str]) -> tuple[_Needle, ...]:
    forms: list[_Needle] = []
    for needle in needles:
        text = needle.strip()
        if len(text) < 2:
            continue
        variants = {text, text.upper(), text.lower()}
        for variant in sorted(variants):
            for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
                forms.append(_Needle(variant.encode(encoding), f"{encoding}:{mask_needle(text)}"))
    unique = {form.pattern: form for form in forms}
    return tuple(unique.values())


def files_under(root: Path) -> Iterator[Path]:
    """Every regular file under ``root`` (or ``root`` itself), without following symbolic links."""
    if root.is_file():
        yield root
        return
    for folder, _dirs, names in os.walk(root, followlinks=False):
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                yield path


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What a scan found, and which files it skipped because their hash is a vouched-for one."""

    findings: list[Finding]
    skipped: list[Path] = field(default_factory=list)


def scan(paths: Sequence[Path], needles: Iterable[str] = ()) -> list[Finding]:
    """Findings in every file under ``paths``, in path and offset order."""
    return scan_report(paths, needles).findings


def scan_report(
    paths: Sequence[Path], needles: Iterable[str] = (), verified_sha256: Collection[str] = frozenset()
) -> ScanReport:
    """Findings in every file under ``paths`` (in path and offset order), skipping each file whose SHA-256 is in
    ``verified_sha256``."""
    forms = _needle_forms(needles)
    report = ScanReport([])
    seen: set[Path] = set()
    for root in paths:
        for path in files_under(root):
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            if verified_sha256 and _sha256(path) in verified_sha256:
                report.skipped.append(path)
                continue
            report.findings.extend(_scan_file(path, forms))
    return report


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
    except OSError:
        return None  # scanned, and reported as unreadable there
    return digest.hexdigest()


def scan_file(path: Path, needles: Iterable[str] = ()) -> list[Finding]:
    return _scan_file(path, _needle_forms(needles))


def _scan_file(path: Path, needles: Sequence[_Needle]) -> list[Finding]:
    overlap = max([_LONGEST_SIGNATURE, max(EMBEDDING_SIZES) * 8, *(len(n.pattern) for n in needles)])
    found: dict[tuple[int, str], Finding] = {}
    try:
        handle = path.open("rb")
    except OSError as exc:
        return [Finding(path, 0, "unreadable", type(exc).__name__)]
    with handle:
        position = 0
        tail = b""
        while chunk := handle.read(CHUNK_BYTES):
            data = tail + chunk
            for finding in _scan_bytes(path, data, position - len(tail), needles):
                found.setdefault((finding.offset, finding.kind), finding)
            position += len(chunk)
            tail = data[-overlap:]
    return sorted(found.values(), key=lambda f: (f.offset, f.kind))


def _scan_bytes(path: Path, data: bytes, base: int, needles: Sequence[_Needle]) -> Iterator[Finding]:
    for pattern, kind in _SIGNATURES:
        for match in pattern.finditer(data):
            yield Finding(path, base + match.start(), kind)
    for needle in needles:
        at = data.find(needle.pattern)
        while at != -1:
            yield Finding(path, base + at, "needle", needle.label)
            at = data.find(needle.pattern, at + 1)
    for offset, kind, size in _embedding_runs(data):
        yield Finding(path, base + offset, kind, f"{size} values")


def _embedding_runs(data: bytes) -> Iterator[tuple[int, str, int]]:
    """(byte offset, kind, length) of the start of each run of embedding-like floats."""
    for dtype, width, kind in ((np.dtype("<f4"), 4, "embedding.float32"), (np.dtype("<f8"), 8, "embedding.float64")):
        for alignment in range(width):
            usable = (len(data) - alignment) // width
            if usable < min(EMBEDDING_SIZES):
                continue
            raw = np.frombuffer(data, dtype=dtype, count=usable, offset=alignment)
            if not _has_bounded_run(raw, min(EMBEDDING_SIZES)):
                continue  # the common case (ciphertext, text, page headers): skip the costly checks
            with np.errstate(all="ignore"):
                values = raw.astype(np.float64)
            yield from ((alignment + i * width, kind, size) for i, size in _plausible_windows(values))


def _has_bounded_run(raw: np.ndarray, size: int) -> bool:
    """Whether ``size`` consecutive values are all finite and below ``_MAX_ABS`` in magnitude."""
    with np.errstate(all="ignore"):
        bounded = np.abs(raw) < _MAX_ABS  # NaN and inf compare False
    counts = np.concatenate(([0], np.cumsum(bounded, dtype=np.int32)))
    return bool(((counts[size:] - counts[:-size]) == size).any())


def _plausible_windows(values: np.ndarray) -> Iterator[tuple[int, int]]:
    with np.errstate(invalid="ignore", over="ignore"):
        magnitude = np.abs(values)
        finite = np.isfinite(values)
        bounded = finite & (magnitude < _MAX_ABS)
        non_small = bounded & (magnitude > _MIN_ABS)
        squares = np.where(bounded, values * values, 0.0)
    bounded_sum = np.concatenate(([0], np.cumsum(bounded, dtype=np.int64)))
    non_small_sum = np.concatenate(([0], np.cumsum(non_small, dtype=np.int64)))
    square_sum = np.concatenate(([0.0], np.cumsum(squares)))
    covered = np.zeros(len(values), dtype=bool)
    for size in sorted(EMBEDDING_SIZES, reverse=True):
        if len(values) < size:
            continue
        all_bounded = (bounded_sum[size:] - bounded_sum[:-size]) == size
        if not all_bounded.any():
            continue
        enough = (non_small_sum[size:] - non_small_sum[:-size]) >= _MIN_NON_SMALL_FRACTION * size
        norms = np.sqrt(np.maximum(square_sum[size:] - square_sum[:-size], 0.0))
        plausible = all_bounded & enough & (norms >= _NORM_RANGE[0]) & (norms <= _NORM_RANGE[1])
        for start in np.flatnonzero(plausible):
            index = int(start)
            if covered[index] or covered[index + size - 1]:
                continue
            covered[index : index + size] = True
            yield index, size
