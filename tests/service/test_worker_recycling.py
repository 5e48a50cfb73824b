"""Recycling the CPU worker's pool child between jobs (OCRQ_WORKER_MAX_MEMORY_MB,
OCRQ_WORKER_MAX_TASKS_PER_CHILD): a real redis-server, the gateway and a real `ocrq worker`
(Celery prefork, concurrency 1) on the checksum engine.

A child over its limit finishes its job, is acknowledged, exits, and a fresh child takes the next
job: no job is lost, none runs twice, and the counters of the children that left are still
scraped from the worker's /metrics. The gateway is not recycled; its allocator setting that keeps
its workers from growing is checked here too.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from cli.procs import free_port

JOBS = 8


def png(i: int) -> bytes:
    """A small PNG of its own content per job (no two jobs share an input)."""
    import io

    from PIL import Image

    im = Image.new("L", (16, 16), 255)
    im.putpixel((0, 0), i % 256)
    im.putpixel((1, 0), i // 256 % 256)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def run_jobs(service, count: int) -> list[dict]:  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(4) as pool:  # submitted together: a backlog waits while children are replaced
        answers = list(pool.map(lambda i: service.submit(png(i), name=f"{i}.png"), range(count)))
    assert [a.status_code for a in answers] == [202] * count, [a.text for a in answers if a.status_code != 202]
    return [service.wait(a.json()["id"], timeout=120) for a in answers]


def child_pids(service, jobs: list[dict]) -> list[int]:  # type: ignore[no-untyped-def]
    """The pool child that ran each job: the job record's worker is host:pid of that process."""
    r = redis.Redis.from_url(service.redis_url)
    return [int(json.loads(r.hget(f"ocrq:job:{j['id']}", "worker")).rsplit(":", 1)[1]) for j in jobs]


def processed_succeeded(metrics_port: int) -> float | None:
    text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "ocrq_jobs_processed_total" and s.labels.get("status") == "succeeded":
                return s.value
    return None


def assert_each_succeeded_once(service, jobs: list[dict], metrics_port: int) -> None:  # type: ignore[no-untyped-def]
    assert [j["status"] for j in jobs] == ["succeeded"] * len(jobs), [j for j in jobs if j["status"] != "succeeded"]
    assert [j["attempts"] for j in jobs] == [1] * len(jobs)  # no child died holding a job
    assert all(j["result"]["engine"]["name"] == "checksum" for j in jobs)
    r = redis.Redis.from_url(service.redis_url)
    deadline = time.monotonic() + 10  # the counters are bumped just after the final compare-and-set
    while time.monotonic() < deadline and (
        r.hget("ocrq:stats", "jobs:succeeded") != str(len(jobs)).encode()
        or processed_succeeded(metrics_port) != len(jobs)
    ):
        time.sleep(0.2)
    assert r.hget("ocrq:stats", "jobs:succeeded") == str(len(jobs)).encode()  # each finished exactly once
    assert processed_succeeded(metrics_port) == len(jobs)  # the children that left are still counted


def test_a_child_over_its_memory_limit_is_replaced_between_jobs_and_no_job_is_lost(make_service):
    # 1 MB: every child is over the limit after its first job, so each job runs in a fresh child.
    metrics_port = free_port()
    service = make_service(env={"OCRQ_ENGINE": "checksum", "OCRQ_WORKER_MAX_MEMORY_MB": "1",
                                "OCRQ_METRICS_PORT": str(metrics_port)})
    jobs = run_jobs(service, JOBS)
    assert_each_succeeded_once(service, jobs, metrics_port)
    pids = child_pids(service, jobs)
    assert len(set(pids)) == JOBS, pids  # a new pool child for every job
    lines = [json.loads(line) for line in (service.logs / "worker.log").read_text().splitlines()
             if line.startswith("{")]
    starting = [ln for ln in lines if ln["message"] == "worker starting"]
    assert [(s["max_memory_per_child_mb"], s["max_tasks_per_child"]) for s in starting] == [(1, 0)]
    replaced = [ln for ln in lines if ln["message"].startswith("pool child replaced")]
    # each child says why it left (a limit, not a crash), as it leaves; the last may still be alive
    assert len(replaced) >= JOBS - 1 and {ln["pid"] for ln in replaced} <= set(pids), replaced
    assert all("OCRQ_WORKER_MAX_MEMORY_MB" in ln["message"] and ln["resident_mb"] > 1 for ln in replaced)


def test_max_tasks_per_child_replaces_the_child_after_that_many_jobs(make_service):
    metrics_port = free_port()
    service = make_service(env={"OCRQ_ENGINE": "checksum", "OCRQ_WORKER_MAX_TASKS_PER_CHILD": "3",
                                "OCRQ_METRICS_PORT": str(metrics_port)})
    jobs = run_jobs(service, JOBS)
    assert_each_succeeded_once(service, jobs, metrics_port)
    pids = child_pids(service, jobs)
    assert len(set(pids)) == -(-JOBS // 3), pids  # 3 + 3 + 2 jobs
    assert all(pids.count(p) <= 3 for p in set(pids)), pids
    log = (service.logs / "worker.log").read_text()
    assert log.count("OCRQ_WORKER_MAX_TASKS_PER_CHILD jobs done") == JOBS // 3


def test_the_default_child_is_not_replaced(make_service):
    metrics_port = free_port()
    service = make_service(env={"OCRQ_ENGINE": "checksum", "OCRQ_METRICS_PORT": str(metrics_port)})
    jobs = run_jobs(service, 4)
    assert_each_succeeded_once(service, jobs, metrics_port)
    assert len(set(child_pids(service, jobs))) == 1


def test_the_gateway_runs_with_glibcs_mmap_threshold_pinned(make_service):
    """`ocrq api` pins it (cli/serve.py gateway_env): with glibc's dynamic threshold a gunicorn
    worker's heap fragments around uploads and grows in steps; an operator's own value wins."""
    from pathlib import Path

    from cli.serve import gateway_env

    assert gateway_env({})["MALLOC_MMAP_THRESHOLD_"] == "131072"
    assert gateway_env({"MALLOC_MMAP_THRESHOLD_": "65536"})["MALLOC_MMAP_THRESHOLD_"] == "65536"
    service = make_service(worker=False)
    arbiter = service.procs["api"].pid  # `ocrq api` execs gunicorn; its workers inherit the environment
    environ = Path(f"/proc/{arbiter}/environ").read_bytes().split(b"\0")
    assert b"MALLOC_MMAP_THRESHOLD_=131072" in environ
