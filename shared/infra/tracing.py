"""OpenTelemetry tracing: one trace per job, across the gateway, the queue, the OCR worker and the
webhook worker. Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
is set; then spans go out as OTLP over HTTP/protobuf, the SDK reading every other ``OTEL_*``
variable itself (``OTEL_SERVICE_NAME``, ``OTEL_BSP_SCHEDULE_DELAY``, headers, timeouts, ...).

Nothing of OpenTelemetry is imported here at module level: a process with tracing off imports this
module (a few functions) and no ``opentelemetry`` package at all (tests/service/test_tracing.py checks the
gateway). Every helper below is a cheap no-op until ``setup`` has run in this process.

How a job keeps one trace:
- the gateway's submit span (child of the Flask request span, which continues a client's own
  ``traceparent``) is stored on the job record as ``traceparent``; its trace id is the job's
  ``trace_id``, shown in the job document and answered in the 202's ``traceparent`` header;
- the Celery message carries W3C ``traceparent`` in its headers (opentelemetry-instrumentation-celery
  on both sides); a message sent outside any span (the reaper's re-sends, the webhook scheduler)
  is sent in the job's stored context, or with the stored header (``message_headers``);
- worker-side spans open under ``job_span``: a child of the current span when that is in the job's
  trace, else a child of the job's stored traceparent, linked to the message's span.

Per process (``setup(role)``): the gateway in its app factory (each gunicorn worker imports the app
after the fork), a prefork OCR worker in each pool child (``worker_process_init``: the SDK's
exporter thread and HTTP connection must not be shared across a fork), a threads-pool OCR worker and
the webhook worker in ``worker_init``. Root spans of kind CLIENT (a Redis poll, a broker BRPOP, the
webhook scheduler's scan: calls made outside any request or job) are not sampled, so the background
loops do not flood the collector; ``OTEL_TRACES_SAMPLER``, when set, replaces that sampler.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager, nullcontext
from typing import Any

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# Requests the gateway answers for monitors and browsers, not for jobs: no server span.
EXCLUDED_URLS = "healthz,readyz,metrics,console,docs,openapi.json"

_lock = threading.Lock()
_active_pid: int | None = None  # the process that ran setup; a forked child must run its own
_tracer: Any = None
_provider: Any = None


def configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether tracing is asked for: an OTLP endpoint is set, and the SDK is not disabled."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(env.get(v, "").strip() for v in ENDPOINT_VARS)


class _KeepOut:
    """A meta path finder that refuses ``opentelemetry`` (ModuleNotFoundError, as if not installed)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r} (tracing is off: no OTEL_EXPORTER_OTLP_ENDPOINT)",
                                      name=name)
        return None


def keep_out_unless_configured() -> None:
    """With tracing off, keep ``opentelemetry`` out of this process: call it first thing in an entry
    point (api/wsgi.py, workers/ocr_worker.py, workers/webhook_worker.py). Installing the ``otel`` extra would
    otherwise cost every process: redis-py (8.x) imports the OTel SDK's metrics at import time whenever
    it is installed (its optional observability, which ocrq does not use), about 0.1 s of start-up and
    a few MB; its own ``except ImportError`` then runs as on an install without OpenTelemetry."""
    if configured() or any(isinstance(f, _KeepOut) for f in sys.meta_path):
        return
    if any(m == "opentelemetry" or m.startswith("opentelemetry.") for m in sys.modules):
        return  # already in (a test process, say): refusing now would only break what holds it
    sys.meta_path.insert(0, _KeepOut())


def active() -> bool:
    """Tracing is set up in this very process (not merely inherited from a parent before a fork)."""
    return _active_pid is not None and _active_pid == os.getpid()


def setup(role: str) -> bool:
    """Set tracing up for this process once, as ``role`` (api, worker, webhooks); returns whether it
    is on. Instruments redis, requests and urllib3; Flask and Celery are instrumented by their own
    calls below, where the app or the worker is at hand."""
    global _active_pid, _tracer, _provider
    if not configured():
        return False
    with _lock:
        if active():
            return True
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        if _active_pid is not None:  # forked from a traced process: the SDK re-arms its exporter thread
            _active_pid = os.getpid()
            return True
        attrs: dict[str, Any] = {"ocrq.role": role, "process.pid": os.getpid()}
        # OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) wins over ocrq-<role>.
        if not os.environ.get("OTEL_SERVICE_NAME") and "service.name=" not in os.environ.get(
                "OTEL_RESOURCE_ATTRIBUTES", ""):
            attrs["service.name"] = f"ocrq-{role}"
        resource = Resource.create(attrs)
        sampler = None if os.environ.get("OTEL_TRACES_SAMPLER") else _sampler()
        provider = TracerProvider(resource=resource, sampler=sampler)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        _provider = provider
        _tracer = provider.get_tracer("ocrq")
        _instrument_clients()
        _active_pid = os.getpid()
        return True


