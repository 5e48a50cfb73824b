"""What the service costs on top of the engine: throughput and added latency, measured side by side.

Starts its own redis-server, gateway and one CPU worker on loopback (local-folder store), then:
1. throughput: N receipt jobs through the service vs. the same images through the same engine called
   directly in this process (what `ocrq ocr` does), in alternating rounds so machine noise hits both;
2. added latency: one job at a time on the idle service (submit + long-poll) minus the direct call on
   the same image, paired call by call.

    python bench/overhead.py [--jobs 100] [--latency-runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli.ocr_cmd import ocr_file  # noqa: E402
from cli.procs import free_port, start_redis, stop_all, wait_for_port  # noqa: E402
from models.rapid import RapidOcrEngine  # noqa: E402
from shared.infra.redis_client import connect  # noqa: E402
from shared.infra.settings import load_settings  # noqa: E402
from shared.tenants import KeyStore  # noqa: E402

RECEIPTS = ROOT.parent / "shared" / "data" / "receipts"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


class Service:
    def __init__(self, tmp: Path) -> None:
        self.redis_port, self.port = free_port(), free_port()
        self.procs = [start_redis(tmp / "redis", self.redis_port)]
        self.env = {
            **os.environ,
            "OCRQ_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "OCRQ_STORAGE_URL": f"file://{tmp / 'blobs'}",
            "OCRQ_RATE_PER_S": "10000",
            "OCRQ_RATE_BURST": "10000",
        }
        self.key, _ = KeyStore(connect(self.env["OCRQ_REDIS_URL"])).create("bench")
        log = open(tmp / "service.log", "ab")
        cli = [sys.executable, "-m", "cli.main"]
        self.procs.append(
            subprocess.Popen(
                cli + ["api", "--port", str(self.port), "--workers", "1"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
        )
        self.procs.append(
            subprocess.Popen(
                cli + ["worker", "--gpus", "none", "--loglevel", "WARNING"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
        )
        wait_for_port(self.port, self.procs[1], 60)
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {self.key}"

    def submit(self, data: bytes) -> str:
        r = self.http.post(f"{self.url}/v1/jobs", files={"file": ("r.jpg", data)}, timeout=30)
        r.raise_for_status()
        return str(r.json()["id"])

    def wait(self, job_id: str, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.http.get(f"{self.url}/v1/jobs/{job_id}", params={"wait": 20}, timeout=40).json()
            if job["status"] in ("succeeded", "failed", "canceled"):
                return job
        raise TimeoutError(job_id)

    def stop(self) -> None:
        stop_all(self.procs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--latency-runs", type=int, default=20)
    args = ap.parse_args()

    images = [p.read_bytes() for p in sorted(RECEIPTS.glob("*.jpg"))]
    work = [images[i % len(images)] for i in range(args.jobs)]
    settings = load_settings()
    engine = RapidOcrEngine()
    ocr_file(images[0], settings, engine, "text")  # warm-up, as a worker's first job is

    with tempfile.TemporaryDirectory() as tmp:
        svc = Service(Path(tmp))
        try:
            svc.wait(svc.submit(images[0]), 120)  # the worker's warm-up
            direct_s = service_s = 0.0
            per_round = max(1, len(work) // args.rounds)
            for start in range(0, len(work), per_round):
                chunk = work[start : start + per_round]
                t0 = time.perf_counter()
                for data in chunk:
                    ocr_file(data, settings, engine, "text")
                direct_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                with ThreadPoolExecutor(8) as pool:
                    ids = list(pool.map(svc.submit, chunk))
                for job_id in ids:
                    assert svc.wait(job_id)["status"] == "succeeded"
                service_s += time.perf_counter() - t0

            small = images[1]
            added, direct_lat, service_lat = [], [], []
            for _ in range(args.latency_runs):
                t0 = time.perf_counter()
                ocr_file(small, settings, engine, "text")
                d = time.perf_counter() - t0
                t0 = time.perf_counter()
                svc.wait(svc.submit(small))
                s = time.perf_counter() - t0
                direct_lat.append(d * 1000)
                service_lat.append(s * 1000)
                added.append((s - d) * 1000)
        finally:
            svc.stop()

    n = len(work)
    print(
        f"\nocrq overhead benchmark — {n} receipt jobs, 1 CPU worker, {os.cpu_count()} cores, engine {engine.version}\n"
    )
    print(f"{'measure':<44} {'direct':>12} {'service':>12} {'ratio/added':>12}")
    print("-" * 82)
    print(
        f"{'throughput (images/s)':<44} {n / direct_s:>12.2f} {n / service_s:>12.2f} {(n / service_s) / (n / direct_s):>12.3f}"
    )
    print(
        f"{'single job latency p50 (ms)':<44} {statistics.median(direct_lat):>12.1f} {statistics.median(service_lat):>12.1f} {statistics.median(added):>+12.1f}"
    )
    print(
        f"{'single job latency p95 (ms)':<44} {pct(direct_lat, 0.95):>12.1f} {pct(service_lat, 0.95):>12.1f} {pct(added, 0.95):>+12.1f}"
    )
    print("\ntargets: throughput ratio >= 0.90; added p50 <= 50 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
