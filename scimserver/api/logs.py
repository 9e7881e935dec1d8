"""Log records as one JSON object per line (or as text, for development).

A record's ``extra`` fields become keys of its JSON object, so ``log.info(..., extra=
{"client": name})`` is searchable as ``client``. Inside a request every record carries
the request id.
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
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, the record's extras, then any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = vars(record)
        if "request_id" not in fields and has_request_context():
            entry["request_id"] = request_id()
        entry.update((k, v) for k, v in fields.items() if k not in _STANDARD)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry, default=str).decode()
        except TypeError:  # an integer beyond 64 bits: the json module takes it
            return json.dumps(entry, default=str)


def configure_logging(level: str, fmt: str) -> None:
    """Log to stderr at ``level`` in ``fmt`` (json or text), unless logging is set up."""
    if fmt not in {"json", "text"}:
        raise ValueError("SCIMSERVER_LOG_FORMAT must be json or text")
    root = logging.getLogger()
    if root.handlers:  # configured already: by the embedding program, or by pytest
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Neither format shows the caller's file and line or the thread: the logging HOWTO's
    # "Optimization" switches spare every record (one a request) finding them. The process
    # id stays: gunicorn's own handlers print it with %(process)d, which None breaks.
    logging._srcfile = None
    logging.logThreads = logging.logMultiprocessing = False
