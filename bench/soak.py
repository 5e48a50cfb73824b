"""Soak: does anything grow over a long run? RSS of every ocrq process and Redis memory, per job.

Starts the stack on loopback with bench/backfill.py's Service (a private redis-server, the gateway
under gunicorn with 2 workers, the RapidOCR worker, the webhook worker; local-folder store) plus a
second worker on the checksum engine, and a webhook receiver that verifies every signature
(bench/webhooks.py's). Then it submits, through the HTTP API as scanners do:

- checksum jobs (tiny distinct PNGs) on the `bulk` lane, which the checksum worker consumes, and
- RapidOCR jobs (the kit's receipts, each made distinct with a JPEG comment) on `interactive`,
  which the RapidOCR worker consumes,

evenly interleaved (one RapidOCR job every jobs/ocr-jobs), at most --window jobs in flight and
--ocr-window of them RapidOCR ones, which paces the run to the slower lane and keeps every queue
far shorter than the retention (a job still queued when it expires is canceled, not run). The
tenant has one webhook endpoint for job.succeeded, job.failed and job.canceled: a job is done when
its signed event arrives. Every --sample-every finished jobs it records the resident memory (VmRSS)
of the gateway's gunicorn arbiter and workers, each Celery worker's parent and pool child, the
webhook worker, and Redis `used_memory`.

Retention is short (OCRQ_RETENTION_S=60, the reaper's pass every second), so the expiry sweep runs
during the run and, once it ends, deletes everything; Redis memory is read again then and compared
with its value before the run. "Before" is read after a warm-up (--warmup jobs, run and expired):
every process has loaded and connected by then, and Redis has grown and shrunk its tables once
(after its first mass delete it keeps about 0.2 MiB of its own, however large the delete; the
cold figure is printed too). Worker recycling is off (OCRQ_WORKER_MAX_* = 0; --recycle
keeps the defaults): recycling would hide the growth this measures.

The table (MiB): mean and highest RSS in the second and in the last tenth of the run (by finished
jobs), and the growth between them: the least-squares line through every sample from the second
tenth on, in percent (from the middle of the second tenth to the middle of the last, of the second
tenth's mean) and in MiB per 10,000 jobs. A fitted line, not the difference of two means, because
the RapidOCR child's memory swings by 100 MiB with the image it last read. Target: under 5 % for
every process; Redis after expiry within 5 % of before.

    python bench/soak.py                      # 100,000 checksum + 2,000 RapidOCR jobs
    python bench/soak.py --jobs 20000         # 20,000 + 400
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backfill import Service, tiny_png  # noqa: E402
from bench.gateway import descendants  # noqa: E402
from bench.webhooks import Receiver  # noqa: E402
from cli.procs import free_port  # noqa: E402

RECEIPTS = next(p for p in (ROOT.parent / "shared" / "data" / "receipts", ROOT / "tests" / "data" / "receipts")
                if list(p.glob("*.jpg")))
TARGET_PCT = 5.0
RETENTION_S = 60  # the shortest allowed: the sweep expires jobs during the run and soon after it
STALL_S = 300.0  # no job finished for this long: something is stuck, stop


# ------------------------------------------------------------------------------ processes
def ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def children(pid: int) -> list[int]:
    return sorted(p for p in descendants(pid) if ppid(p) == pid)


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def processes(svc: Service, checksum_pid: int) -> dict[str, int]:
    """Role -> pid of every process measured, found afresh (a replaced process gets a new pid)."""
    out = {"gateway: gunicorn arbiter": svc.api.pid}  # `ocrq api` execs gunicorn
    for i, pid in enumerate(children(svc.api.pid), 1):
        out[f"gateway: worker {i}"] = pid
    for name, supervisor in (("RapidOCR worker", svc.worker.pid), ("checksum worker", checksum_pid)):
        for parent in children(supervisor)[:1]:  # `ocrq worker` -> celery main -> pool child
            out[f"{name}: parent"] = parent
            for k, child in enumerate(children(parent)):
                out[f"{name}: pool child" + (f" {k + 1}" if k else "")] = child
    out["webhook worker"] = svc.webhooks.pid  # `ocrq webhooks` execs celery (threads pool)
    return out


@dataclass
class Sample:
    done: int
    at: float
    rss: dict[str, float]
    pids: dict[str, int]
    redis_used: int
    redis_dataset: int
    redis_keys: int


def redis_memory(svc: Service) -> tuple[int, int, int]:
    info = svc.r.info("memory")
    return int(info["used_memory"]), int(info["used_memory_dataset"]), int(svc.r.dbsize())


# ------------------------------------------------------------------------------ load
def distinct_jpeg(data: bytes, i: int) -> bytes:
    """The same JPEG with a comment segment naming i: another sha256, the same pixels."""
    note = f"ocrq soak {i}".encode()
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(note) + 2) + note + data[2:]


EVENTS = ("job.succeeded", "job.failed", "job.canceled")


@dataclass
class Run:
    checksum_jobs: int
    ocr_jobs: int
    window: int  # jobs in flight at most
    ocr_window: int  # RapidOCR jobs in flight at most (the slow lane: its queue stays short)
    deadline: float
    rx: Receiver
    ids: list[tuple[str, str]] = field(default_factory=list)  # (job id, kind) of every accepted job
    rejected: list[str] = field(default_factory=list)
    ocr_pending: list[tuple[str, ...]] = field(default_factory=list)  # event ids of RapidOCR jobs in flight
    next_i: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: int = field(init=False)  # events the receiver had before this run (a warm-up's)

    def __post_init__(self) -> None:
        self.base = self.rx.count()

    @property
    def total(self) -> int:
        return self.checksum_jobs + self.ocr_jobs

    def kind(self, i: int) -> str:
        """OCR for one index in every total/ocr_jobs, evenly spread; checksum otherwise."""
        return "ocr" if (i + 1) * self.ocr_jobs // self.total > i * self.ocr_jobs // self.total else "checksum"

    def take(self) -> int | None:
        with self.lock:
            if self.next_i >= self.total:
                return None
            self.next_i += 1
            return self.next_i - 1

    def done(self) -> int:
        """This run's jobs whose final event arrived (any of EVENTS: one per job)."""
        return self.rx.count() - self.base

    def in_flight(self) -> int:
        with self.lock:
            return len(self.ids) - self.done()

    def ocr_in_flight(self) -> int:
        with self.lock, self.rx.lock:
            self.ocr_pending = [ev for ev in self.ocr_pending if not any(e in self.rx.received for e in ev)]
            return len(self.ocr_pending)

    def accepted(self, job_id: str, kind: str) -> None:
        from shared.webhooks.outbox import msg_id_for

        with self.lock:
            self.ids.append((job_id, kind))
            if kind == "ocr":
                self.ocr_pending.append(tuple(msg_id_for(job_id, e) for e in EVENTS))


