"""``realname`` console script: validates the settings once and hands the container to the commands."""

from __future__ import annotations

import sys

import click
from pydantic import ValidationError

from realname.adapters.cli.main import cli
from realname.adapters.logs import configure_logging
from realname.bootstrap import Container
from realname.config import Settings


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        click.echo(f"error: [config.invalid] {problems}", err=True)
        sys.exit(2)
    configure_logging(settings.log_level)
    cli(prog_name="realname", obj=Container(settings))


if __name__ == "__main__":  # pragma: no cover
    main()
