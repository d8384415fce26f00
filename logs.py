"""Logging for every process: one line per event, JSON when GUICHET_LOG_FORMAT=json.

Structured fields go in `extra={"fields": {...}}`; the JSON formatter puts them
at the top level, the text formatter appends them as key=value.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from settings import LogFormat


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update(_fields(record))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


# Control characters as visible escapes: a path with %0A must not write a
# second, forged line (a traceback keeps its own line breaks).
_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]}


def one_line(value: object) -> str:
    text = str(value)
    # The check costs a tenth of the translation; most values pass it.
    return text if text.isprintable() else text.translate(_ESCAPES)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{key}={one_line(value)}" for key, value in _fields(record).items())
        if not extras:
            return line
        head, newline, traceback = line.partition("\n")
        return f"{head} {extras}{newline}{traceback}"


def _skip_what_no_line_prints() -> None:
    """No caller frame, thread, process or multiprocessing name on records:
    no line of ours prints them, and looking them up was a fifth of the cost
    of the one record every request writes (the logging HOWTO's
    "Optimization" settings)."""
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def configure_logging(*, level: str, log_format: LogFormat) -> None:
    _skip_what_no_line_prints()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == LogFormat.JSON else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Our request log replaces uvicorn's access log (which would log query strings).
    logging.getLogger("uvicorn.access").disabled = True
    # httpcore at DEBUG prints request and response headers (bearer tokens,
    # cookies), aiosqlite every statement's parameters (codes, emails).
    for noisy in ("httpx", "httpcore", "aiosqlite", "temporalio.activity", "temporalio.workflow"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
