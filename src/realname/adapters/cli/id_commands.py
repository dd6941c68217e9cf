"""``realname id``: check identity documents from the command line, one at a time or as JSON Lines.

The output contract is fixed (scripts depend on it): ``{"valid", "kind", "reasons", "fields"}`` per
document; ``id check`` exits 0 for a valid document, 1 for an invalid one (checked, negative) and 2 for unusable
input; ``check-batch`` exits 0 once every line is answered, whatever the answers. Today's date comes
from the real clock here, at the boundary, unless ``--today`` (or a line's ``"today"``) says otherwise.
Nothing printed contains a document number in clear.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Protocol, runtime_checkable

import click

from realname.adapters.cli.errors import exit_negative, reports_errors
from realname.adapters.cli.input_files import KIB, bounded_lines
from realname.adapters.documents.regions import load_region_directory
from realname.domain.errors import InvalidInput
from realname.domain.identity import (
    AUTO,
    LONG_TERM,
    REASONS,
    DocumentCheck,
    DocumentKind,
    KindChoice,
    LongTerm,
    RegionDirectory,
    Sex,
    check_document,
    parse_kind_choice,
)
from realname.domain.policy import Policy

KIND_CHOICES: tuple[str, ...] = (AUTO, *(kind.value for kind in DocumentKind if kind is not DocumentKind.UNKNOWN))
_BATCH_CHUNK_LINES = 2000
MAX_BATCH_LINE_CHARS = 64 * KIB
_SEXES = {"M": Sex.MALE, "F": Sex.FEMALE, "male": Sex.MALE, "female": Sex.FEMALE}


@runtime_checkable
class ProvidesPolicy(Protocol):
    def policy(self) -> Policy: ...


@runtime_checkable
class ProvidesRegionDirectory(Protocol):
    def region_directory(self) -> RegionDirectory: ...


@dataclass(frozen=True, slots=True)
class DocumentCliDeps:
    regions: RegionDirectory
    min_age: int


def _deps() -> DocumentCliDeps:
    """From the composition root in ``ctx.obj`` when it offers them; the shipped defaults otherwise."""
    obj = click.get_current_context().find_root().obj
    policy = obj.policy() if isinstance(obj, ProvidesPolicy) else Policy()
    regions = obj.region_directory() if isinstance(obj, ProvidesRegionDirectory) else load_region_directory()
    return DocumentCliDeps(regions=regions, min_age=policy.min_age)


def _today() -> date:
    """The operator's local calendar date: the only clock read in document checking."""
    return date.today()


def parse_date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{what} must be a date as YYYY-MM-DD", code="input.invalid") from None


def parse_expiry(text: str | None) -> date | LongTerm | None:
    if text is None:
        return None
    if text in (LONG_TERM.value, "长期"):
        return LONG_TERM
    return parse_date(text, "expiry")


def _parse_kind(text: str | None) -> KindChoice:
    if text is None:
        return AUTO
    try:
        return parse_kind_choice(text)
    except ValueError:
        raise InvalidInput(f"kind must be one of {', '.join(KIND_CHOICES)}", code="input.invalid") from None


def _parse_sex(text: str | None) -> Sex | None:
    if text is None:
        return None
    sex = _SEXES.get(text)
    if sex is None:
        raise InvalidInput("sex must be M, F, male or female", code="input.invalid")
    return sex


@click.group("id")
def id_group() -> None:
    """Identity documents: resident IDs, permits, passports and ID cards by their MRZ."""


def _summary(check: DocumentCheck) -> str:
    lines = [f"{check.kind.value}: {'valid' if check.valid else 'INVALID'}"]
    lines.extend(f"  x {code}: {REASONS.get(code, code)}" for code in check.reasons)
    lines.extend(f"  {name}: {value}" for name, value in check.fields.items() if value is not None)
    return "\n".join(lines)


