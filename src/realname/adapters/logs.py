"""Structured JSON logs with request ids, and a redaction filter that keeps personal data out of them.

Logs are operational: they never carry images, embeddings, ID numbers or names. The filter is the
last line of defence: it masks anything that looks like an ID number, an MRZ line, a long digit run,
base64 or image bytes, in the message and in every extra field.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, ClassVar

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+"), "[image]"),
    (re.compile(r"(?:/9j/|iVBORw0KGgo|UklGR)[A-Za-z0-9+/=]{8,}"), "[image]"),
    (re.compile(r"\\xff\\xd8\\xff|\\x89PNG"), "[image]"),
    (re.compile(r"[A-Za-z0-9+/]{60,}={0,2}"), "[base64]"),
    (re.compile(r"[A-Z0-9<]{30,44}"), "[mrz]"),
    (re.compile(r"\b\d{17}[\dXx]\b"), "[id-number]"),
    (re.compile(r"\b[A-Z]{3}\d{12}\b"), "[id-number]"),
    (re.compile(r"\b[HM]\d{8,10}\b"), "[id-number]"),
    (re.compile(r"\b\d{11,17}\b"), "[digits]"),
)

_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message", "asctime"}


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"[{len(value)} bytes]"
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(repr(value))


class RedactionFilter(logging.Filter):
    """Masks personal data in every record before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, _redact_value(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    RESERVED: ClassVar[frozenset[str]] = _STANDARD_ATTRS

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self.RESERVED and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) or value is None else repr(value)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """JSON lines on stderr (or ``stream``) for the ``realname`` and ``uvicorn`` loggers, redacted."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactionFilter())
    for name in ("realname", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
