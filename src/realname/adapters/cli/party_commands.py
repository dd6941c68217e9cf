"""``realname party``: relying parties (banks, platforms) that may ask number–identity checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import click

from realname.adapters.cli.errors import reports_errors
from realname.adapters.cli.input_files import read_input_file
from realname.adapters.cli.terminal import printable
from realname.adapters.crypto.client_certs import MAX_PEM_BYTES, pem_fingerprint
from realname.app.actors import OPERATOR_CLI
from realname.app.relying_party_checks import NewPartyCredential, PartyAdmin
from realname.domain.relying_parties import CheckKind


class PartyCliWiring(Protocol):
    def party_admin(self) -> PartyAdmin: ...


def _admin() -> PartyAdmin:
    obj = click.get_current_context().obj
    if obj is None:
        raise click.UsageError("the realname CLI was started without its composition root")
    wired: PartyCliWiring = obj
    return wired.party_admin()


def _print_credential(credential: NewPartyCredential) -> None:
    click.echo(f"party id       {credential.party_id}")
    click.echo(f"client secret  {credential.secret}")
    click.echo(f"secret version {credential.secret_version}")
    click.echo("Hand the secret to the party over a secure channel now: it is shown only once.", err=True)


def _fingerprint_of(pem_file: Path) -> str:
    return pem_fingerprint(read_input_file(pem_file, max_bytes=MAX_PEM_BYTES, what="client certificate"))


_PEM_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group("party")
def party_group() -> None:
    """Relying parties and their client credentials."""


@party_group.command("add")
@click.argument("party_id")
@click.option("--name", required=True, help="Display name (shown to subscribers).")
@click.option("--purpose", required=True, help="What the party checks numbers for (shown to subscribers).")
@click.option(
    "--kinds",
    default=",".join(k.value for k in CheckKind),
    show_default=True,
    help="Comma-separated check kinds the party may ask.",
)
@click.option("--daily-quota", type=click.IntRange(1), default=10_000, show_default=True)
@click.option("--per-minute", "per_minute", type=click.IntRange(1), default=600, show_default=True)
@click.option("--contact", required=True, help="Who answers for the party (stored encrypted).")
@click.option("--sees-elements", is_flag=True, help="Tell the party which element of a check did not match.")
@click.option(
    "--client-cert",
    "client_cert",
    type=_PEM_FILE,
    default=None,
    help="PEM file of the party's client certificate: every check must then come over TLS with exactly it.",
)
@reports_errors
def party_add(
    party_id: str,
    name: str,
    purpose: str,
    kinds: str,
    daily_quota: int,
    per_minute: int,
    contact: str,
    sees_elements: bool,
    client_cert: Path | None,
) -> None:
    """Register PARTY_ID (3–48 of a-z, 0-9, '-') and print its client secret once."""
    try:
        chosen = frozenset(CheckKind(k.strip()) for k in kinds.split(",") if k.strip())
    except ValueError as exc:
        raise click.BadParameter(f"kinds are {', '.join(k.value for k in CheckKind)}", param_hint="--kinds") from exc
    fingerprint = _fingerprint_of(client_cert) if client_cert is not None else None
    _print_credential(
        _admin().add(
            OPERATOR_CLI,
            party_id=party_id,
            name=name,
            purpose=purpose,
            kinds=chosen,
            daily_quota=daily_quota,
            per_minute_limit=per_minute,
            contact=contact,
            sees_elements=sees_elements,
            client_cert_sha256=fingerprint,
        )
    )
    if fingerprint is not None:
        click.echo(f"client cert    sha256:{fingerprint}")


@party_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def party_list(as_json: bool) -> None:
    """Registered parties: id, status, kinds, quota, rate, pinned client certificate, name, purpose, contact."""
    for view in _admin().list(OPERATOR_CLI):
        p = view.party
        kinds = ",".join(sorted(k.value for k in p.allowed_kinds))
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "id": p.id,
                        "status": p.status.value,
                        "kinds": kinds.split(","),
                        "daily_quota": p.daily_quota,
                        "per_minute_limit": p.per_minute_limit,
                        "sees_elements": p.sees_elements,
                        "secret_version": p.secret_version,
                        "client_cert_sha256": p.client_cert_sha256,
                        "name": p.name,
                        "purpose": p.purpose,
                        "contact": view.contact,
                    },
                    ensure_ascii=False,
                )
            )
            continue
        click.echo(
            "\t".join(
                (
                    p.id,
                    p.status.value,
                    kinds,
                    f"{p.daily_quota}/day",
                    f"{p.per_minute_limit}/min",
                    f"cert:{p.client_cert_sha256[:16]}" if p.client_cert_sha256 else "cert:-",
                    printable(p.name),
                    printable(p.purpose),
                    printable(view.contact),
                )
            )
        )


@party_group.command("disable")
@click.argument("party_id")
@reports_errors
def party_disable(party_id: str) -> None:
    """Stop answering PARTY_ID's checks."""
    _admin().disable(OPERATOR_CLI, party_id)
    click.echo(f"party {party_id} disabled")


@party_group.command("enable")
@click.argument("party_id")
@reports_errors
def party_enable(party_id: str) -> None:
    """Answer PARTY_ID's checks again (after `disable`, or a suspension once its review case is decided)."""
    _admin().enable(OPERATOR_CLI, party_id)
    click.echo(f"party {party_id} enabled")


@party_group.command("rotate-secret")
@click.argument("party_id")
@reports_errors
def party_rotate_secret(party_id: str) -> None:
    """Issue a new client secret for PARTY_ID; the old one stops working at once."""
    _print_credential(_admin().rotate_secret(OPERATOR_CLI, party_id))


@party_group.command("pin-cert")
@click.argument("party_id")
@click.argument("pem_file", type=_PEM_FILE, required=False)
@click.option("--clear", is_flag=True, help="Require no client certificate any more (the signature alone).")
@reports_errors
def party_pin_cert(party_id: str, pem_file: Path | None, clear: bool) -> None:
    """Pin PARTY_ID's client certificate (PEM_FILE; replaces one pinned before), or --clear it.

    Applies to every check that starts after it, on every worker and host.
    """
    if clear == (pem_file is not None):
        raise click.UsageError("give either PEM_FILE or --clear")
    fingerprint = None if pem_file is None else _fingerprint_of(pem_file)
    _admin().pin_client_cert(OPERATOR_CLI, party_id, fingerprint)
    if fingerprint is None:
        click.echo(f"party {party_id}: no client certificate required")
    else:
        click.echo(f"party {party_id}: client certificate sha256:{fingerprint} pinned")


@party_group.command("forget-nonces")
@reports_errors
def party_forget_nonces() -> None:
    """Delete stored request nonces older than twice the replay window (they can no longer be replayed)."""
    click.echo(f"forgot {_admin().forget_nonces(OPERATOR_CLI)} nonces")
