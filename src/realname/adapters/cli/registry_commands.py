"""Operator commands of the registry core: init, serve, outlets, staff, the number pool, the audit check."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from realname.adapters.cli.errors import reports_errors
from realname.adapters.cli.input_files import GIB, require_regular_file
from realname.adapters.cli.terminal import printable
from realname.app.actors import OPERATOR_CLI
from realname.app.registry import MAX_IMPORT, Registry
from realname.app.staff_accounts import StaffAccounts
from realname.domain.errors import InvalidInput
from realname.domain.numbers import Msisdn, NumberState
from realname.domain.organisation import DEFAULT_TIME_ZONE, STAFF_ROLES, Role

if TYPE_CHECKING:  # the CLI does not load the HTTP server's modules unless it serves
    from realname.adapters.http.client_certs import ServerTls


@dataclass(frozen=True, slots=True)
class InitReport:
    data_dir: Path
    database: str
    key_file: Path
    key_file_created: bool


class RegistryCliWiring(Protocol):
    """What these commands need from the composition root."""

    def initialise(self) -> InitReport: ...

    def registry(self) -> Registry: ...

    def staff_accounts(self) -> StaffAccounts: ...

    def server_tls(
        self, cert_file: Path | None = None, key_file: Path | None = None, client_ca_file: Path | None = None
    ) -> ServerTls | None: ...

    def serve(self, host: str | None, port: int | None, workers: int | None, tls: ServerTls | None = None) -> None: ...


def wiring() -> RegistryCliWiring:
    obj = click.get_current_context().obj
    if obj is None:
        raise click.UsageError("the realname CLI was started without its composition root")
    wired: RegistryCliWiring = obj
    return wired


@click.command("init")
@reports_errors
def init_command() -> None:
    """Create the data folder, the key file (0600) and the database schema. Safe to run again."""
    report = wiring().initialise()
    click.echo(f"data folder  {report.data_dir}")
    click.echo(f"database     {report.database}")
    click.echo(f"key file     {report.key_file} ({'created' if report.key_file_created else 'kept'})")


@click.command("serve")
@click.option("--host", default=None, help="Interface to bind (default REALNAME_HOST, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default REALNAME_PORT, 8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker processes (default 1).")
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Serve HTTPS with this certificate (PEM; default REALNAME_TLS__CERT_FILE).",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Its private key (PEM; default REALNAME_TLS__KEY_FILE).",
)
@click.option(
    "--tls-client-ca",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CA certificates (PEM) of relying parties' client certificates: ask every client for one, serve "
    "those without (default REALNAME_TLS__CLIENT_CA_FILE).",
)
@reports_errors
def serve_command(
    host: str | None,
    port: int | None,
    workers: int | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
) -> None:
    """Serve the kiosk page, the API and its docs (over HTTPS with a certificate and key)."""
    wired = wiring()
    wired.serve(host, port, workers, wired.server_tls(tls_cert, tls_key, tls_client_ca))


@click.group("outlet")
def outlet_group() -> None:
    """Stores (outlets)."""


@outlet_group.command("add")
@click.argument("code")
@click.argument("name")
@click.option(
    "--time-zone",
    default=DEFAULT_TIME_ZONE,
    show_default=True,
    help="The store's IANA time zone; pages and receipts show times on its clock.",
)
@reports_errors
def outlet_add(code: str, name: str, time_zone: str) -> None:
    """Add outlet CODE with display NAME."""
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {time_zone!r}", code="outlet.time_zone_invalid") from exc
    outlet = wiring().registry().add_outlet(OPERATOR_CLI, code, name, time_zone)
    click.echo(f"outlet {outlet.code} added ({outlet.time_zone})")


@outlet_group.command("list")
@reports_errors
def outlet_list() -> None:
    """List outlets."""
    for outlet in wiring().registry().list_outlets(OPERATOR_CLI):
        click.echo(f"{outlet.code}\t{printable(outlet.name)}\t{outlet.time_zone}")


@click.group("staff")
def staff_group() -> None:
    """Staff members and their credentials."""


@staff_group.command("add")
@click.argument("name")
@click.option("--role", "role_text", required=True, type=click.Choice([r.value for r in STAFF_ROLES]))
@click.option("--outlet", "outlet_code", required=True, help="Code of the outlet the person works at.")
@click.option(
    "--code", "code", default=None, help="The staff code to sign in with (3–12 letters and digits); new if absent."
)
@reports_errors
def staff_add(name: str, role_text: str, outlet_code: str, code: str | None) -> None:
    """Add a staff member and print their staff code and password (shown once; only its hash is stored)."""
    created = wiring().registry().add_staff(OPERATOR_CLI, name, Role.parse(role_text), outlet_code, code)
    click.echo(f"staff code  {created.staff_code}")
    click.echo(f"password    {created.password}")
    click.echo(f"staff id    {created.staff_id}")
    click.echo("Hand the staff code and password to the person now: the password is shown only once.", err=True)


@staff_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@reports_errors
def staff_list(as_json: bool) -> None:
    """Staff code, role, outlet, state and when the password was set (names are personal data: not shown)."""
    for member in wiring().staff_accounts().list_staff(OPERATOR_CLI):
        changed = member.credential_changed_at.isoformat(timespec="seconds") if member.credential_changed_at else ""
        state = "active" if member.active else "disabled"
        if as_json:
            row = {
                "code": member.code,
                "role": member.role.value,
                "outlet": str(member.outlet_code),
                "state": state,
                "staff_id": member.id,
                "password_set_at": changed or None,
            }
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(
                f"{printable(member.code or '-'):<12} {member.role.value:<10} {printable(str(member.outlet_code)):<12} "
                f"{state:<9} {changed}"
            )


@staff_group.command("disable")
@click.argument("code")
@reports_errors
def staff_disable(code: str) -> None:
    """Disable a member: sign-ins and token renewals are refused from now on, a running server's requests with the
    member's tokens within REALNAME_STAFF_CHECK_CACHE_SECONDS (audited)."""
    member = wiring().staff_accounts().disable(OPERATOR_CLI, code)
    click.echo(f"staff member {member.code} disabled")


