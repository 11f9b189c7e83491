"""Log set-up: readable lines by default, JSON lines with ``LOG_FORMAT=json``."""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

from kubeless_runtime.settings import LogFormat

logger = logging.getLogger("kubeless_runtime")

# Attributes every LogRecord has; anything else was passed through ``extra=``,
# except uvicorn's copy of its message with terminal colours in it.
_SKIPPED_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "color_message"}


class JSONFormatter(logging.Formatter):
    """One JSON object per line, with the ``extra=`` fields as keys of their own."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _SKIPPED_ATTRIBUTES:
                entry[key] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(*, log_format: LogFormat, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
