"""shared/infra/logs.py: one JSON object per line, with the job's ids whenever the call passed them."""

from __future__ import annotations

import io
import json
import logging

from shared.infra import logs


def _capture(level: str = "INFO") -> tuple[io.StringIO, logging.Logger]:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.configure(level, stream=stream)
    _capture.saved = saved  # type: ignore[attr-defined]
    return stream, logging.getLogger("ocrq.test")


def _restore() -> None:
    root = logging.getLogger()
    handlers, level = _capture.saved  # type: ignore[attr-defined]
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_carry_ids_extras_and_tracebacks():
    stream, log = _capture("INFO")
    try:
        log.info("claimed %s", "x", extra={"job_id": "job_1", "tenant": "acme", "batch_id": None, "attempt": 2})
        log.debug("not shown")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("engine failed", extra={"job_id": "job_1", "tenant": "acme", "batch_id": "b_1"})
        log.warning("odd extra", extra={"obj": object()})
    finally:
        _restore()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    first, second, third = lines
    assert first["message"] == "claimed x" and first["level"] == "INFO" and first["logger"] == "ocrq.test"
    assert (
        first["job_id"] == "job_1" and first["tenant"] == "acme" and first["batch_id"] is None and first["attempt"] == 2
    )
    assert first["time"].endswith("Z") and "T" in first["time"] and isinstance(first["pid"], int)
    assert (
        second["batch_id"] == "b_1"
        and "ValueError: boom" in second["exc"]
        and "\n" not in stream.getvalue().splitlines()[1]
    )
    assert "job_id" not in third and third["obj"].startswith("<object")


def test_level_comes_from_ocrq_log_level(monkeypatch):
    monkeypatch.setenv("OCRQ_LOG_LEVEL", "warning")
    assert logs.level_from_env() == logging.WARNING
    monkeypatch.setenv("OCRQ_LOG_LEVEL", "nonsense")
    assert logs.level_from_env() == logging.INFO