@staff_group.command("reset-credential")
@click.argument("code")
@reports_errors
def staff_reset_credential(code: str) -> None:
    """Give a member a new password, shown once; the old one stops working at once (audited)."""
    reset = wiring().staff_accounts().reset_credential(OPERATOR_CLI, code)
    click.echo(f"staff code  {reset.staff_code}")
    click.echo(f"password    {reset.password}")
    click.echo("Hand the new password to the person now: it is shown only once.", err=True)


@click.group("numbers")
def numbers_group() -> None:
    """The number pool."""


def _range(prefix: str, first: str, last: str) -> Iterator[Msisdn]:
    """The numbers of a range, one at a time; refused at once when it is malformed or larger than one import."""
    if not (prefix.isdigit() and first.isdigit() and last.isdigit()) or len(first) != len(last):
        raise InvalidInput(
            "--prefix, --from and --to are digits; --from and --to of equal length", code="numbers.range"
        )
    if int(first) > int(last):
        raise InvalidInput("--from is after --to", code="numbers.range")
    count = int(last) - int(first) + 1
    if count > MAX_IMPORT:
        raise InvalidInput(
            f"the range holds {count:,} numbers; one import takes at most {MAX_IMPORT:,} (import it in parts)",
            code="numbers.too_many",
        )
    width = len(first)
    Msisdn(f"{prefix}{first}")  # refuses a range of numbers too long or short before anything is written
    return (Msisdn(f"{prefix}{i:0{width}d}") for i in range(int(first), int(last) + 1))


def _from_csv(lines: Iterable[str]) -> Iterator[Msisdn]:
    """The numbers in the first column, read line by line (a header line is skipped)."""
    for line_no, row in enumerate(csv.reader(lines), start=1):
        if not row or not row[0].strip():
            continue
        cell = row[0].strip()
        if line_no == 1 and not cell.lstrip("+").isdigit():
            continue  # header
        try:
            yield Msisdn.parse(cell)
        except InvalidInput as exc:
            raise InvalidInput(f"line {line_no}: {exc.message}", code=exc.code) from exc


MAX_NUMBERS_FILE_BYTES = 1 * GIB


@numbers_group.command("import")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--prefix", help="Digits before the range, e.g. 1380013.")
@click.option("--from", "first", help="First suffix of the range, e.g. 0000.")
@click.option("--to", "last", help="Last suffix of the range, e.g. 9999.")
@reports_errors
def numbers_import(file: Path | None, prefix: str | None, first: str | None, last: str | None) -> None:
    """Add numbers as AVAILABLE, from a range (--prefix --from --to) or a CSV FILE (first column)."""
    if file is not None and (prefix or first or last):
        raise InvalidInput("give either FILE or --prefix/--from/--to, not both", code="numbers.source")
    if file is not None:
        # Streamed in batches, so only devices and pipes (which never end) are refused, not large files.
        require_regular_file(file, max_bytes=MAX_NUMBERS_FILE_BYTES, what="numbers file")
        try:
            with file.open(encoding="utf-8-sig", newline="") as handle:
                offered, added = (
                    wiring().registry().import_numbers(OPERATOR_CLI, _from_csv(handle), source=f"file:{file.name}")
                )
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise InvalidInput(f"cannot read {file}: {exc}", code="numbers.file") from exc
    elif prefix and first and last:
        numbers = _range(prefix, first, last)
        offered, added = (
            wiring().registry().import_numbers(OPERATOR_CLI, numbers, source=f"range:{prefix}[{first}-{last}]")
        )
    else:
        raise InvalidInput("give a CSV FILE or all of --prefix, --from and --to", code="numbers.source")
    click.echo(f"imported {added} new numbers ({offered - added} already in the pool)")


@numbers_group.command("list")
@click.option("--state", type=click.Choice([s.value for s in NumberState]), default=None)
@click.option("--prefix", default="", help="Only numbers starting with these digits.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100)
@click.option("--after", default="", help="Continue after this number (paging).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@reports_errors
def numbers_list(state: str | None, prefix: str, limit: int, after: str, as_json: bool) -> None:
    """List numbers in the pool, in order."""
    numbers = (
        wiring()
        .registry()
        .list_numbers(
            OPERATOR_CLI, state=NumberState(state) if state else None, prefix=prefix, limit=limit, after=after
        )
    )
    for number in numbers:
        if as_json:
            click.echo(json.dumps({"msisdn": str(number.msisdn), "state": number.state.value}))
        else:
            click.echo(f"{number.msisdn}\t{number.state.value}")


@numbers_group.command("recycle")
@reports_errors
def numbers_recycle() -> None:
    """Return numbers whose cooling-off period has ended to the pool."""
    count = wiring().registry().recycle_cooled_numbers(OPERATOR_CLI)
    click.echo(f"recycled {count} numbers")


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""
