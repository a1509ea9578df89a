"""Structured logs: one JSON object per line on stderr (or plain text).

Fields: ``ts`` (ISO 8601 UTC), ``level``, ``logger``, ``msg``, plus whatever the call
passes in ``extra`` (``request_id``, ``method``, ``path``, ``status``, ``ms``, ``job``,
``worker``...), and ``exc`` with the traceback when there is one. Tracebacks go to
the log only, never into a response.
"""

from __future__ import annotations

import json
import logging
import sys
import time

#: Attributes every LogRecord has; anything else came from ``extra``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in vars(record).items()
                         if k not in _STANDARD and not k.startswith("_"))
        line = super().format(record)
        return f"{line} {extra}" if extra else line


def setup_logging(fmt: str = "json", level: int = logging.INFO) -> None:
    """Send lift3d's and uvicorn's logs to stderr in ``fmt`` (``json`` or ``text``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # Our own middleware logs each request with its id and timing.
    logging.getLogger("uvicorn.access").disabled = True