def submitter(svc: Service, run: Run, receipts: list[bytes]) -> None:
    """Takes the next job of the interleaved sequence and submits it once the window allows; a
    RapidOCR job also waits for its lane's window, which paces the whole run to the slower lane."""
    http = requests.Session()
    http.headers.update(svc.headers)
    while (i := run.take()) is not None:
        kind = run.kind(i)
        while run.in_flight() >= run.window or (kind == "ocr" and run.ocr_in_flight() >= run.ocr_window):
            if time.monotonic() > run.deadline:
                return
            time.sleep(0.005)
        if kind == "ocr":
            files = {"file": (f"r{i}.jpg", distinct_jpeg(receipts[i % len(receipts)], i), "image/jpeg")}
            form = {"task": "text", "priority": "interactive"}
        else:
            files = {"file": (f"c{i}.png", tiny_png(i), "image/png")}
            form = {"task": "text", "priority": "bulk"}
        for attempt in range(5):  # 429/503 say when to come back; anything else is a finding
            r = http.post(f"{svc.url}/v1/jobs", files=files, data=form, timeout=60)
            if r.status_code == 202:
                run.accepted(r.json()["id"], kind)
                break
            if r.status_code not in (429, 503) or attempt == 4:
                with run.lock:
                    run.rejected.append(f"{r.status_code} {r.text[:200]}")
                break
            time.sleep(min(5.0, float(r.headers.get("Retry-After") or 1)))


