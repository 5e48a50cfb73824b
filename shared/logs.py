"""Structured logs: one JSON object per line, for the gateway and the workers.

Every line has `time` (UTC, ISO 8601, milliseconds), `level`, `logger`, `message` and `pid`;
`job_id`, `tenant` and `batch_id` whenever the call passed them in `extra`, and any other `extra`
key as well (`attempt`, `status`, ...); `exc` holds a traceback. The level is OCRQ_LOG_LEVEL.

    log.info("claimed", extra={"job_id": job.id, "tenant": job.tenant, "batch_id": job.batch_id})
    {"time": "2025-01-01T12:00:00.123Z", "level": "INFO", "logger": "ocrq.runner", "message": "claimed",
     "pid": 4242, "job_id": "...", "tenant": "acme", "batch_id": null, "attempt": 1}

Wired in: the gateway (api/wsgi.py for the app's loggers, `GunicornLogger` for gunicorn's own
lines) and every Celery worker built by `workers.celery_app.make_celery` (its `setup_logging`
receiver replaces Celery's text logging).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import IO, Any

ID_FIELDS = ("job_id", "tenant", "batch_id")

# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD = set(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key in ID_FIELDS:
            if key in record.__dict__:
                doc[key] = record.__dict__[key]
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in doc and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        try:
            return json.dumps(doc, default=str, ensure_ascii=False)
        except (TypeError, ValueError):  # a circular or odd extra: never lose the line
            return json.dumps({k: str(v) for k, v in doc.items()}, ensure_ascii=False)


def parse_level(name: str | int | None, default: int = logging.INFO) -> int:
    if isinstance(name, int):
        return name
    level = logging.getLevelName((name or "").strip().upper())
    return level if isinstance(level, int) else default


def level_from_env(default: str = "INFO") -> int:
    return parse_level(os.environ.get("OCRQ_LOG_LEVEL") or default)


def configure(level: int | str | None = None, stream: IO[str] | None = None) -> logging.Handler:
    """Make the root logger write JSON lines to `stream` (stderr) at `level` (OCRQ_LOG_LEVEL).

    Replaces the root logger's handlers, so calling it twice is harmless.
    """
    level = level_from_env() if level is None else parse_level(level)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


try:  # gunicorn's own lines (master and workers): `--logger-class shared.logs.GunicornLogger`
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover - gunicorn is a dependency of the gateway only
    _GunicornLogger = None  # type: ignore[assignment,misc]

if _GunicornLogger is not None:

    class GunicornLogger(_GunicornLogger):  # type: ignore[misc,valid-type]
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            formatter = JsonFormatter()
            for logger in (self.error_log, self.access_log):
                for handler in logger.handlers:
                    handler.setFormatter(formatter)
