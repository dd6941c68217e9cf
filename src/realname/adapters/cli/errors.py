"""Exit codes by error class, and the one place that turns an error into a line on stderr.

Statuses: 0 done (and, for a check, the answer is yes); 1 the check ran and its answer is no (a document invalid,
faces that do not match, a clip rejected, an audit chain or bundle broken, privacy findings); 2 bad input or usage;
3 not found; 4 conflict; 5 forbidden; 6 a dependency (database, keys, models) unavailable; 7 any other refusal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import NoReturn, ParamSpec, TypeVar

import click

from realname.adapters.cli.terminal import printable
from realname.domain import errors

EXIT_CODES: tuple[tuple[type[errors.RealnameError], int], ...] = (
    (errors.InvalidInput, 2),
    (errors.NotFound, 3),
    (errors.Conflict, 4),
    (errors.Forbidden, 5),
    (errors.Unauthenticated, 5),
    (errors.DependencyUnavailable, 6),
    (errors.RealnameError, 7),
)
NEGATIVE_RESULT = 1
"""The exit status of a check that ran and answered no: never an error's status, so scripts can tell them apart."""
OTHER_REFUSAL = 7

P = ParamSpec("P")
R = TypeVar("R")


def exit_code_for(error: errors.RealnameError) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(error, cls):
            return code
    return OTHER_REFUSAL


def exit_negative() -> NoReturn:
    """End a check command whose answer is no (its result is already printed) with ``NEGATIVE_RESULT``."""
    sys.exit(NEGATIVE_RESULT)


def fail(message: str, code: int = 2) -> None:
    """Print one line on stderr and exit with ``code``."""
    click.echo(f"error: {printable(message)}", err=True)
    sys.exit(code)


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn project errors raised by a command into one stderr line and a typed exit code."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except errors.RealnameError as exc:
            click.echo(f"error: [{exc.code}] {printable(exc.message)}", err=True)
            sys.exit(exit_code_for(exc))

    return wrapper
