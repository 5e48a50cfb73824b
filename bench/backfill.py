"""Backfill benchmark: throughput vs the engine called directly, Redis memory vs batch size,
interactive latency while a backfill runs. Everything runs on 127.0.0.1 and stops when done.

    python bench/backfill.py                      # all three, prints one table
    python bench/backfill.py --items 40 --sizes 10000,100000 --probes 12

1. items/s: the same N distinct label images through `POST /v1/batches` (gateway, one RapidOCR
   worker, the webhook worker hosting the planner, local-folder store) vs decode + RapidOCR in this
   process, one by one, before and after the backfill (the mean: on a shared box the load drifts).
   Backfill time is the batch's created_at -> finished_at.
2. Redis peak memory for a 10,000- and a 100,000-item prefix, each on a fresh redis-server: the
   planner plans and accounts every item for real (jobs created, sent, run, accounted, outputs and
   ledger written) with the checksum engine (models/checksum.py) standing in for the OCR, so
   100,000 items finish in minutes. used_memory is sampled every 50 ms; used_memory_peak is read at
   the end; "before" is used_memory of the fresh server.
3. Latency (submit -> finished, seen by the client) of interactive jobs sent once a second, on an
   idle service and while a bulk backfill keeps the worker busy.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from cli.procs import free_port, start_redis, stop_all, wait_for_port  # noqa: E402


def label(text: str) -> bytes:
    import imaging

    return imaging.label(text, size=24)


def tiny_png(i: int) -> bytes:
    """An 8x8 PNG whose first three pixels spell i: every item a different content (no dedup)."""
    from PIL import Image

    im = Image.new("L", (8, 8), 255)
    for k in range(3):
        im.putpixel((k, 0), i >> (8 * k) & 255)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1)))))
    return xs[k]


# --------------------------------------------------------------------------------- service
class Service:
    def __init__(self, work: Path, *, env: dict[str, str] | None = None, api_workers: int = 1,
                 worker_args: tuple[str, ...] = ("--gpus", "none"), webhook_concurrency: int = 2) -> None:
        """Redis, the gateway, one OCR worker and the webhook worker; ``env`` adds or overrides
        settings of every process (bench/soak.py runs the same stack with its own)."""
        self.work = work
        self.redis_port = free_port()
        self.redis = start_redis(work / "redis", self.redis_port)
        self.port = free_port()
        self.env = {
            **os.environ, "OCRQ_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "OCRQ_STORAGE_URL": f"file://{work / 'blobs'}", "OCRQ_BATCH_WINDOW": "16", "PYTHONUNBUFFERED": "1",
            "OCRQ_RATE_PER_S": "1000", "OCRQ_RATE_BURST": "1000", **(env or {}),
        }
        import redis

        from shared.tenants import KeyStore

        self.r = redis.Redis.from_url(self.env["OCRQ_REDIS_URL"])
        self.key, _ = KeyStore(self.r).create("bench", "bench")
        KeyStore(self.r).allow_bucket("bench", "scans")
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[bytes]] = []  # everything spawn() started, in order
        self.api = self.spawn("api", "api", "--port", str(self.port), "--workers", str(api_workers))
        wait_for_port(self.port, self.api, 60)
        self.worker = self.spawn("worker", "worker", *worker_args)
        # the webhook worker hosts the batch planner, as deployed
        self.webhooks = self.spawn("webhooks", "webhooks", "--concurrency", str(webhook_concurrency))
        self.wait_ready(self.worker, "worker")
        self.wait_ready(self.webhooks, "webhooks")

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """`ocrq <args>` with this service's settings (and ``env``), its output in <work>/<name>.log."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args],
            env={**self.env, **(env or {})},
            cwd=ROOT,
            stdout=open(self.work / f"{name}.log", "ab"),
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def wait_ready(self, proc: subprocess.Popen[bytes], name: str, timeout_s: float = 120) -> None:
        """Until a Celery worker started by spawn(name, ...) logs that it is ready."""
        path = self.work / f"{name}.log"
        deadline = time.monotonic() + timeout_s
        while " ready." not in (path.read_text(errors="replace") if path.exists() else ""):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"{path.name} did not start: {path.read_text()[-2000:]}")
            time.sleep(0.2)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def put(self, key: str, data: bytes) -> None:
        p = self.work / "blobs" / "scans" / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    def batch(self, prefix: str, out: str) -> str:
        body = {"source": {"bucket": "scans", "prefix": prefix}, "output": {"bucket": "scans", "prefix": out}}
        r = requests.post(f"{self.url}/v1/batches", json=body, headers=self.headers, timeout=30)
        r.raise_for_status()
        return str(r.json()["id"])

    def batch_state(self, bid: str) -> dict:
        return requests.get(f"{self.url}/v1/batches/{bid}", headers=self.headers, timeout=30).json()

    def wait_batch(self, bid: str, timeout: float = 1800) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            b = self.batch_state(bid)
            if b["status"] in ("completed", "canceled"):
                return b
            time.sleep(1.0)
        raise SystemExit(f"batch {bid} not done in {timeout} s")

    def interactive(self, data: bytes) -> float:
        t0 = time.monotonic()
        r = requests.post(f"{self.url}/v1/jobs", headers=self.headers, files={"file": ("x.png", data)}, timeout=30)
        r.raise_for_status()
        jid = r.json()["id"]
        while True:
            j = requests.get(f"{self.url}/v1/jobs/{jid}", params={"wait": 20}, headers=self.headers, timeout=60).json()
            if j["status"] in ("succeeded", "failed", "canceled"):
                assert j["status"] == "succeeded", j
                return time.monotonic() - t0
            if time.monotonic() - t0 > 300:
                raise SystemExit("interactive job took over 300 s")

    def probe(self, n: int, tag: str) -> list[float]:
        """n interactive jobs, one sent every second (each in its own thread), latencies in s."""
        out: list[float] = []
        threads = []
        for i in range(n):
            # a short code, as a scanner sends: its engine time is well under the 1 s between
            # probes, so the probes alone never queue behind each other
            data = label(f"{tag[0]}{i:02d}")
            t = threading.Thread(target=lambda d=data: out.append(self.interactive(d)))
            t.start()
            threads.append(t)
            time.sleep(1.0)
        for t in threads:
            t.join(timeout=600)
        return out

    def stop(self) -> None:
        stop_all([self.redis, *self.procs])  # newest first, Redis last


