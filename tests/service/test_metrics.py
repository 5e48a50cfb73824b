"""Scrape what Prometheus scrapes: the gateway's /metrics and a real worker's /metrics and /healthz.

The worker runs RapidOCR in a prefork pool child, so a processed-job counter seen on the worker
main process's /metrics proves the multiprocess collection works.
"""

from __future__ import annotations

import json
import time

import imaging
import requests
from prometheus_client.parser import text_string_to_metric_families

from cli.procs import free_port


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def names(samples: dict) -> set[str]:
    return {name for name, _ in samples}


def wait_for(fn, timeout: float = 20, every: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(every)


def test_gateway_and_worker_metrics_health_and_json_logs(make_service, redis_server):
    port = free_port()
    service = make_service(env={"OCRQ_METRICS_PORT": str(port)})
    worker_url = f"http://127.0.0.1:{port}"

    # Before any job: healthy, and the worker series exist at zero.
    health = requests.get(f"{worker_url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    before = scrape(f"{worker_url}/metrics")
    assert value(before, "ocrq_jobs_processed_total", status="succeeded") == 0

    job_id = service.submit(imaging.label("SKU 48213-B QTY 12"), name="label.png").json()["id"]
    job = service.wait(job_id)
    assert job["status"] == "succeeded"

    # Worker: counted in the pool child, served by the main process (multiprocess mode).
    worker = wait_for(lambda: (s := scrape(f"{worker_url}/metrics"))
                      and (value(s, "ocrq_jobs_processed_total", status="succeeded") or 0) >= 1 and s)
    assert worker, "ocrq_jobs_processed_total{status=succeeded} never reached 1"
    assert value(worker, "ocrq_jobs_processed_total", status="failed") == 0
    assert value(worker, "ocrq_engine_seconds_count") >= 1
    assert 0 < value(worker, "ocrq_engine_seconds_sum") < 120
    assert value(worker, "ocrq_engine_seconds_bucket", le="+Inf") == value(worker, "ocrq_engine_seconds_count")
    assert value(worker, "ocrq_batch_size_count") >= 1
    assert value(worker, "ocrq_batch_size_sum") >= 1
    # RapidOCR never imports torch: no GPU gauge on a CPU worker.
    assert "ocrq_gpu_memory_bytes" not in names(worker)
    assert requests.get(f"{worker_url}/nope", timeout=10).status_code == 404

    # Gateway: request counters, queue depth, fleet-wide job counters and stage histogram.
    gw = scrape(f"{service.url}/metrics")
    assert value(gw, "ocrq_http_requests_total", route="/v1/jobs", method="POST", status="202") == 1
    assert value(gw, "ocrq_queue_depth", queue="interactive") is not None
    assert value(gw, "ocrq_queue_depth", queue="bulk") is not None
    assert value(gw, "ocrq_jobs_total", state="succeeded") >= 1
    assert value(gw, "ocrq_job_stage_seconds_count", stage="total") >= 1
    assert value(gw, "ocrq_job_stage_seconds_count", stage="infer") >= 1
    assert "ocrq_http_request_seconds_count" in names(gw)

    # Logs: every line of both processes is one JSON object; the job's runner lines carry its ids.
    api_lines = _json_lines(service.logs / "api.log")
    worker_lines = _json_lines(service.logs / "worker.log")
    assert any(" ready." in line["message"] for line in worker_lines)
    mine = [line for line in worker_lines if line.get("job_id") == job_id]
    assert {"claimed", "finished"} <= {line["message"] for line in mine}, mine
    for line in mine:
        assert line["tenant"] == service.tenant and "batch_id" in line
        assert line["level"] in ("INFO", "WARNING") and line["logger"] == "ocrq.runner" and line["time"].endswith("Z")
    assert any(line["logger"].startswith("gunicorn") for line in api_lines)

    # Health is honest: the broker (the test Redis) gone means 503; back means 200 again.
    redis_server.proc.kill()
    redis_server.proc.wait()
    try:
        down = wait_for(lambda: requests.get(f"{worker_url}/healthz", timeout=10).status_code == 503, timeout=30)
        assert down, "worker /healthz still 200 with its broker down"
    finally:
        redis_server.restart()
    up = wait_for(lambda: requests.get(f"{worker_url}/healthz", timeout=10).status_code == 200, timeout=60)
    assert up, "worker /healthz did not recover after the broker came back"


def _json_lines(path) -> list[dict]:  # type: ignore[no-untyped-def]
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    assert lines, f"{path} is empty"
    out = []
    for line in lines:
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line in {path.name}: {line!r}") from None
        assert {"time", "level", "logger", "message"} <= set(doc), line
        out.append(doc)
    return out
