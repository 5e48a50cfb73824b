"""Documents benchmark, one table:

1. worker peak RSS rendering a long PDF vs a short one, page by page (each measurement in a fresh
   subprocess: peak RSS is a high-water mark). Target: peak RSS does not grow with the page count.
2. through the running service (its own redis-server, gateway, `ocrq worker`s, local store):
   - a 20-page PDF as one job vs the same 20 pages as 20 image jobs (JPEGs rendered from it at the
     worker's resolution), in alternating rounds: pages/s ratio, target >= 0.95;
   - the same document on 1 worker vs 2 workers with the checksum engine: speedup, target >= 1.8;
     the results of both runs must be identical (a checksum of every page's text).

    .venv/bin/python bench/documents.py                    # 500 vs 5 pages, then the service rows
    .venv/bin/python bench/documents.py --pages 100 --rounds 3
    .venv/bin/python bench/documents.py --skip-service     # the RSS rows only
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gateway import cpu_s, descendants  # noqa: E402  (the /proc CPU accounting bench/gateway.py uses)

RECEIPTS = ROOT.parent / "shared" / "data" / "receipts"


@dataclass
class Row:
    case: str
    value: str
    note: str = ""


class Service:
    """redis-server + gateway + n `ocrq worker` processes on loopback; nothing else is contacted."""

    def __init__(self, tmp: Path, engine: str) -> None:
        from cli.procs import free_port, start_redis, wait_for_port
        from shared.infra.redis_client import connect
        from shared.tenants import KeyStore

        self.tmp, self.redis_port, self.port = tmp, free_port(), free_port()
        self.procs = [start_redis(tmp / "redis", self.redis_port)]
        self.workers: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            "OCRQ_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "OCRQ_STORAGE_URL": f"file://{tmp / 'blobs'}",
            "OCRQ_ENGINE": engine,
            "OCRQ_RATE_PER_S": "10000",
            "OCRQ_RATE_BURST": "10000",
            "OCRQ_LOG_LEVEL": "INFO",
        }
        self.key, _ = KeyStore(connect(self.env["OCRQ_REDIS_URL"])).create("bench")
        api = subprocess.Popen([sys.executable, "-m", "cli.main", "api", "--port", str(self.port), "--workers", "1"],
                               env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(api)
        wait_for_port(self.port, api, 60)
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {self.key}"

    def set_workers(self, n: int) -> None:
        from cli.procs import stop_all

        while len(self.workers) > n:
            stop_all([self.workers.pop()])
        while len(self.workers) < n:
            log_path = self.tmp / f"worker{len(self.workers)}-{time.monotonic_ns()}.log"
            log = open(log_path, "ab")
            proc = subprocess.Popen([sys.executable, "-m", "cli.main", "worker", "--gpus", "none"], env=self.env,
                                    cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 120
            while " ready." not in log_path.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.2)
            self.workers.append(proc)

    def run(self, files: list[tuple[str, bytes]]) -> tuple[float, list[dict]]:
        """Submit every file at once, wait for all; (seconds from first submit to last result, results)."""
        t0 = time.perf_counter()
        ids = []
        for name, data in files:
            r = self.http.post(f"{self.url}/v1/jobs", files={"file": (name, data)}, timeout=60)
            r.raise_for_status()
            ids.append(r.json()["id"])
        results = []
        deadline = time.monotonic() + 1800
        for job_id in ids:
            while True:
                job = self.http.get(f"{self.url}/v1/jobs/{job_id}", params={"wait": 20}, timeout=40).json()
                if job["status"] in ("succeeded", "failed", "canceled"):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(job_id)
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error')}")
            results.append(job["result"])
        return time.perf_counter() - t0, results

    def stop(self) -> None:
        from cli.procs import stop_all

        stop_all(self.procs + self.workers)


def page_jpegs(pdf: Path, dpi: int) -> list[tuple[str, bytes]]:
    """The document's pages as the images a scanner would have sent one by one."""
    from shared.intake import documents, rendering

    out = []
    pages = documents.inspect_document(pdf.read_bytes(), max_pages=100_000).pages_total
    for n in range(1, pages + 1):
        buf = io.BytesIO()
        rendering.render_page(pdf, n, dpi=dpi, time_limit_s=None).image.save(buf, "JPEG", quality=92)
        out.append((f"page{n}.jpg", buf.getvalue()))
    return out


def page_texts_digest(results: list[dict]) -> str:
    texts = [p["text"] for r in results for p in r["pages"]]
    return hashlib.sha256("\f".join(texts).encode()).hexdigest()[:12]


