"""The process-wide Celery app of a worker (`celery -A workers.ocr_worker worker`), with its tasks.

Two pool modes, chosen by `ocrq worker`:
- prefork, concurrency 1 (CPU engine): the engine loads in the pool child after the fork; a crash
  of the child requeues its message (reject_on_worker_lost) and the worker lives on;
- threads, concurrency OCRQ_BATCH_MAX (HunyuanOCR): the model loads once in the worker process,
  before it consumes. With the decode loop (OCRQ_DECODER=slots) each task thread prepares its own
  image or page and waits on a decode slot; otherwise a batcher runs the in-flight jobs as one
  batched call.
"""

from __future__ import annotations

import logging
import os

from celery.signals import (
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from shared.infra import tracing

tracing.keep_out_unless_configured()  # before redis is imported (shared/infra/tracing.py says why)

from shared.infra.settings import get_settings  # noqa: E402
from workers.celery_app import TASK_RUN_JOB, TASK_RUN_PAGE, make_celery  # noqa: E402

log = logging.getLogger("ocrq.worker")

app = make_celery(get_settings())
_batcher = None
_engine_id: tuple[str, str] | None = None  # (name, version) of the engine this worker runs


def threaded_pool() -> bool:
    return os.environ.get("OCRQ_WORKER_POOL", "prefork") == "threads"


@app.task(name=TASK_RUN_JOB, bind=True, max_retries=None)
def run_job(self, job_id: str) -> str:  # type: ignore[no-untyped-def]
    from workers.runtime import get_runtime

    outcome = _batcher.submit(job_id) if _batcher is not None else get_runtime(app).runner.run(job_id)
    if outcome.status == "retry":
        queue = (self.request.delivery_info or {}).get("routing_key") or None
        raise self.retry(countdown=outcome.retry_in or 5.0, queue=queue)
    return outcome.status


@app.task(name=TASK_RUN_PAGE, bind=True, max_retries=None)
def run_page(self, job_id: str, page: int) -> str:  # type: ignore[no-untyped-def]
    from workers.runtime import get_runtime

    if _batcher is not None:  # threads pool: pages join the engine batch with the other work in flight
        outcome = _batcher.submit_page(job_id, int(page))
    else:
        outcome = get_runtime(app).runner.run_page_work(job_id, int(page))
    if outcome.status == "retry":
        queue = (self.request.delivery_info or {}).get("routing_key") or None
        raise self.retry(countdown=outcome.retry_in or 5.0, queue=queue)
    return outcome.status


def _fatal(err: BaseException) -> None:
    log.error("engine failed to load: %s", err)
    # A worker that cannot run jobs must not take any: exit non-zero before consuming.
    logging.shutdown()
    os._exit(3)


@worker_init.connect
def _tracing_in_threads_worker(**_: object) -> None:
    # OpenTelemetry (only with OTEL_EXPORTER_OTLP_ENDPOINT set; shared/infra/tracing.py): a threads pool runs
    # its tasks in this process. A prefork worker's parent runs none and stays untraced: its reaper's
    # re-sends carry the job's stored traceparent instead, and each pool child sets up after its fork.
    if threaded_pool() and tracing.setup("worker"):
        tracing.instrument_celery()


@worker_init.connect
def _load_or_check_engine(**_: object) -> None:
    global _batcher, _engine_id
    from models.registry import load_engine
    from workers.runtime import get_runtime

    settings = get_settings()
    try:
        if threaded_pool():
            rt = get_runtime(app)
            warmup = getattr(rt.engine, "warmup", None)
            if warmup:
                warmup()
            # A continuous engine (HunyuanOCR's decode slots) merges the task threads' requests itself:
            # each thread runs its own job and blocks on its slot, so no micro-batcher in between.
            if settings.batch_max > 1 and not getattr(rt.engine, "continuous", False):
                from workers.microbatcher import Batcher

                _batcher = Batcher(rt.runner, settings.batch_max, settings.batch_wait_ms)
            engine = rt.engine
        else:
            engine = load_engine(settings)  # a check only; the pool child loads its own copy after the fork
    except Exception as err:
        _fatal(err)
    _engine_id = (engine.name, engine.version)


def _record_engine_version(queues: list[str]) -> None:
    # The batch planner needs the engine (and version) that bulk results come from, to skip items
    # already done with it (dedup); only a worker knows it, so it says so once it is consuming.
    from shared.batches.model import record_engine_version
    from shared.infra.redis_client import connect

    if _engine_id is None:
        return
    try:
        record_engine_version(connect(get_settings().redis_url), *_engine_id, serves_bulk="bulk" in queues)
    except Exception as err:
        log.warning("could not record the engine version: %s", err)


@worker_process_init.connect
def _load_engine_in_child(**_: object) -> None:
    from workers.runtime import get_runtime

    if tracing.setup("worker"):  # after the fork: the exporter's thread and connection are this child's
        tracing.instrument_celery()

    try:
        get_runtime(app)
    except Exception as err:
        _fatal(err)


EX_RECYCLE = 0x9B  # billiard's exit code for a pool child that reached its task or memory limit


def resident_mb() -> float:
    """This process's resident memory in MiB (what Celery's memory limit compares), or its peak
    where psutil is missing (what Celery then compares)."""
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20
    except ImportError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@worker_process_shutdown.connect
def _log_recycled_child(pid: int | None = None, exitcode: int | None = None, **_: object) -> None:
    # Runs in the pool child as it leaves. Between jobs, so nothing is in hand; the parent forks a
    # fresh child, which loads the engine before it takes the next job.
    tracing.shutdown()  # the child leaves with os._exit, past atexit: export its last spans now
    if exitcode != EX_RECYCLE:
        return
    settings = get_settings()
    rss = resident_mb()
    limit = settings.worker_max_memory_mb
    log.info("pool child replaced: %s", "over OCRQ_WORKER_MAX_MEMORY_MB" if limit and rss > limit
             else "OCRQ_WORKER_MAX_TASKS_PER_CHILD jobs done",
             extra={"resident_mb": round(rss, 1), "max_memory_mb": limit,
                    "max_tasks_per_child": settings.worker_max_tasks_per_child})


@worker_ready.connect
def _start_reaper(sender: object = None, **_: object) -> None:
    from workers.reaper import start_reaper_thread

    start_reaper_thread(get_settings(), app)
    _record_engine_version([q.name for q in app.amqp.queues.consume_from.values()])


@worker_shutdown.connect
def _stop_reaper(**_: object) -> None:
    from workers.reaper import stop_reaper_thread

    stop_reaper_thread()
    tracing.shutdown()


# Metrics and health (workers/metrics.py): /metrics and /healthz on OCRQ_METRICS_PORT.
@worker_init.connect
def _prepare_metrics(**_: object) -> None:
    if not threaded_pool():  # pool children record; they must write where the scrape reads
        from workers.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir()


@worker_ready.connect
def _start_metrics(sender: object = None, **_: object) -> None:
    from workers import metrics

    metrics.start_server(get_settings().metrics_port, metrics.celery_health(app, sender))


@worker_shutdown.connect
def _stop_metrics(**_: object) -> None:
    from workers.metrics import stop_server

    stop_server()
