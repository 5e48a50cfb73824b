"""The gateway under a scanner fleet: submissions/s, submit latency, and what polling costs Redis.

Starts its own redis-server, S3 server (moto_server; MinIO in production) and gateway on loopback, then:
1. polling cost: with one CPU worker, N receipt jobs are each followed by a client that long-polls
   (`GET /v1/jobs/<id>?wait=30`) or one that polls every 500 ms; Redis MONITOR attributes every
   command to the connection that sent it (the gateway names its connections `ocrq-api`), so the
   table shows the gateway's Redis commands per finished job for each client;
2. submissions: unique ~100 KB JPEGs posted as multipart at concurrency 1, 8 and 32 (no worker, so
   only the gateway's work is measured: auth, rate limit, size and image checks, S3 PUT, job record,
   queue push). Every answer must be 202.

    python bench/gateway.py [--submits 300] [--poll-jobs 8] [--gateway-workers 2]

With --tracing it measures instead what OpenTelemetry costs the gateway: the same submissions with
tracing off, on (OTEL_EXPORTER_OTLP_ENDPOINT to an OTLP/HTTP sink on loopback that reads and drops
what it gets) and on without the Redis instrumentation, each on a fresh stack, side by side in one table:

    python bench/gateway.py --tracing [--submits 300]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import redis
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli.procs import free_port, start_redis, stop_all, wait_for_port  # noqa: E402
from shared.infra.redis_client import connect  # noqa: E402
from shared.tenants import KeyStore  # noqa: E402
from tests.loopback_http import LoopbackServer  # noqa: E402

RECEIPTS = ROOT.parent / "shared" / "data" / "receipts"
BUCKET = "ocrq-bench"
MONITOR_LINE = re.compile(r'^(\d+\.\d+) \[\d+ ([^\]]+)\] "([^"]+)"(?: "([^"]*)")?(?: "([^"]*)")?')


def descendants(pid: int) -> list[int]:
    """pid and every process below it (gunicorn's workers under `ocrq api`), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def make_jpegs(count: int, target_bytes: int = 100_000) -> list[bytes]:
    """Distinct JPEGs of about target_bytes: noise is what a camera sensor adds, and it defeats dedup."""
    rng = random.Random(7)
    side = 200
    while True:  # grow the noise until one encoding reaches the target size
        base = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
        buf = io.BytesIO()
        base.save(buf, "JPEG", quality=85)
        if buf.tell() >= target_bytes:
            break
        side += 8
    out = []
    for i in range(count):
        img = base.copy()
        img.putpixel((i % side, (i // side) % side), (i % 256, 0, 255))  # a different sha256 per image
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


class TraceSink:
    """An OTLP/HTTP endpoint on loopback: reads each POST /v1/traces, answers 200, keeps byte counts."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler

        sink = self
        self.requests = 0
        self.bytes = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.requests += 1
                sink.bytes += len(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = LoopbackServer(Handler)
        self.endpoint = self.server.url

    def stop(self) -> None:
        self.server.close()


class Stack:
    def __init__(self, tmp: Path, gateway_workers: int, extra_env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        redis_port, s3_port, self.port = free_port(), free_port(), free_port()
        self.procs = [start_redis(tmp / "redis", redis_port)]
        exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
        self.procs.append(subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(s3_port)],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for_port(s3_port, self.procs[-1], 30)
        from minio import Minio

        Minio(f"127.0.0.1:{s3_port}", access_key="bench", secret_key="bench", secure=False).make_bucket(BUCKET)
        self.redis_url = f"redis://127.0.0.1:{redis_port}/0"
        self.env = {
            **os.environ, "OCRQ_REDIS_URL": self.redis_url, "OCRQ_STORAGE_URL": f"s3://{BUCKET}",
            "OCRQ_S3_ENDPOINT": f"127.0.0.1:{s3_port}", "OCRQ_S3_ACCESS_KEY": "bench", "OCRQ_S3_SECRET_KEY": "bench",
            "OCRQ_S3_SECURE": "false", "OCRQ_RATE_PER_S": "1000000", "OCRQ_RATE_BURST": "1000000",
            "OCRQ_INTERACTIVE_QUEUE_MAX": "10000000", "OCRQ_METRICS_PORT": str(free_port()),
            **(extra_env or {}),
        }
        if not extra_env:  # tracing off, whatever the shell exports
            for name in [k for k in self.env if k.startswith("OTEL_")]:
                del self.env[name]
        self.key, _ = KeyStore(connect(self.redis_url)).create("bench")
        self.log = open(tmp / "service.log", "ab")
        self.procs.append(
            self._spawn("api", "--port", str(self.port), "--workers", str(gateway_workers), "--threads", "16")
        )
        wait_for_port(self.port, self.procs[-1], 60)
        self.url = f"http://127.0.0.1:{self.port}"
        self.worker: subprocess.Popen[bytes] | None = None

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args], env=self.env, cwd=ROOT, stdout=self.log, stderr=self.log
        )

    def session(self) -> requests.Session:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {self.key}"
        return http

    def start_worker(self) -> None:
        self.worker = self._spawn("worker", "--gpus", "none", "--loglevel", "WARNING")

    def stop_worker(self) -> None:
        if self.worker is not None:
            stop_all([self.worker])
            self.worker = None

    def stop(self) -> None:
        self.stop_worker()
        stop_all(self.procs)


class Monitor:
    """Redis MONITOR in a thread: (time, client address, command) for every command the server runs."""

    def __init__(self, url: str) -> None:
        self.conn = redis.Redis.from_url(url).connection_pool.get_connection()
        self.conn.send_command("MONITOR")
        assert self.conn.read_response() in (b"OK", "OK")
        self.lines: list[tuple[float, str, str, str]] = []
        self.names: dict[str, str] = {}  # address -> CLIENT SETNAME, seen as connections open
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            if not self.conn.can_read(timeout=0.2):
                continue
            line = self.conn.read_response()
            m = MONITOR_LINE.match(line.decode() if isinstance(line, bytes) else str(line))
            if not m:
                continue
            ts, addr, cmd, arg1, arg2 = m.groups()
            if cmd.upper() == "CLIENT" and (arg1 or "").upper() == "SETNAME":
                self.names[addr] = arg2 or ""
            self.lines.append((float(ts), addr, cmd.upper(), arg1 or ""))

    def count(self, name: str, start: float, end: float) -> int:
        return sum(1 for ts, addr, _, _ in self.lines if start <= ts <= end and self.names.get(addr) == name)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.conn.disconnect()


def follow(http: requests.Session, url: str, job_id: str, mode: str) -> tuple[int, float, float]:
    """Follow one job to its end like a scanner would.

    Returns (HTTP requests made, seconds following, ms from the job's finish until the client knew).
    """
    requests_made, t0 = 0, time.time()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        params = {"wait": 30} if mode == "wait" else {}
        job = http.get(f"{url}/v1/jobs/{job_id}", params=params, timeout=45).json()
        requests_made += 1
        if job["status"] in ("succeeded", "failed", "canceled"):
            now = time.time()
            finished = datetime.fromisoformat(job["finished_at"].replace("Z", "+00:00")).timestamp()
            return requests_made, now - t0, max(0.0, now - finished) * 1000
        if mode == "poll":
            time.sleep(0.5)
    raise TimeoutError(job_id)


def polling_cost(stack: Stack, jobs: int) -> dict[str, dict[str, float]]:
    receipts = [p.read_bytes() for p in sorted(RECEIPTS.glob("*.jpg"))]
    http = stack.session()
    stack.start_worker()
    warm = http.post(f"{stack.url}/v1/jobs", files={"file": ("r.jpg", receipts[0])}, timeout=30).json()["id"]
    follow(http, stack.url, warm, "wait")  # the worker's first job loads the engine
    monitor = Monitor(stack.redis_url)
    out: dict[str, dict[str, float]] = {}
    try:
        for mode in ("wait", "poll"):
            reqs, cmds, late = [], [], []
            for i in range(jobs):
                r = http.post(
                    f"{stack.url}/v1/jobs", files={"file": ("r.jpg", receipts[i % len(receipts)])}, timeout=30
                )
                t0 = time.time()
                n, took, late_ms = follow(http, stack.url, r.json()["id"], mode)
                time.sleep(0.3)  # let MONITOR's stream catch up before counting
                reqs.append(n)
                late.append(late_ms)
                cmds.append(monitor.count("ocrq-api", t0, t0 + took))
            out[mode] = {
                "requests": statistics.mean(reqs),
                "commands": statistics.mean(cmds),
                "late_ms": statistics.mean(late),
            }
    finally:
        monitor.close()
        stack.stop_worker()
    return out


def submissions(stack: Stack, images: list[bytes], concurrency: int, count: int) -> dict[str, float]:
    local = threading.local()
    codes: list[int] = []
    lat: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 180

    def one(data: bytes) -> None:
        if time.monotonic() > deadline:
            return
        if not hasattr(local, "http"):
            local.http = stack.session()
        t0 = time.perf_counter()
        r = local.http.post(f"{stack.url}/v1/jobs", files={"file": ("scan.jpg", data, "image/jpeg")}, timeout=60)
        took = time.perf_counter() - t0
        with lock:
            codes.append(r.status_code)
            lat.append(took * 1000)

    roles = {"gateway": descendants(stack.procs[2].pid), "s3": [stack.procs[1].pid], "redis": [stack.procs[0].pid]}
    cpu0 = {role: cpu_s(pids) for role, pids in roles.items()}
    client0 = time.process_time()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, images[:count]))
    wall = time.perf_counter() - t0
    cpu_ms = {role: (cpu_s(pids) - cpu0[role]) * 1000 / max(1, len(codes)) for role, pids in roles.items()}
    cpu_ms["client"] = (time.process_time() - client0) * 1000 / max(1, len(codes))
    bad = [c for c in codes if c != 202]
    if bad:
        raise SystemExit(f"concurrency {concurrency}: {len(bad)} submissions answered {sorted(set(bad))}, not 202")
    return {"n": len(codes), "per_s": len(codes) / wall, "p50": statistics.median(lat), "p95": pct(lat, 0.95), **cpu_ms}


def tracing_cost(args: argparse.Namespace) -> int:
    """The same submissions against a gateway with tracing off, then on, each on a fresh stack."""
    levels = (1, 8)
    images = make_jpegs(args.submits * len(levels) * 3 + 6)
    sink = TraceSink()
    on = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "1000"}
    # on-redis: tracing on without the Redis instrumentation (a span per Redis command)
    modes = {"off": None, "on": on, "on-redis": {**on, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "redis"}}
    results: dict[tuple[str, int], dict[str, float]] = {}
    n = 0
    try:
        for mode, extra in modes.items():
            with tempfile.TemporaryDirectory() as tmp:
                stack = Stack(Path(tmp), args.gateway_workers, extra)
                try:
                    for _ in range(2):  # warm both gunicorn workers
                        stack.session().post(f"{stack.url}/v1/jobs", files={"file": ("w.jpg", images[n])},
                                             timeout=30).raise_for_status()
                        n += 1
                    for c in levels:
                        results[(mode, c)] = submissions(stack, images[n : n + args.submits], c, args.submits)
                        n += args.submits
                    time.sleep(1.5)  # the last spans leave before the stack stops
                finally:
                    stack.stop()
    finally:
        sink.stop()
    size_kb = statistics.mean(len(b) for b in images) / 1000
    print(
        f"\nocrq gateway, OpenTelemetry off vs on — {os.cpu_count()} cores, {args.gateway_workers} gunicorn workers x 16 "
        f"threads, S3 store (moto_server), {size_kb:.0f} KB JPEGs; on: OTLP/HTTP to a loopback sink\n"
    )
    print(f"{'tracing':>7} {'concurrency':>11} {'submissions':>12} {'submits/s':>10} {'p50 ms':>9} {'p95 ms':>9}"
          f"   {'gateway CPU ms/submit':>22}")
    print("-" * 90)
    for c in levels:
        for mode in modes:
            r = results[(mode, c)]
            print(f"{mode:>7} {c:>11} {r['n']:>12} {r['per_s']:>10.1f} {r['p50']:>9.1f} {r['p95']:>9.1f}"
                  f"   {r['gateway']:>22.2f}")
    cpu = {mode: statistics.mean(results[(mode, c)]["gateway"] for c in levels) for mode in modes}
    print("\ngateway CPU per submit: " + ", ".join(
        f"{mode} {ms:.2f} ms" + ("" if mode == "off" else f" ({ms - cpu['off']:+.2f} ms, {(ms / cpu['off'] - 1) * 100:+.0f} %)")
        for mode, ms in cpu.items()) + f"; the sink got {sink.requests} export requests, {sink.bytes / 1000:.0f} KB")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--submits", type=int, default=300, help="submissions per concurrency level")
    ap.add_argument("--poll-jobs", type=int, default=8, help="jobs followed per polling client")
    ap.add_argument("--gateway-workers", type=int, default=2, help="gunicorn processes (one per core)")
    ap.add_argument("--tracing", action="store_true", help="only: gateway CPU per submit with tracing off vs on")
    args = ap.parse_args()
    if args.tracing:
        return tracing_cost(args)

    levels = (1, 8, 32)
    images = make_jpegs(args.submits * len(levels) + 1)
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp), args.gateway_workers)
        try:
            poll = polling_cost(stack, args.poll_jobs)
            warm = stack.session().post(f"{stack.url}/v1/jobs", files={"file": ("w.jpg", images[-1])}, timeout=30)
            warm.raise_for_status()
            results = {}
            for i, c in enumerate(levels):
                results[c] = submissions(stack, images[i * args.submits : (i + 1) * args.submits], c, args.submits)
        finally:
            stack.stop()

    size_kb = statistics.mean(len(b) for b in images) / 1000
    print(
        f"\nocrq gateway benchmark — {os.cpu_count()} cores, {args.gateway_workers} gunicorn workers x 16 threads, "
        f"S3 store (moto_server), {size_kb:.0f} KB JPEGs\n"
    )
    print(
        f"{'concurrency':>11} {'submissions':>12} {'submits/s':>10} {'p50 ms':>9} {'p95 ms':>9}   "
        f"CPU ms per submit: {'gateway':>7} {'S3':>6} {'redis':>6} {'client':>6}"
    )
    print("-" * 110)
    for c, r in results.items():
        print(
            f"{c:>11} {r['n']:>12} {r['per_s']:>10.1f} {r['p50']:>9.1f} {r['p95']:>9.1f}   "
            f"{'':>18} {r['gateway']:>7.1f} {r['s3']:>6.1f} {r['redis']:>6.1f} {r['client']:>6.1f}"
        )
    gw = statistics.mean(r["gateway"] for r in results.values())
    print(
        f"\ngateway CPU per submit {gw:.1f} ms: about {1000 / gw:.0f} submissions/s per core given to the gateway alone"
    )
    print(f"\npolling cost per finished job ({args.poll_jobs} receipt jobs each, one CPU worker)\n")
    print(f"{'client':<26} {'HTTP requests':>14} {'gateway Redis cmds':>19} {'knew after finish (ms)':>23}")
    print("-" * 85)
    for mode, label in (("wait", "long-poll ?wait=30"), ("poll", "poll every 500 ms")):
        p = poll[mode]
        print(f"{label:<26} {p['requests']:>14.1f} {p['commands']:>19.1f} {p['late_ms']:>23.0f}")
    print("\ntarget: >= 300 submissions/s on a 2-core machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