# -------------------------------------------------------------------------- 1 + 3: the service
def bench_service(n_items: int, n_probes: int) -> dict:
    from models.rapid import RapidOcrEngine
    from shared.infra.settings import load_settings
    from shared.intake.images import decode_for_ocr

    work = Path(tempfile.mkdtemp(prefix="ocrq-bench-"))
    svc = Service(work)
    try:
        images = [label(f"INV-{i:05d} TOTAL {i * 37 % 1000}.{i % 100:02d}") for i in range(n_items)]
        for i, data in enumerate(images):
            svc.put(f"tp/{i:05d}.png", data)
        # direct: the same decode + engine, in this process, one image after another
        settings = load_settings()
        engine = RapidOcrEngine()
        from models.base import EngineRequest
        from shared.jobs.task_spec import TaskSpec

        def direct(data: bytes) -> None:
            d = decode_for_ocr(
                data, formats=settings.allowed_formats, max_pixels=settings.max_pixels, max_side=settings.max_side
            )
            engine.run([EngineRequest(d.image, TaskSpec())])

        direct(images[0])  # warm-up (the worker is warm too)
        t0 = time.perf_counter()
        engine_s = []
        for data in images:
            t1 = time.perf_counter()
            direct(data)
            engine_s.append(time.perf_counter() - t1)
        direct_s = time.perf_counter() - t0
        # idle interactive latency
        svc.interactive(label("WARM UP"))
        idle = svc.probe(n_probes, "IDLE")
        # backfill throughput
        bid = svc.batch("tp/", "out1/")
        b = svc.wait_batch(bid)
        assert b["counts"]["succeeded"] == n_items, b
        t_created = _ms(b["created_at"])
        t_done = _ms(b["finished_at"])
        backfill_s = (t_done - t_created) / 1000
        # direct again, right after: on a shared box the load drifts, and the mean of a run before
        # and a run after the backfill is a fairer reference than either alone
        t0 = time.perf_counter()
        for data in images:
            direct(data)
        direct_s = (direct_s + time.perf_counter() - t0) / 2
        # interactive latency under a backfill: a new batch of distinct images, probes while it runs
        for i in range(n_items * 2):
            svc.put(f"lat/{i:05d}.png", label(f"BULK-{i:05d} LINE {i * 13 % 997}"))
        bid2 = svc.batch("lat/", "out2/")
        time.sleep(3)  # the window fills and the worker is busy with bulk jobs
        busy = svc.probe(n_probes, "BUSY")
        state = svc.batch_state(bid2)
        requests.delete(f"{svc.url}/v1/batches/{bid2}", headers=svc.headers, timeout=30)
        return {
            "n": n_items,
            "direct_s": direct_s,
            "backfill_s": backfill_s,
            "engine_p50": statistics.median(engine_s),
            "idle": idle,
            "busy": busy,
            "bulk_done_during_probe": state["done"],
        }
    finally:
        svc.stop()