# ------------------------------------------------------------------------------ the run
def start(work: Path, recycle: bool) -> tuple[Service, int, Receiver]:
    env = {
        "OCRQ_RETENTION_S": str(RETENTION_S),
        "OCRQ_REAPER_INTERVAL_S": "1",  # one expiry pass a second (200 jobs each at most)
        "OCRQ_RATE_PER_S": "100000", "OCRQ_RATE_BURST": "100000", "OCRQ_INTERACTIVE_QUEUE_MAX": "100000",
        "OCRQ_WEBHOOK_ALLOW_HTTP": "true", "OCRQ_WEBHOOK_ALLOW_PRIVATE": "127.0.0.0/8",
        "OCRQ_WEBHOOK_DNS": "hosts",  # no DNS query leaves the machine
        "OCRQ_METRICS_PORT": str(free_port()),
    }
    if not recycle:
        env |= {"OCRQ_WORKER_MAX_TASKS_PER_CHILD": "0", "OCRQ_WORKER_MAX_MEMORY_MB": "0"}
    svc = Service(work, env=env, api_workers=2, worker_args=("--gpus", "none", "--queues", "interactive"),
                  webhook_concurrency=4)
    checksum = svc.spawn("checksum", "worker", "--gpus", "none", "--queues", "bulk",
                         env={"OCRQ_ENGINE": "checksum", "OCRQ_METRICS_PORT": str(free_port())})
    svc.wait_ready(checksum, "checksum")
    from shared.webhooks.endpoints import EndpointStore

    ep = EndpointStore(svc.r).create("bench", "http://127.0.0.1:1/placeholder", list(EVENTS))
    rx = Receiver(ep.secret)
    svc.r.hset(EndpointStore.key(ep.id), "url", f"http://127.0.0.1:{rx.port}/wms")
    return svc, checksum.pid, rx


def wait_expired(svc: Service, retention_s: int, limit_s: float) -> float:
    """Until the sweep has deleted every job (none left on its list, no job record); seconds waited."""
    t0 = time.monotonic()
    time.sleep(retention_s)
    while time.monotonic() - t0 < limit_s:
        left = svc.r.zcard("ocrq:expiring") + sum(1 for _ in svc.r.scan_iter("ocrq:job:*", count=1000))
        if left == 0:
            time.sleep(5)  # one more reaper pass, and the webhook worker's last writes
            return time.monotonic() - t0
        time.sleep(2)
    raise SystemExit(f"jobs still not expired {limit_s:.0f} s after the run")


def key_kinds(svc: Service) -> dict[str, int]:
    """Keys by kind (the name up to its first id), for the after-expiry report."""
    kinds: dict[str, int] = {}
    for k in svc.r.scan_iter(count=1000):
        name = k.decode(errors="replace")
        parts = name.split(":")
        kind = ":".join(parts[:2]) if name.startswith("ocrq:") else parts[0][:24]
        kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items(), key=lambda kv: -kv[1]))


def in_tenth(samples: list[Sample], total: int, tenth: int, value: Callable[[Sample], float | None]) -> list[float]:
    lo, hi = tenth * total / 10, (tenth + 1) * total / 10
    return [v for s in samples if lo < s.done <= hi and (v := value(s)) is not None]


