"""Log records as one JSON object per line (or as text, for development).

A record's ``extra`` fields become keys of its JSON object, so ``log.info(..., extra=
{"client": name})`` is searchable as ``client``. Inside a request every record carries
the request id.

Every line is bounded, whatever a client sent: a field longer than ``FIELD_LIMIT``
characters (``TRACEBACK_LIMIT`` for a traceback) is cut and marked ``…[truncated N
chars]``; a text line is cut as a whole, at the same limits.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import has_request_context

from scimserver.api.context import request_id

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FIELD_LIMIT = 4096
TRACEBACK_LIMIT = 32768
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, the record's extras, then any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": clip(record.getMessage(), FIELD_LIMIT),
        }
        fields = vars(record)
        if "request_id" not in fields and has_request_context():
            entry["request_id"] = request_id()
        entry.update((k, _bounded(v)) for k, v in fields.items() if k not in _STANDARD)
        if record.exc_info:
            entry["traceback"] = clip(self.formatException(record.exc_info), TRACEBACK_LIMIT)
        return _dumps(entry)


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT``, a line cut at ``FIELD_LIMIT`` (at ``TRACEBACK_LIMIT`` with one)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        limit = TRACEBACK_LIMIT if record.exc_info else FIELD_LIMIT
        return clip(super().format(record), limit)


def clip(text: str, limit: int) -> str:
    """``text``, or its first ``limit`` characters and how many more were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[truncated {len(text) - limit} chars]"


_SCALARS = frozenset({int, float, bool, type(None)})


def _bounded(value: Any) -> Any:
    """An extra field's value as logged: a string clipped; anything else as is when its
    JSON fits ``FIELD_LIMIT``, else that JSON clipped. (Types tested by identity first:
    a request's line has ten fields, and this runs for each.)"""
    kind = type(value)
    if kind is str:
        return value if len(value) <= FIELD_LIMIT else clip(value, FIELD_LIMIT)
    if kind in _SCALARS or (kind in (list, tuple, dict) and not value):
        return value
    text = _dumps(value)
    return value if len(text) <= FIELD_LIMIT else clip(text, FIELD_LIMIT)


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # an integer beyond 64 bits: the json module takes it
        return json.dumps(value, default=str)


def configure_logging(level: str, fmt: str) -> None:
    """Log to stderr at ``level`` in ``fmt`` (json or text), unless logging is set up."""
    if fmt not in {"json", "text"}:
        raise ValueError("SCIMSERVER_LOG_FORMAT must be json or text")
    root = logging.getLogger()
    if root.handlers:  # configured already: by the embedding program, or by pytest
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Neither format shows the caller's file and line or the thread: the logging HOWTO's
    # "Optimization" switches spare every record (one a request) finding them. The process
    # id stays: gunicorn's own handlers print it with %(process)d, which None breaks.
    logging._srcfile = None
    logging.logThreads = logging.logMultiprocessing = False
