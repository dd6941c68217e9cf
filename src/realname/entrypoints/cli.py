"""``realname`` console script."""

from __future__ import annotations

from realname.adapters.cli.main import cli


def main() -> None:
    cli(prog_name="realname")


if __name__ == "__main__":  # pragma: no cover
    main()
