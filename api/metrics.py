"""GET /metrics: gateway request counters plus fleet-wide queue and job statistics from Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

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
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from api.contract import Reply, contract
from shared.infra import keyspace, stats
from shared.infra.broker import ALL_QUEUES
from shared.infra.redis_client import as_str
from shared.reviews import metrics as review_metrics
from shared.reviews.model import DECISIONS
from shared.reviews.store import ReviewStore

bp = Blueprint("metrics", __name__)


class _FleetCollector(Collector):
    """Read at scrape time, so every gateway replica reports the same fleet-wide numbers."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
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
        try:
            yield from _review_metrics(s)
        except Exception:  # a scrape never fails on the review counters
            return


def _review_metrics(s: Any) -> Iterator[Metric]:
    """Open reviews by reason (a gauge, read from the tenants' pending reviews), open→resolved seconds
    (a histogram) and corrections per decision (shared/reviews/metrics.py counters)."""
    tenants = sorted(as_str(t) for t in s.redis.smembers(keyspace.TENANTS))
    open_now = ReviewStore(s.redis, s.store).open_by_reason(tenants)
    gauge = GaugeMetricFamily("ocrq_reviews_open", "Open reviews (an expired claim included) by reason",
                              labels=["reason"])
    for reason, n in sorted(open_now.items()):
        gauge.add_metric([reason], float(n))
    yield gauge
    data = review_metrics.read(s.redis)
    resolved = CounterMetricFamily("ocrq_reviews_resolved", "Reviews resolved, by decision", labels=["decision"])
    fixes = CounterMetricFamily("ocrq_review_corrections", "Corrected values (lines, fields, GS1 values, "
                                "barcode texts), by decision", labels=["decision"])
    for decision in DECISIONS:
        resolved.add_metric([decision], data.get(f"resolved:{decision}", 0.0))
        fixes.add_metric([decision], data.get(f"corrections:{decision}", 0.0))
    yield resolved
    yield fixes
    hist = HistogramMetricFamily("ocrq_review_open_seconds", "Time from a review opening to its resolution")
    buckets = [(f"{le:g}", data.get(f"open_s_bucket:{le:g}", 0.0)) for le in review_metrics.OPEN_S_BUCKETS]
    buckets.append(("+Inf", data.get("open_s_count", 0.0)))
    hist.add_metric([], buckets, data.get("open_s_sum", 0.0))
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
