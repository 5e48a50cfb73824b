"""Webhook delivery benchmark: deliveries/s to a local receiver, and job-finish → receipt delay.

Starts everything it needs on 127.0.0.1 and stops it again: a private redis-server, the webhook
worker exactly as deployed (`ocrq webhooks`), and a receiver that verifies every signature with
the `standardwebhooks` library. Job completions are produced by calling the job runner's
finished-hook (outbox write + first-attempt message), so no OCR engine runs and the numbers are
the webhook path alone. Bounded: a fixed number of events and a hard deadline per phase.

    python -m bench.webhooks                     # 300 events in a burst, 100 spaced ones
    python -m bench.webhooks --burst 1000 --concurrency 16
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli.procs import free_port, start_redis, stop_all  # noqa: E402
from tests.loopback_http import LoopbackServer  # noqa: E402


class Receiver:
    def __init__(self, secret: str) -> None:
        from standardwebhooks.webhooks import Webhook

        self.hook = Webhook(secret)
        self.lock = threading.Lock()
        self.received: dict[str, float] = {}  # webhook-id -> first receipt (time.time())
        self.requests = 0
        self.bad = 0
        rx = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                at = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    rx.hook.verify(body, {k.lower(): v for k, v in self.headers.items()})
                    ok = True
                except Exception:
                    ok = False
                with rx.lock:
                    rx.requests += 1
                    if ok:
                        rx.received.setdefault(self.headers["webhook-id"], at)
                    else:
                        rx.bad += 1
                self.send_response(204 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = LoopbackServer(Handler)
        self.port = self.server.port

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def stop(self) -> None:
        self.server.close()


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--burst", type=int, default=300, help="events finished at once (throughput)")
    ap.add_argument("--spaced", type=int, default=100, help="events finished one by one (delay when idle)")
    ap.add_argument("--gap-ms", type=float, default=20.0, help="time between spaced events")
    ap.add_argument("--emitters", type=int, default=4, help="threads finishing jobs in the burst")
    ap.add_argument("--concurrency", type=int, default=8, help="webhook worker threads")
    ap.add_argument("--deadline-s", type=float, default=120.0, help="give up on a phase after this long")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="ocrq-bench-webhooks-"))
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    rx: Receiver | None = None
    try:
        procs.append(start_redis(tmp / "redis", port))
        env = {
            **os.environ,
            "OCRQ_REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "OCRQ_STORAGE_URL": f"file://{tmp / 'blobs'}",
            "OCRQ_WEBHOOK_ALLOW_HTTP": "true",
            "OCRQ_WEBHOOK_ALLOW_PRIVATE": "127.0.0.0/8",
            "OCRQ_WEBHOOK_DNS": "hosts",  # no DNS query leaves the machine
            "OCRQ_PUBLIC_URL": "http://127.0.0.1:8080",
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("OCRQ_")})
        from shared.infra.blobs import result_key
        from shared.infra.redis_client import connect
        from shared.infra.settings import load_settings
        from shared.infra.storage import open_blob_store
        from shared.jobs import InputRef, Job, Status, now_ms
        from shared.jobs.store import JobStore
        from shared.webhooks.endpoints import EndpointStore
        from workers.celery_app import make_celery
        from workers.webhooks.hooks import job_hook

        settings = load_settings()
        client = connect(settings.redis_url)
        blobs = open_blob_store(settings)
        result = json.dumps({"task": "text", "text": "INVOICE 4711 " * 40, "lines": [],
                             "engine": {"name": "rapidocr", "version": "x"}, "image": {"width": 800, "height": 600}})
        blobs.put(result_key("bench", "shared"), result.encode(), "application/json")

        log = open(tmp / "webhooks.log", "ab")
        worker = subprocess.Popen([sys.executable, "-m", "cli.main", "webhooks", "--concurrency", str(args.concurrency),
                                   "--loglevel", "WARNING"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        procs.append(worker)
        ep = EndpointStore(client).create("bench", "http://127.0.0.1:1/placeholder", ["job.succeeded"])
        rx = Receiver(ep.secret)
        client.hset(EndpointStore.key(ep.id), "url", f"http://127.0.0.1:{rx.port}/wms")
        hook = job_hook(settings, JobStore(client, settings.retention_s), make_celery(settings))

        def finish(i: int) -> tuple[str, float]:
            ts = now_ms()
            job = Job(
                id=f"job_bench{i:06d}",
                tenant="bench",
                status=Status.succeeded,
                result_key=result_key("bench", "shared"),
                input=InputRef(
                    bucket="ocrq", key="k", sha256="0" * 64, bytes=1, content_type="image/png", width=1, height=1
                ),
                metadata={"i": i},
                finished_at=ts,
                updated_at=ts,
            )
            t = time.time()
            hook(job)
            from shared.webhooks.outbox import msg_id_for

            return msg_id_for(job.id, "job.succeeded"), t

        # Warm up: the worker is consuming once a delivery comes through.
        mid, _ = finish(0)
        deadline = time.monotonic() + 60
        while mid not in rx.received:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"webhook worker not delivering; see {tmp / 'webhooks.log'}")
            time.sleep(0.05)

        rows = []
        for phase, n, gap in (("burst", args.burst, 0.0), ("spaced", args.spaced, args.gap_ms / 1000)):
            if n <= 0:
                continue
            base = rx.count()
            sent: dict[str, float] = {}
            t0 = time.time()
            offset = 1 + base + (1_000_000 if phase == "spaced" else 0)
            if gap:
                for i in range(n):
                    mid, t = finish(offset + i)
                    sent[mid] = t
                    time.sleep(gap)
            else:  # several emitters, like several job workers finishing at once
                with ThreadPoolExecutor(args.emitters) as pool:
                    sent.update(pool.map(finish, range(offset, offset + n)))
            emitted = time.time() - t0
            deadline = time.monotonic() + args.deadline_s
            while time.monotonic() < deadline:
                with rx.lock:
                    done = sum(1 for m in sent if m in rx.received)
                if done == n:
                    break
                time.sleep(0.02)
            with rx.lock:
                got = {m: rx.received[m] for m in sent if m in rx.received}
            delays = [(got[m] - sent[m]) * 1000 for m in got]
            if os.environ.get("BENCH_DEBUG"):
                print(phase, [round(d) for d in sorted(delays)[-15:]], file=sys.stderr)
            wall = (max(got.values()) - t0) if got else float("nan")
            rows.append(
                (
                    phase,
                    n,
                    len(got),
                    emitted,
                    wall,
                    len(got) / wall if got else 0.0,
                    pct(delays, 50) if delays else float("nan"),
                    pct(delays, 95) if delays else float("nan"),
                    max(delays) if delays else float("nan"),
                )
            )

        print(
            f"\nwebhook delivery to a local receiver: {args.concurrency} worker threads, {args.emitters} emitters, 1 endpoint, "
            f"signatures verified (standardwebhooks), {len(result)} B inline result"
        )
        print(
            f"{'phase':<8} {'events':>6} {'delivered':>9} {'emit s':>7} {'wall s':>7} {'deliv/s':>8} "
            f"{'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}"
        )
        for r in rows:
            print(
                f"{r[0]:<8} {r[1]:>6} {r[2]:>9} {r[3]:>7.2f} {r[4]:>7.2f} {r[5]:>8.1f} {r[6]:>7.1f} {r[7]:>7.1f} {r[8]:>7.1f}"
            )
        print(
            "delay = job finish (finished-hook called) -> receiver got the verified request; "
            f"bad signatures: {rx.bad}, requests: {rx.requests}"
        )
        return 0 if all(r[1] == r[2] for r in rows) and rx.bad == 0 else 1
    finally:
        if rx is not None:
            rx.stop()
        stop_all(procs)


if __name__ == "__main__":
    sys.exit(main())
