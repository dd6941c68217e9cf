"""Files named on the command line, checked before a byte is read: a regular file within a size cap.

``click.Path`` refuses a missing file or a directory, but not ``/dev/zero`` or ``/dev/urandom``, which never end:
reading one whole fills the memory, hashing or parsing one never returns. Every command that reads a file the
operator names goes through here, so such input is a one-line error with exit 2 instead of a traceback or a hang.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from realname.domain.errors import InvalidInput

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


def require_regular_file(path: Path, *, max_bytes: int, what: str) -> int:
    """The file's size, if ``path`` is a regular file of at most ``max_bytes``.

    Raises:
        InvalidInput: ``file.unreadable`` (missing, no permission), ``file.not_regular`` (a directory, a device,
            a pipe) or ``file.too_large``.
    """
    try:
        info = path.stat()
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} {path}: {exc.strerror}", code="file.unreadable") from exc
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"the {what} {path} is not a regular file", code="file.not_regular")
    if info.st_size > max_bytes:
        raise InvalidInput(
            f"the {what} {path} has {info.st_size} bytes; at most {max_bytes} are accepted", code="file.too_large"
        )
    return info.st_size


def read_input_file(path: Path, *, max_bytes: int, what: str) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (checked before reading, and while reading).

    Raises:
        InvalidInput: as :func:`require_regular_file`.
    """
    require_regular_file(path, max_bytes=max_bytes, what=what)
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} {path}: {exc.strerror}", code="file.unreadable") from exc
    if len(data) > max_bytes:  # it grew after the check
        raise InvalidInput(f"the {what} {path} is larger than {max_bytes} bytes", code="file.too_large")
    return data


def read_input_text(path: Path, *, max_bytes: int, what: str, encoding: str = "utf-8") -> str:
    """The text of a regular file of at most ``max_bytes``.

    Raises:
        InvalidInput: as :func:`require_regular_file`, or ``file.not_text`` when it is not ``encoding`` text.
    """
    data = read_input_file(path, max_bytes=max_bytes, what=what)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the {what} {path} is not {encoding} text", code="file.not_text") from exc


def bounded_lines(handle: TextIO, *, max_line_chars: int, what: str) -> Iterator[str]:
    """The lines of ``handle`` (newline kept), refusing one longer than ``max_line_chars`` before holding more of it.

    Works on streams without an end too (stdin from ``/dev/zero`` is one line that never ends).

    Raises:
        InvalidInput: ``file.line_too_long``.
    """
    number = 0
    while True:
        line = handle.readline(max_line_chars + 1)
        if not line:
            return
        number += 1
        if len(line) > max_line_chars:
            raise InvalidInput(
                f"line {number} of the {what} is longer than {max_line_chars} characters", code="file.line_too_long"
            )
        yield line
