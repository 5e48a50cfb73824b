"""Structured logs: one JSON object per line, for the gateway and the workers.

Every line has `time` (UTC, ISO 8601, milliseconds), `level`, `logger`, `message` and `pid`;
`job_id`, `tenant` and `batch_id` whenever the call passed them in `extra`, and any other `extra`
key as well (`attempt`, `status`, ...); `exc` holds a traceback. The level is OCRQ_LOG_LEVEL.

    log.info("claimed", extra={"job_id": job.id, "tenant": job.tenant, "batch_id": job.batch_id})
    {"time": "2025-01-01T12:00:00.123Z", "level": "INFO", "logger": "ocrq.runner", "message": "claimed",
     "pid": 4242, "job_id": "...", "tenant": "acme", "batch_id": null, "attempt": 1}

OCRQ_LOG_FORMAT=console (what `ocrq dev` sets) writes short lines for a terminal instead, one per
event, ids and extras as key=value, long values cut; Celery's per-task INFO lines ("received",
"succeeded in") are left out there, since the runner's own lines already say the same:

    12:00:01 runner    claimed  job=job_x tenant=dev attempt=1

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
_STANDARD = set(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


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


class ConsoleFormatter(logging.Formatter):
    """One short line an event: `HH:MM:SS [LEVEL] source  message  key=value ...` (local time)."""

    MAX_VALUE = 48

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        source = (
            record.name.removeprefix("ocrq.").rsplit(".", 1)[-1] if record.name.startswith("ocrq.") else record.name
        )
        level = "" if record.levelno == logging.INFO else f"{record.levelname} "
        parts = [f"{stamp} {level}{source:<9} {record.getMessage()}"]
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
        for key in ID_FIELDS:  # ids first, in a fixed order
            if extras.get(key) is not None:
                parts.append(f"{key.removesuffix('_id') if key == 'job_id' else key}={extras[key]}")
        for key, value in extras.items():
            if key in ID_FIELDS or value is None or value == "" or value == []:
                continue
            text = str(value)
            parts.append(f"{key}={text if len(text) <= self.MAX_VALUE else text[: self.MAX_VALUE - 1] + '…'}")
        line = "  ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


LOG_FORMATS = ("json", "console")


def format_from_env(default: str = "json") -> str:
    fmt = (os.environ.get("OCRQ_LOG_FORMAT") or default).strip().lower()
    return fmt if fmt in LOG_FORMATS else default


def make_formatter(fmt: str | None = None) -> logging.Formatter:
    """The formatter for OCRQ_LOG_FORMAT (json unless told otherwise)."""
    return ConsoleFormatter() if (fmt or format_from_env()) == "console" else JsonFormatter()


def parse_level(name: str | int | None, default: int = logging.INFO) -> int:
    if isinstance(name, int):
        return name
    level = logging.getLevelName((name or "").strip().upper())
    return level if isinstance(level, int) else default


def level_from_env(default: str = "INFO") -> int:
    return parse_level(os.environ.get("OCRQ_LOG_LEVEL") or default)


# Celery's per-task lines, which repeat what the runner logs; console format only.
_CONSOLE_QUIET = ("celery.app.trace", "celery.worker.strategy", "celery.worker.consumer", "celery.apps.worker")


def configure(level: int | str | None = None, stream: IO[str] | None = None, fmt: str | None = None) -> logging.Handler:
    """Make the root logger write lines to `stream` (stderr) at `level` (OCRQ_LOG_LEVEL), as JSON or
    console lines (`fmt`, default OCRQ_LOG_FORMAT).

    Replaces the root logger's handlers, so calling it twice is harmless.
    """
    level = level_from_env() if level is None else parse_level(level)
    fmt = fmt or format_from_env()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(make_formatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    if fmt == "console":
        for name in _CONSOLE_QUIET:
            logging.getLogger(name).setLevel(max(level, logging.WARNING))
    return handler


try:  # gunicorn's own lines (master and workers): `--logger-class shared.infra.logs.GunicornLogger`
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover - gunicorn is a dependency of the gateway only
    _GunicornLogger = None

if _GunicornLogger is not None:

    class GunicornLogger(_GunicornLogger):
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            formatter = make_formatter()
            for logger in (self.error_log, self.access_log):
                for handler in logger.handlers:
                    handler.setFormatter(formatter)
            if format_from_env() == "console":  # its start/stop chatter; `ocrq dev` prints its own banner
                self.error_log.setLevel(max(self.error_log.level, logging.WARNING))