@id_group.command("check")
@click.option("--kind", type=click.Choice(KIND_CHOICES), default=AUTO, show_default=True)
@click.option("--expiry", default=None, metavar="YYYY-MM-DD|long_term", help="Printed expiry date.")
@click.option("--today", "today_text", default=None, metavar="YYYY-MM-DD", help="Check as of this date.")
@click.option("--json", "as_json", is_flag=True, help='Print {"valid", "kind", "reasons", "fields"}.')
@click.argument("values", nargs=-1, metavar="VALUE...")
@reports_errors
def check_command(
    kind: str, expiry: str | None, today_text: str | None, as_json: bool, values: tuple[str, ...]
) -> None:
    """Check one document. Give a number, or each line of a machine-readable zone as its own VALUE.

    Exits 0 when the document is valid, 1 when it is not (every failed rule is printed), 2 when the input
    cannot be used.
    """
    if not values:
        raise InvalidInput("give the document number, or the MRZ lines, as VALUE arguments")
    today = parse_date(today_text, "--today") if today_text is not None else _today()
    deps = _deps()
    check = check_document(
        "\n".join(values),
        kind=_parse_kind(kind),
        today=today,
        regions=deps.regions,
        min_age=deps.min_age,
        expiry=parse_expiry(expiry),
    )
    if as_json:
        click.echo(json.dumps(check.as_dict(), ensure_ascii=False))
    else:
        click.echo(_summary(check))
    if not check.valid:
        exit_negative()


def _invalid_line(line_number: int, message: str) -> dict[str, object]:
    return {
        "valid": False,
        "kind": DocumentKind.UNKNOWN.value,
        "reasons": ["input.invalid"],
        "fields": {},
        "error": message,
        "line": line_number,
    }


class BatchChecker:
    """Checks JSON Lines requests with the dependencies and date parsing done once, not per line."""

    def __init__(self, deps: DocumentCliDeps, today: date) -> None:
        self._deps = deps
        self._today = today
        self._dates: dict[str, date] = {}

    def _date(self, text: object, what: str) -> date | None:
        if text is None:
            return None
        if not isinstance(text, str):
            raise InvalidInput(f"{what} must be a string YYYY-MM-DD")
        found = self._dates.get(text)
        if found is None:
            found = parse_date(text, what)
            self._dates[text] = found
        return found

    def check_line(self, line: str, line_number: int) -> dict[str, object]:
        try:
            request = json.loads(line)
        except ValueError:
            return _invalid_line(line_number, "not a JSON object")
        if not isinstance(request, dict):
            return _invalid_line(line_number, "not a JSON object")
        value = request.get("value")
        if not isinstance(value, str):
            return _invalid_line(line_number, '"value" must be a string')
        try:
            kind = request.get("kind")
            expiry_text = request.get("expiry")
            sex_text = request.get("sex")
            if not (kind is None or isinstance(kind, str)) or not (sex_text is None or isinstance(sex_text, str)):
                raise InvalidInput('"kind" and "sex" must be strings')
            if expiry_text in (LONG_TERM.value, "长期"):
                expiry: date | LongTerm | None = LONG_TERM
            else:
                expiry = self._date(expiry_text, "expiry")
            check = check_document(
                value,
                kind=_parse_kind(kind),
                today=self._date(request.get("today"), "today") or self._today,
                regions=self._deps.regions,
                min_age=self._deps.min_age,
                expiry=expiry,
                issued=self._date(request.get("issued"), "issued"),
                printed_birth_date=self._date(request.get("birth_date"), "birth_date"),
                printed_sex=_parse_sex(sex_text),
            )
        except InvalidInput as exc:
            return _invalid_line(line_number, exc.message)
        return check.as_dict()

    def run(self, lines: Iterable[str]) -> Iterator[str]:
        """One JSON result line per input line, in order, in chunks ready to write."""
        chunk: list[str] = []
        dumps = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode
        for line_number, line in enumerate(lines, start=1):
            chunk.append(dumps(self.check_line(line, line_number)))
            if len(chunk) >= _BATCH_CHUNK_LINES:
                yield "\n".join(chunk) + "\n"
                chunk = []
        if chunk:
            yield "\n".join(chunk) + "\n"


@id_group.command("check-batch")
@reports_errors
def check_batch_command() -> None:
    """Check documents read as JSON Lines on stdin; write one result object per line, in order.

    Each line: {"value": ..., "kind": ..., "expiry": ..., "today": ..., "issued": ..., "birth_date": ...,
    "sex": ...}; only "value" is required (MRZ lines joined by "\\n"). A line that cannot be used yields
    {"valid": false, "kind": "unknown", "reasons": ["input.invalid"], "error": ..., "line": N}.
    """
    checker = BatchChecker(_deps(), _today())
    out = sys.stdout
    lines = bounded_lines(sys.stdin, max_line_chars=MAX_BATCH_LINE_CHARS, what="input")
    for chunk in checker.run(line.rstrip("\r\n") for line in lines):
        out.write(chunk)
    out.flush()
