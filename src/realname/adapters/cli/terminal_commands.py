"""``realname terminal``: enroll store terminals (their card reader is trusted), list and revoke them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol

import click

from realname.adapters.cli.errors import reports_errors
from realname.adapters.cli.terminal import printable
from realname.app.actors import OPERATOR_CLI
from realname.app.terminals import Terminals
from realname.domain.errors import InvalidInput

MAX_KEY_FILE_BYTES = 4096


class TerminalCliWiring(Protocol):
    def terminals(self) -> Terminals: ...


def wiring() -> TerminalCliWiring:
    obj = click.get_current_context().obj
    if obj is None:
        raise click.UsageError("the realname CLI was started without its composition root")
    wired: TerminalCliWiring = obj
    return wired


def _read_key(source: str) -> bytes:
    """At most 4 kB from a file or stdin (``-``); a key file is a few dozen bytes."""
    try:
        if source == "-":
            data = sys.stdin.buffer.read(MAX_KEY_FILE_BYTES + 1)
        else:
            with Path(source).open("rb") as handle:
                data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read the public key: {exc.strerror}", code="terminal.key_unreadable") from exc
    if len(data) > MAX_KEY_FILE_BYTES:
        raise InvalidInput("a public key file is at most 4 kB", code="terminal.key_invalid")
    return data


@click.group("terminal")
def terminal_group() -> None:
    """Store terminals whose card reader is trusted (enrolled with their Ed25519 public key)."""


@terminal_group.command("add")
@click.option("--outlet", "outlet_code", required=True, help="Code of the outlet the terminal stands at.")
@click.option("--name", required=True, help="A name staff recognise (e.g. 'Counter 2').")
@click.option(
    "--public-key",
    "public_key",
    required=True,
    help="File with the terminal's Ed25519 public key (PEM, or base64 of the raw key or DER), or - for stdin.",
)
@reports_errors
def terminal_add(outlet_code: str, name: str, public_key: str) -> None:
    """Enroll a terminal to an outlet; prints the terminal id to configure on the kiosk."""
    terminal = wiring().terminals().enroll(OPERATOR_CLI, outlet_code, name, _read_key(public_key))
    click.echo(terminal.id)
    click.echo(f"terminal enrolled to {terminal.outlet_code}, key {terminal.key_fingerprint}", err=True)


@terminal_group.command("list")
@reports_errors
def terminal_list() -> None:
    """List terminals: id, outlet, state, key fingerprint, enrolled, name."""
    for t in wiring().terminals().list(OPERATOR_CLI):
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
        click.echo(
            f"{t.id}\t{t.outlet_code}\t{state}\t{t.key_fingerprint}\t{t.enrolled_at:%Y-%m-%d %H:%M}\t{printable(t.name)}"
        )


@terminal_group.command("revoke")
@click.argument("terminal_id")
@reports_errors
def terminal_revoke(terminal_id: str) -> None:
    """Revoke a terminal: its signatures are refused from now on."""
    terminal = wiring().terminals().revoke(OPERATOR_CLI, terminal_id)
    click.echo(f"terminal {terminal.id} revoked")
