"""Witnesses of signed audit checkpoints outside the database: an append-only file and an HTTP endpoint.

Whoever can write the database can delete checkpoint rows and rewrite or cut the chain after the
newest remaining one; a copy of each checkpoint kept elsewhere lets ``realname audit verify`` notice.

- ``FileAuditWitness`` appends one JSON line per checkpoint (the export's ``checkpoint`` record) to
  ``audit-checkpoints.jsonl`` in a folder outside the data folder, opened with ``O_APPEND`` and
  fsynced; give the folder to other storage and make the file append-only (``chattr +a``) where you
  can. A line left half-written by a crash is skipped when reading (and logged), never fatal.
- ``HttpAuditWitness`` POSTs the same JSON object to an external witness (a transparency log, a
  regulator's endpoint, another host); any 2xx is acceptance.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import httpx

from realname.app.audit_admin import checkpoint_from_line, checkpoint_line
from realname.domain.audit_checkpoints import Checkpoint
from realname.domain.errors import DependencyUnavailable, InvalidInput

log = logging.getLogger("realname.audit")

WITNESS_FILE_NAME = "audit-checkpoints.jsonl"
_TAIL_BYTES = 64 * 1024


def _unavailable(message: str) -> DependencyUnavailable:
    return DependencyUnavailable(message, code="audit.witness_unavailable")


class FileAuditWitness:
    """``WitnessLog`` on an append-only JSON Lines file in ``directory`` (created 0700, file 0600)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._path = directory / WITNESS_FILE_NAME

    def __repr__(self) -> str:
        return f"FileAuditWitness({str(self._path)!r})"

    @property
    def path(self) -> Path:
        return self._path

    def publish(self, checkpoint: Checkpoint) -> None:
        line = (checkpoint_line(checkpoint) + "\n").encode("utf-8")
        try:
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self._path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise _unavailable(f"the audit witness file {self._path} cannot be opened") from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _unavailable(f"the audit witness {self._path} is not a regular file")
            if info.st_size and not self._ends_with_newline(fd, info.st_size):
                line = b"\n" + line  # end a line torn by a crash, so this one stays readable
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        except OSError as exc:
            raise _unavailable(f"the audit witness file {self._path} cannot be written") from exc
        finally:
            os.close(fd)

    def checkpoints(self) -> Sequence[Checkpoint]:
        raw = self._read(0)
        return self._parse(raw, complete_only=True)

    def latest(self) -> Checkpoint | None:
        try:
            size = self._path.stat().st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _unavailable(f"the audit witness file {self._path} cannot be read") from exc
        found = self._parse(self._read(max(0, size - _TAIL_BYTES)), complete_only=True, quiet=True)
        return max(found, key=lambda c: c.seq, default=None)

    # internals

    @staticmethod
    def _ends_with_newline(fd: int, size: int) -> bool:
        return os.pread(fd, 1, size - 1) == b"\n"

    def _read(self, offset: int) -> bytes:
        try:
            with self._path.open("rb") as handle:
                handle.seek(offset)
                return handle.read()
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise _unavailable(f"the audit witness file {self._path} cannot be read") from exc

    def _parse(self, raw: bytes, *, complete_only: bool, quiet: bool = False) -> list[Checkpoint]:
        lines = raw.split(b"\n")
        if complete_only:
            lines = lines[:-1]  # after the last newline: empty, or a line still (or never fully) written
        found: list[Checkpoint] = []
        skipped = 0
        for line in lines:
            if not line.strip():
                continue
            try:
                found.append(checkpoint_from_line(line.decode("utf-8")))
            except (InvalidInput, UnicodeDecodeError):
                skipped += 1
        if skipped and not quiet:
            log.warning("unreadable lines in the audit witness file skipped", extra={"lines": skipped})
        return found


class HttpAuditWitness:
    """``AuditWitness`` that POSTs each checkpoint as JSON to ``url``."""

    def __init__(self, url: str, *, transport: httpx.BaseTransport | None = None, timeout_seconds: float = 5.0) -> None:
        self._url = url
        self._client = httpx.Client(transport=transport, timeout=timeout_seconds)

    def __repr__(self) -> str:
        return f"HttpAuditWitness({httpx.URL(self._url).host!r})"

    def close(self) -> None:
        self._client.close()

    def publish(self, checkpoint: Checkpoint) -> None:
        body = json.loads(checkpoint_line(checkpoint))
        try:
            response = self._client.post(self._url, json=body)
        except httpx.HTTPError as exc:
            raise _unavailable("the external audit witness cannot be reached") from exc
        if not 200 <= response.status_code < 300:
            raise _unavailable(f"the external audit witness answered {response.status_code}")