def _sampler() -> Any:
    from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
    from opentelemetry.trace import SpanKind

    class _NoClientRoots(Sampler):
        """A client call made outside any span (a background loop's Redis poll) starts no trace."""

        def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                          attributes: Any = None, links: Any = None, trace_state: Any = None) -> SamplingResult:
            if kind == SpanKind.CLIENT:
                return SamplingResult(Decision.DROP)
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

        def get_description(self) -> str:
            return "ocrq.NoClientRoots"

    return ParentBased(root=_NoClientRoots())


def _disabled(name: str) -> bool:
    """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` (comma-separated: flask, celery, redis, requests, urllib3)
    names an instrumentation this process leaves out (redis: a span per command is most of the cost)."""
    names = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
    return name in {n.strip() for n in names.split(",")}


def _instrument_clients() -> None:
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    for name, inst in (("redis", RedisInstrumentor()), ("requests", RequestsInstrumentor()),
                       ("urllib3", URLLib3Instrumentor())):
        if not _disabled(name) and not inst.is_instrumented_by_opentelemetry:
            inst.instrument()


def instrument_flask(app: Any) -> None:
    """Server spans for the gateway's requests (a client's own traceparent is continued)."""
    if not active() or _disabled("flask"):
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    FlaskInstrumentor().instrument_app(app, excluded_urls=EXCLUDED_URLS)


def instrument_celery() -> None:
    """Producer spans on sends and consumer spans on tasks, traceparent in the message headers."""
    if not active() or _disabled("celery"):
        return
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    inst = CeleryInstrumentor()
    if not inst.is_instrumented_by_opentelemetry:
        inst.instrument()


def shutdown() -> None:
    """Export what is buffered (a prefork pool child leaves with os._exit, past atexit)."""
    if active() and _provider is not None:
        try:
            _provider.force_flush(5000)
        except Exception:  # never let telemetry fail a worker's exit
            pass


# ----------------------------------------------------------------------------- spans
class _NoSpan:
    """What ``span`` yields while tracing is off: attributes go nowhere."""

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        pass

    def is_recording(self) -> bool:
        return False


_NO_SPAN = _NoSpan()
_OFF = nullcontext(_NO_SPAN)


def span(name: str, *, kind: str = "internal", attributes: Mapping[str, Any] | None = None) -> Any:
    """A child span of the current one; a shared no-op context manager while tracing is off."""
    if not active():
        return _OFF
    return _span(name, kind, attributes, None)


def job_span(name: str, traceparent: str | None, *, kind: str = "internal",
             attributes: Mapping[str, Any] | None = None) -> Any:
    """A span of the job whose stored context is ``traceparent``: a child of the current span when
    that is in the job's trace (the message carried it), else a child of the stored context (a
    message sent outside the job's trace), linked to the current span."""
    if not active():
        return _OFF
    return _span(name, kind, attributes, traceparent)


@contextmanager
def _span(name: str, kind: str, attributes: Mapping[str, Any] | None, traceparent: str | None) -> Iterator[Any]:
    from opentelemetry import trace

    ctx, links = None, None
    if traceparent:
        stored = _extract(traceparent)
        stored_sc = trace.get_current_span(stored).get_span_context()
        current_sc = trace.get_current_span().get_span_context()
        if stored_sc.is_valid and stored_sc.trace_id != current_sc.trace_id:
            ctx = stored
            links = [trace.Link(current_sc)] if current_sc.is_valid else None
    with _tracer.start_as_current_span(name, context=ctx, kind=getattr(trace.SpanKind, kind.upper()),
                                       attributes=dict(attributes or {}), links=links) as sp:
        yield sp


def _extract(traceparent: str) -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({"traceparent": traceparent})


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, or None (tracing off, or no span)."""
    if not active():
        return None
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current span's ``traceparent`` (and ``tracestate``) to outgoing headers."""
    if not active():
        return
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    TraceContextTextMapPropagator().inject(headers)


def trace_id_of(traceparent: str | None) -> str | None:
    """The 32 hex digit trace id of a W3C traceparent (``00-<trace id>-<span id>-<flags>``)."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    if len(parts) < 4 or len(parts[1]) != 32:
        return None
    return parts[1]


def use_traceparent(traceparent: str | None) -> Any:
    """Make the stored ``traceparent`` the current context (for a send made outside any span, so
    the message's producer span joins the job's trace); no-op when off, when there is none, or when
    the current span is already in that trace."""
    if not active() or not traceparent:
        return _OFF
    return _attached(traceparent)


@contextmanager
def _attached(traceparent: str) -> Iterator[None]:
    from opentelemetry import context, trace

    if trace.get_current_span().get_span_context().trace_id == int(trace_id_of(traceparent) or "0", 16):
        yield
        return
    token = context.attach(_extract(traceparent))
    try:
        yield
    finally:
        context.detach(token)


def message_headers(traceparent: str | None) -> dict[str, str] | None:
    """Celery message headers for a send that continues the job's trace from its stored context,
    whether or not the sending process traces (the reaper in a prefork worker's parent does not);
    where it does, the Celery instrumentation replaces it with its producer span's, in the same trace."""
    return {"traceparent": traceparent} if traceparent else None