def _ms(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


# ------------------------------------------------------------------------------- 2: memory
def bench_memory(n: int, window: int = 64, stop_after: int | None = None) -> dict:
    import redis

    from models.checksum import ChecksumEngine
    from shared.batches.accounting import batch_hook
    from shared.batches.control import cancel_batch
    from shared.batches.model import (
        FINAL_BATCH,
        Batch,
        bkey,
        create_batch,
        new_batch_id,
        record_engine_version,
    )
    from shared.infra.settings import load_settings
    from shared.infra.storage import open_blob_store
    from shared.jobs.store import JobStore
    from shared.jobs.task_spec import TaskSpec
    from workers.planner import Planner
    from workers.runner import JobRunner

    work = Path(tempfile.mkdtemp(prefix="ocrq-mem-"))
    port = free_port()
    proc = start_redis(work / "redis", port, appendonly=False)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        settings = load_settings(redis_url=url, storage_url=f"file://{work / 'blobs'}", engine="checksum")
        r = redis.Redis.from_url(url)
        src = work / "blobs" / "scans" / "mem"
        for i in range(n):
            p = src / f"{i // 1000:04d}" / f"{i:07d}.png"
            if i % 1000 == 0:
                p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(tiny_png(i))
        blobs = open_blob_store(settings)
        store = JobStore(r, settings.retention_s)
        engine = ChecksumEngine()
        record_engine_version(r, engine.name, engine.version, serves_bulk=True)
        pending: list[str] = []
        planner = Planner(settings, r, blobs, lambda j, q: pending.append(j))
        runner = JobRunner(settings, store, blobs, engine, on_finished=[batch_hook(settings, store)])
        base = int(r.info("memory")["used_memory"])
        samples: list[int] = []
        stop = threading.Event()

        def sample() -> None:
            s = redis.Redis.from_url(url)
            while not stop.is_set():
                samples.append(int(s.info("memory")["used_memory"]))
                stop.wait(0.05)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        bid = new_batch_id()
        create_batch(
            r,
            batch_id=bid,
            tenant="bench",
            spec=TaskSpec(),
            src_bucket="scans",
            src_prefix="mem/",
            out_bucket="scans",
            out_prefix="out/",
            window=window,
        )
        t0 = time.perf_counter()
        max_inflight = 0
        canceled = False
        for _ in range(10 * n):
            planner.tick(bid)
            max_inflight = max(max_inflight, r.hlen(bkey(bid, "inflight")))
            b = Batch.load(r, bid)
            if b is not None and b.status in FINAL_BATCH:
                break
            if b is not None and stop_after and not canceled and b.n("succeeded") >= stop_after:
                cancel_batch(r, store, b)  # measured enough: the rest of the listing is never read
                canceled = True
                planner._last_sweep.clear()
            jobs, pending[:] = list(pending), []
            for j in jobs:
                runner.run(j)
        took = time.perf_counter() - t0
        stop.set()
        th.join()
        b = Batch.load(r, bid)
        assert b is not None and (canceled or (b.status == "completed" and b.n("succeeded") + b.n("skipped") == n)), (
            b and b.raw
        )
        info = r.info("memory")
        return {
            "n": n,
            "done": b.n("succeeded"),
            "status": b.status,
            "base": base,
            "peak_sampled": max(samples),
            "peak": int(info["used_memory_peak"]),
            "end": int(info["used_memory"]),
            "keys": r.dbsize(),
            "s": took,
            "max_inflight": max_inflight,
        }
    finally:
        stop_all([proc])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=40, help="images for the throughput comparison")
    ap.add_argument("--probes", type=int, default=12, help="interactive jobs per latency run (one a second)")
    ap.add_argument("--sizes", default="10000,100000", help="batch sizes for the Redis memory comparison")
    ap.add_argument("--skip-service", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    rows: list[tuple[str, str, str]] = []
    if not args.skip_service:
        s = bench_service(args.items, args.probes)
        print(f"service part done: {s}", file=sys.stderr, flush=True)
        d_rate, b_rate = s["n"] / s["direct_s"], s["n"] / s["backfill_s"]
        rows.append(
            (
                f"items/s, engine directly ({s['n']} images)",
                f"{d_rate:.2f}",
                "mean of a run before and one after the backfill",
            )
        )
        rows.append(
            ("items/s, backfill through the service", f"{b_rate:.2f}", f"ratio {b_rate / d_rate:.2f} (target >= 0.90)")
        )
        i50, i95 = statistics.median(s["idle"]), pct(s["idle"], 95)
        b50, b95 = statistics.median(s["busy"]), pct(s["busy"], 95)
        bound = 1.5 * i95 + s["engine_p50"]
        rows.append((f"interactive latency idle, p50 / p95 ({len(s['idle'])} jobs)", f"{i50:.2f} / {i95:.2f} s", ""))
        rows.append(
            (
                "interactive latency during backfill, p50 / p95",
                f"{b50:.2f} / {b95:.2f} s",
                f"bound 1.5 x idle p95 + engine p50 ({s['engine_p50']:.2f} s) = {bound:.2f} s: "
                f"{'OK' if b95 <= bound else 'OVER'}; {s['bulk_done_during_probe']} bulk items done meanwhile",
            )
        )
    if not args.skip_memory:
        mems = []
        for x in args.sizes.split(","):
            mems.append(bench_memory(int(x)))
            print(f"memory part done: {mems[-1]}", file=sys.stderr, flush=True)
        for m in mems:
            rows.append(
                (
                    f"Redis memory, {m['n']:,}-item batch (window 64)",
                    f"peak {m['peak'] / 2**20:.2f} MiB",
                    f"sampled max {m['peak_sampled'] / 2**20:.2f} MiB, before {m['base'] / 2**20:.2f} MiB, "
                    f"after {m['end'] / 2**20:.2f} MiB, {m['keys']} keys left, max in flight {m['max_inflight']}, "
                    f"{m['n'] / m['s']:.0f} items/s planned+accounted",
                )
            )
        if len(mems) >= 2:
            g = (mems[-1]["peak"] - mems[-1]["base"]) / max(1, mems[0]["peak"] - mems[0]["base"])
            rows.append(
                (
                    f"Redis peak growth {mems[0]['n']:,} -> {mems[-1]['n']:,} items",
                    f"x{g:.2f} (above baseline)",
                    "target: flat",
                )
            )
    w = max(len(r[0]) for r in rows)
    v = max(len(r[1]) for r in rows)
    print()
    print(f"{'measure'.ljust(w)}  {'value'.ljust(v)}  note")
    print(f"{'-' * w}  {'-' * v}  ----")
    for a, b, c in rows:
        print(f"{a.ljust(w)}  {b.ljust(v)}  {c}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
