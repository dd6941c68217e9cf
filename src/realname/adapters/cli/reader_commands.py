"""``realname reader simulate``: a reader-bridge simulator serving test cards (docs/reader-bridge.md)."""

from __future__ import annotations

from pathlib import Path

import click

from realname.adapters.reader_bridge.cards import BridgeCard, CardFileInvalid, builtin_cards, load_cards
from realname.adapters.reader_bridge.simulator import BridgeServer

DEFAULT_BRIDGE_PORT = 18455
DEFAULT_ORIGINS = ("http://127.0.0.1:8000", "http://localhost:8000")


@click.group("reader")
def reader_group() -> None:
    """The store PC's ID-card reader bridge."""


def _cards(source: str) -> list[BridgeCard]:
    try:
        return builtin_cards() if source == "builtin" else load_cards(Path(source))
    except CardFileInvalid as exc:
        raise click.UsageError(str(exc)) from exc


@reader_group.command("simulate")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_BRIDGE_PORT, show_default=True)
@click.option(
    "--cards",
    "source",
    default="builtin",
    show_default=True,
    help="A folder of card folders (card.json, portrait.jpg, optional front.jpg), or 'builtin'.",
)
@click.option(
    "--allow-origin",
    "origins",
    multiple=True,
    help="Origin of the kiosk page allowed to read cards (repeatable; default: the local realname serve).",
)
def simulate_command(port: int, source: str, origins: tuple[str, ...]) -> None:
    """Serve test cards as a reader bridge on 127.0.0.1:PORT until interrupted (Ctrl-C).

    The first card lies on the reader; choose another with
    ``curl -X POST -d '{"label": "expired"}' http://127.0.0.1:PORT/simulator/card`` (``null``: take it away).
    """
    cards = _cards(source)
    try:
        server = BridgeServer(port, cards, origins or DEFAULT_ORIGINS)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
    click.echo(f"reader bridge simulator on {server.url} with cards: {', '.join(c.label for c in cards)}")
    click.echo(f"answering pages from: {', '.join(sorted(server.allowed_origins))}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