def service_rows(pages: int, rounds: int, engine: str, dpi: int) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        pdf = tmp / "delivery-notes.pdf"
        make_pdf(pdf, pages)
        doc = [("delivery-notes.pdf", pdf.read_bytes())]
        images = page_jpegs(pdf, dpi)
        svc = Service(tmp, engine)
        try:
            svc.set_workers(1)
            svc.run(images[:2])  # warm: engine loaded, first render helper started
            as_doc, as_images = [], []
            for _ in range(rounds):  # alternate, so machine noise falls on both
                as_doc.append(pages / svc.run(doc)[0])
                as_images.append(pages / svc.run(images)[0])
            d, i = statistics.median(as_doc), statistics.median(as_images)
            rows.append(Row(f"{pages}-page PDF as 1 job, {engine}", f"{d:.2f} pages/s", f"median of {rounds}"))
            rows.append(Row(f"same {pages} pages as {pages} image jobs", f"{i:.2f} pages/s", f"median of {rounds}"))
            rows.append(Row("ratio document / images", f"{d / i:.2f}", "target >= 0.95"))

            speed: dict[int, list[float]] = {1: [], 2: []}
            busy: dict[int, list[float]] = {1: [], 2: []}  # CPU cores the whole service kept busy
            digests: set[str] = set()
            for _ in range(rounds):
                for n in (1, 2):
                    svc.set_workers(n)
                    svc.run(doc)  # warm: a newly started worker's engine, render helper and file cache
                    pids = [p for proc in svc.procs + svc.workers for p in descendants(proc.pid)]
                    cpu0 = cpu_s(pids)
                    elapsed, results = svc.run(doc)
                    busy[n].append((cpu_s(pids) - cpu0) / elapsed)
                    speed[n].append(pages / elapsed)
                    digests.add(page_texts_digest(results))
            one, two = statistics.median(speed[1]), statistics.median(speed[2])
            for n, value in ((1, one), (2, two)):
                cores = statistics.median(busy[n])
                rows.append(Row(f"{pages}-page PDF, {n} worker{'s' if n > 1 else ''}, {engine}", f"{value:.2f} pages/s",
                                f"median of {rounds}; service busy {cores:.2f} of {os.cpu_count()} cores"))
            same = "identical" if len(digests) == 1 else f"DIFFER: {sorted(digests)}"
            rows.append(Row("speedup 2 workers / 1", f"{two / one:.2f}",
                            f"target >= 1.8; page texts {same} ({os.cpu_count()} CPUs here)"))
        finally:
            svc.stop()
    return rows


def make_pdf(path: Path, pages: int) -> None:
    """Scans on A4 pages, each page with its own text so no two pages are identical."""
    from reportlab.pdfgen import canvas

    scans = sorted(RECEIPTS.glob("*.jpg")) if RECEIPTS.is_dir() else []
    pdf = canvas.Canvas(str(path))
    for n in range(pages):
        if scans:
            pdf.drawImage(str(scans[n % len(scans)]), 60, 60, 400, 700)
        pdf.setFont("Helvetica", 14)
        pdf.drawString(60, 800, f"page {n + 1} of {pages}: delivery note {n * 7919 % 100000:05d}")
        pdf.showPage()
    pdf.save()


def measure(path: Path, mode: str, dpi: int, max_side: int) -> dict[str, float]:
    """Runs inside the measuring subprocess: render every page, report peak RSS and speed."""
    from shared.intake import documents, rendering

    pages = documents.inspect_document(path.read_bytes(), max_pages=100_000).pages_total
    renderer = rendering.PageRenderer()
    started = time.perf_counter()
    for n in range(1, pages + 1):
        if mode == "in-process":
            page = rendering.render_page(path, n, dpi=dpi, max_side=max_side, time_limit_s=None)
        else:
            page = renderer.render(path, n, dpi=dpi, max_side=max_side, time_limit_s=60)
        del page
    elapsed = time.perf_counter() - started
    renderer.close()  # a waited-for child: its peak lands in RUSAGE_CHILDREN
    return {
        "pages": pages,
        "ms_per_page": 1000 * elapsed / pages,
        "self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "renderer_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if mode != "in-process" else 0,
    }


def run_measure(path: Path, mode: str, dpi: int, max_side: int) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--measure",
        str(path),
        "--mode",
        mode,
        "--dpi",
        str(dpi),
        "--max-side",
        str(max_side),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rss_rows(long_pages: int, short_pages: int, dpi: int, max_side: int) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        docs = {}
        for pages in (short_pages, long_pages):
            docs[pages] = Path(tmp) / f"doc{pages}.pdf"
            make_pdf(docs[pages], pages)
        for mode in ("in-process", "helper"):
            results = {pages: run_measure(path, mode, dpi, max_side) for pages, path in docs.items()}
            for pages, r in results.items():
                peak = r["renderer_mb"] if mode == "helper" else r["self_mb"]
                who = "renderer process" if mode == "helper" else "worker process"
                rows.append(Row(f"peak RSS, {pages}-page PDF, {mode}", f"{peak:.0f} MiB",
                                f"{who}; {r['ms_per_page']:.0f} ms/page; caller {r['self_mb']:.0f} MiB"))  # fmt: skip
            growth = (
                (results[long_pages]["renderer_mb" if mode == "helper" else "self_mb"])
                / (results[short_pages]["renderer_mb" if mode == "helper" else "self_mb"])
            )
            rows.append(Row(f"RSS ratio {long_pages}/{short_pages} pages, {mode}", f"{growth:.2f}", "target ~1.0"))
    return rows


def print_table(rows: list[Row]) -> None:
    width = max(len(r.case) for r in rows)
    vwidth = max(len(r.value) for r in rows)
    print(f"{'case':<{width}}  {'value':>{vwidth}}  note")
    for r in rows:
        print(f"{r.case:<{width}}  {r.value:>{vwidth}}  {r.note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--short-pages", type=int, default=5)
    parser.add_argument("--dpi", type=int, default=200)
    parser.add_argument("--max-side", type=int, default=2048)
    parser.add_argument("--service-pages", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--engine", default="checksum", help="engine of the service rows (checksum, rapidocr)")
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="helper", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.mode, args.dpi, args.max_side)))
        return
    rows = [] if args.skip_rss else rss_rows(args.pages, args.short_pages, args.dpi, args.max_side)
    if not args.skip_service:
        rows += service_rows(args.service_pages, args.rounds, args.engine, args.dpi)
    print_table(rows)


if __name__ == "__main__":
    main()
