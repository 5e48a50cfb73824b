"""GET /metrics: gateway request counters plus fleet-wide queue and job statistics from Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, request
from flask.typing import ResponseReturnValue
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from api.contract import Reply, contract
from shared import stats
from shared.broker import ALL_QUEUES

bp = Blueprint("metrics", __name__)


class _FleetCollector:
    """Read at scrape time, so every gateway replica reports the same fleet-wide numbers."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[object]:
        s = self.app.extensions["ocrq"]
        depth = GaugeMetricFamily("ocrq_queue_depth", "Messages waiting per queue", labels=["queue"])
        try:
            for q in ALL_QUEUES:
                n = s.submitter.queue_depth(q)
                if n is not None:
                    depth.add_metric([q], float(n))
            running = GaugeMetricFamily("ocrq_jobs_running", "Jobs running now (holding a lease)")
            running.add_metric([], float(s.redis.zcard(s.store.RUNNING)))
            data = stats.read(s.redis)
        except Exception:
            return
        yield depth
        yield running
        jobs = CounterMetricFamily("ocrq_jobs", "Jobs that reached a final state", labels=["state"])
        for state in ("succeeded", "failed", "canceled"):
            jobs.add_metric([state], data.get(f"jobs:{state}", 0.0))
        yield jobs
        hist = HistogramMetricFamily("ocrq_job_stage_seconds", "Job latency per stage", labels=["stage"])
        for stage in stats.STAGES:
            buckets = [(str(le), data.get(f"hist:{stage}:{le}", 0.0)) for le in stats.BUCKETS_S]
            buckets.append(("+Inf", data.get(f"hist:{stage}:+Inf", 0.0)))
            hist.add_metric([stage], buckets, data.get(f"hist:{stage}:sum", 0.0))
        yield hist


def instrument(app: Flask) -> None:
    registry = CollectorRegistry()
    requests_total = Counter("ocrq_http_requests", "HTTP requests", ["route", "method", "status"], registry=registry)
    latency = Histogram("ocrq_http_request_seconds", "HTTP request latency", ["route"], registry=registry)
    registry.register(_FleetCollector(app))
    app.extensions["ocrq_metrics"] = registry

    @app.before_request
    def _start() -> None:
        request.environ["ocrq.t0"] = time.perf_counter()

    @app.after_request
    def _count(resp: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        requests_total.labels(route, request.method, str(resp.status_code)).inc()
        t0 = request.environ.get("ocrq.t0")
        if t0 is not None:
            latency.labels(route).observe(time.perf_counter() - t0)
        return resp


@bp.get("/metrics")
@contract("metrics", "ops", "Prometheus metrics",
          replies={200: Reply("Prometheus text format", media={"text/plain": {"type": "string"}})})
def metrics() -> ResponseReturnValue:
    from flask import current_app

    registry = current_app.extensions["ocrq_metrics"]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
