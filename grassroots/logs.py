"""Structured logs: one JSON object per line on standard error."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_ENCODE = json.JSONEncoder(ensure_ascii=False, default=str).encode


class JsonFormatter(logging.Formatter):
    """Time, level, logger, message and any `extra` fields, as JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = vars(record)
        # The `extra` fields, in the order given: a set difference first (most records have
        # none), then only the few left are looked at.
        extra = fields.keys() - _STANDARD
        if extra:
            for key, value in fields.items():
                if key in extra and not key.startswith("_"):
                    entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _ENCODE(entry)


def configure(level: str = "INFO") -> None:
    """Route every logger through the JSON formatter."""
    # A record need not find its caller's frame, thread or process: the JSON line carries none
    # of them, and finding them was a third of an access log line's cost (the logging HOWTO's
    # "Optimization" switches).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # google.auth attaches request bodies (device tokens, signed JWTs) to its DEBUG records.
    for noisy in ("uvicorn.access", "tortoise", "aiosqlite", "asyncio", "google.auth", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