def trend(samples: list[Sample], total: int, value: Callable[[Sample], float | None]) -> float | None:
    """Least-squares slope of value per job over the second to the last tenth: a process whose
    memory swings with the job at hand (an image's buffers held until the next one) shows noise
    around a flat line, one that leaks shows the slope."""
    pts = [(float(s.done), v) for s in samples if s.done > total / 10 and (v := value(s)) is not None]
    if len(pts) < 3:
        return None
    mx, my = statistics.mean(x for x, _ in pts), statistics.mean(y for _, y in pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else None


def drive(svc: Service, run: Run, receipts: list[bytes], clients: int, every: int,
          sample: Callable[[int], None], work: Path) -> float:
    """Submit the run's jobs from ``clients`` threads until every one has ended; ``sample(done)``
    every ``every`` finished jobs. Returns the seconds it took; stops if nothing ends for STALL_S."""
    from shared.webhooks.outbox import msg_id_for

    t0 = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(submitter, svc, run, receipts) for _ in range(clients)]
        last_done, last_change, next_sample = 0, time.monotonic(), every
        while True:
            done = run.done()
            if done >= next_sample:
                sample(done)
                next_sample = (done // every + 1) * every
                print(f"{done:>7}/{run.total} done  {done / (time.monotonic() - t0):6.1f} jobs/s",
                      file=sys.stderr, flush=True)
            if all(f.done() for f in futures) and done >= len(run.ids):
                break
            if done != last_done:
                last_done, last_change = done, time.monotonic()
            elif time.monotonic() - last_change > STALL_S or time.monotonic() > run.deadline:
                missing = [f"{jid} ({kind})" for jid, kind in run.ids
                           if not any(msg_id_for(jid, e) in run.rx.received for e in EVENTS)]
                raise SystemExit(f"stalled at {done} of {len(run.ids)} finished jobs, e.g. {missing[:5]}; "
                                 f"logs in {work}")
            time.sleep(0.1)
        for f in futures:
            f.result()
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=100_000, help="checksum jobs")
    ap.add_argument("--ocr-jobs", type=int, default=None, help="RapidOCR jobs (default: 2 %% of --jobs)")
    ap.add_argument("--warmup", type=int, default=None,
                    help="jobs run and expired before the measured run (default: 1 %%, at least 200)")
    ap.add_argument("--sample-every", type=int, default=None, help="finished jobs between samples (default: 1 %%)")
    ap.add_argument("--window", type=int, default=64, help="jobs in flight at most")
    ap.add_argument("--ocr-window", type=int, default=3, help="RapidOCR jobs in flight at most")
    ap.add_argument("--clients", type=int, default=4, help="submitting threads")
    ap.add_argument("--recycle", action="store_true", help="keep the default worker recycling settings")
    ap.add_argument("--samples-out", type=Path, default=None, help="write every sample here (JSON lines)")
    ap.add_argument("--deadline-h", type=float, default=8.0, help="give up after this many hours")
    args = ap.parse_args()
    ocr_jobs = args.ocr_jobs if args.ocr_jobs is not None else args.jobs * 2 // 100
    total = args.jobs + ocr_jobs
    every = args.sample_every or max(1, total // 100)
    warm = args.warmup if args.warmup is not None else max(200, total // 100)
    warm_ocr = min(warm, max(1, warm * ocr_jobs // total)) if ocr_jobs else 0
    receipts = [p.read_bytes() for p in sorted(RECEIPTS.glob("*.jpg"))]
    deadline = time.monotonic() + args.deadline_h * 3600

    work = Path(tempfile.mkdtemp(prefix="ocrq-soak-"))
    svc, checksum_pid, rx = start(work, args.recycle)
    samples: list[Sample] = []
    from shared.webhooks.outbox import msg_id_for

    def sample(done: int) -> None:
        pids = processes(svc, checksum_pid)
        rss = {role: m for role, pid in pids.items() if (m := rss_mib(pid)) is not None}
        samples.append(Sample(done, time.monotonic(), rss, pids, *redis_memory(svc)))

    try:
        cold = redis_memory(svc)
        # Warm-up: every process has loaded, connected and seen each kind of job, and Redis has grown
        # and shrunk its tables once (it keeps ~0.2 MiB of its own after its first mass delete, however
        # large: not this run's). "Before" is read once the warm-up's jobs have expired.
        if warm:
            print(f"warm-up: {warm - warm_ocr} checksum + {warm_ocr} RapidOCR jobs, then their expiry",
                  file=sys.stderr, flush=True)
            warm_run = Run(warm - warm_ocr, warm_ocr, args.window, args.ocr_window, deadline, rx)
            drive(svc, warm_run, receipts, args.clients, warm + 1, lambda done: None, work)
            wait_expired(svc, RETENTION_S, 600 + warm / 50)
        before = redis_memory(svc)
        run = Run(args.jobs, ocr_jobs, args.window, args.ocr_window, deadline, rx)
        sample(0)
        elapsed = drive(svc, run, receipts, args.clients, every, sample, work)
        if samples[-1].done < run.done():
            sample(run.done())
        during_peak = max(s.redis_used for s in samples)
        waited = wait_expired(svc, RETENTION_S, 600 + total / 50)
        after = redis_memory(svc)
        kinds_after = key_kinds(svc)
        received = set(rx.received)
        ended = {e: sum(1 for jid, _ in run.ids if msg_id_for(jid, e) in received) for e in EVENTS}
        ok = ended["job.succeeded"]
        duplicates = rx.requests - len(received) - rx.bad
    finally:
        rx.stop()
        svc.stop()
    if args.samples_out:
        with args.samples_out.open("w") as out:
            for s_ in samples:
                out.write(json.dumps(asdict(s_)) + "\n")

    print(f"\nocrq soak — {args.jobs:,} checksum + {ocr_jobs:,} RapidOCR jobs through the API, webhooks on every "
          f"job; {os.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; recycling "
          f"{'default' if args.recycle else 'off'}; retention {RETENTION_S} s; after a warm-up of {warm} jobs")
    print(f"{len(run.ids):,} accepted, {len(run.rejected)} refused, {ok:,} succeeded, {ended['job.failed']} failed, "
          f"{ended['job.canceled']} canceled, "
          f"{duplicates} duplicate and {rx.bad} unverified deliveries; {elapsed / 60:.1f} min, "
          f"{len(run.ids) / elapsed:.1f} jobs/s; {len(samples)} samples, one every {every:,} jobs\n")
    roles = list(dict.fromkeys(r for s in samples for r in s.rss))
    head = (f"{'process':<30} {'2nd tenth: mean':>15} {'max':>6} {'last tenth: mean':>16} {'max':>6}"
            f" {'growth':>7} {'MiB/10k jobs':>12}  pids")
    print(head)
    print("-" * len(head))
    worst = 0.0

    def row(name: str, value: Callable[[Sample], float | None], pids: str, judged: bool = True) -> None:
        nonlocal worst
        a, b = in_tenth(samples, total, 1, value), in_tenth(samples, total, 9, value)
        slope = trend(samples, total, value)
        if not a or not b or slope is None:
            print(f"{name:<30} {'n/a':>15}")
            return
        # growth from the second tenth's middle to the last's, on the fitted line
        growth = slope * 0.8 * total / statistics.mean(a) * 100
        worst = max(worst, growth) if judged else worst
        print(f"{name:<30} {statistics.mean(a):>15.1f} {max(a):>6.1f} {statistics.mean(b):>16.1f} {max(b):>6.1f}"
              f" {growth:>+6.1f}% {slope * 10_000:>+12.2f}  {pids}")

    for role in roles:
        pid_set = list(dict.fromkeys(s.pids[role] for s in samples if role in s.pids))
        pids = str(pid_set[0]) if len(pid_set) == 1 else f"{len(pid_set)} pids (replaced {len(pid_set) - 1}x)"
        row(role, lambda s, r=role: s.rss.get(r), pids)
    # Redis holds the jobs of the last OCRQ_RETENTION_S: flat once the run is past its first minute,
    # which a short run's second tenth may not be; judged after the expiry sweep instead (below).
    row("redis used_memory", lambda s: s.redis_used / 2**20, f"(the last {RETENTION_S} s of jobs)", judged=False)
    b_used, b_data, b_keys = before
    a_used, a_data, a_keys = after
    diff = (a_used - b_used) / b_used * 100
    print(f"\nRedis used_memory: {cold[0] / 2**20:.2f} MiB before any job ({cold[2]} keys); before the run "
          f"{b_used / 2**20:.2f} MiB ({b_keys} keys), peak sampled {during_peak / 2**20:.2f} MiB, after the expiry "
          f"sweep {a_used / 2**20:.2f} MiB ({a_keys} keys): {diff:+.1f} % (dataset {b_data / 2**20:.2f} -> "
          f"{a_data / 2**20:.2f} MiB); swept {waited:.0f} s after the last job")
    print("keys left after expiry: " + ", ".join(f"{k} {n}" for k, n in kinds_after.items()))
    passed = worst < TARGET_PCT and abs(diff) < TARGET_PCT and ok == len(run.ids) and not run.rejected
    print(f"\ntarget: growth < {TARGET_PCT:.0f} % between the second and last tenths for every process "
          f"(worst {worst:+.1f} %), Redis after expiry within {TARGET_PCT:.0f} % of before ({diff:+.1f} %), "
          f"every job succeeded: {'MET' if passed else 'NOT MET'}")
    print(f"logs: {work}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
