"""Outages under load (issues 17, 24): Redis SIGKILLed or shut down, the store refused or hung,
while scanners submit.

Starts its own redis-server (AOF), moto_server (S3; MinIO in production) behind tests/faultproxy.py,
one gateway (gunicorn, 16 threads) and one worker with the checksum engine, all on loopback, with
the default settings (the lease, the reaper's interval and OCRQ_QUEUED_RESEND_S included: `--env`
changes them). Client threads submit unique PNGs at a steady rate (`--rate 0`: as fast as they
are answered, which builds a backlog), each with its own Idempotency-Key, retried after
Retry-After on 503/409/429/5xx and on dropped connections (bounded tries and time), as a careful
integrator would. Meanwhile a schedule kills Redis (SIGKILL) or shuts it down (SHUTDOWN: saves,
closes every connection), restarting it on the same port and AOF, and switches the store's proxy
to refuse or hang; a probe GETs /healthz every 100 ms throughout.

At the end every key is submitted once more (a key that still answers 409 is stuck), every job
that got a 202 is followed to its end, its result is checked against the checksum of its own
image, and the worker's `finished` log lines tell whether any job succeeded more than once. Each
job accepted before a Redis outage ended and finished after it is timed from Redis returning to
its end: a message lost in a worker's hands shows there (900 s, OCRQ_QUEUED_RESEND_S, before
issue 24), or as a job not finished after the drain. Under a backlog that time includes the wait
behind the backlog: compare it with when the last job ended. What tells a stall from a backlog is
"overtaken": how long a job ended after the first job submitted after it ended. A backlog delays
jobs in order; a stalled job is overtaken by everything queued behind it.

    python bench/outages.py                     # ~3 minutes: 3 Redis kills, 1 x 20 s refuse, 1 x 20 s hang
    python bench/outages.py --redis-kills 5 --refuses 2 --refuse-s 60 --hangs 1 --hang-s 45   # issue 17's soak
    python bench/outages.py --redis-kills 3 --redis-shutdowns 2 --refuses 0 --hangs 0 --clients 8 --rate 0 \
        --drain-s 1200                          # issue 24: Redis outages under a backlog
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli.procs import free_port, start_redis, stop_all, wait_for_port  # noqa: E402
from models.checksum import checksum_text  # noqa: E402
from shared.infra.redis_client import connect  # noqa: E402
from shared.tenants import KeyStore  # noqa: E402
from tests.faultproxy import FaultProxy  # noqa: E402

BUCKET = "ocrq-outages"
RETRY_STATUSES = {409, 429, 500, 502, 503, 504}
GRACE_S = 1.0  # answers this soon after an outage ends still count as "during" it
# ...and this soon after, as its recovery (the storage breaker's cool-down is 5 s, a worker's
# Redis reconnect a few seconds): labelled "<kind> after".
RECOVERY_S = 10.0


def png(i: int) -> bytes:
    img = Image.new("RGB", (160, 80), (255, 255, 255))
    for b in range(24):  # the submit number in pixels: every image (and its checksum) differs
        if i >> b & 1:
            img.putpixel((4 + b * 6, 40), (0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


@dataclass
class Window:
    kind: str  # redis (SIGKILL) | shutdown (Redis SHUTDOWN) | refuse | hang
    start: float
    end: float = float("inf")
    end_wall: float = float("inf")  # time.time() when it ended (jobs' finished_at are wall-clock)

    @property
    def redis(self) -> bool:
        return self.kind in ("redis", "shutdown")


@dataclass
class Record:
    windows: list[Window] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # (phase, what) -> count; what is "503 +RA", "409 -RA", "conn_error", ...
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    accepted: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (job id, image number)
    gave_up: dict[str, int] = field(default_factory=dict)  # key -> image number
    hard: list[str] = field(default_factory=list)  # answers no retry can fix (4xx other than 409/429)
    health: list[tuple[float, float, bool]] = field(default_factory=list)  # (t, seconds, ok)
    history: dict[str, list[str]] = field(default_factory=dict)  # key -> its answers, for keys that saw a 409

    def phase(self, t0: float, t1: float) -> str:
        with self.lock:
            kinds = {w.kind for w in self.windows if t0 <= w.end + GRACE_S and t1 >= w.start}
            after = {f"{w.kind} after" for w in self.windows if w.end + GRACE_S < t0 <= w.end + RECOVERY_S}
        return "+".join(sorted(kinds or after)) or "steady"

    def error(self, t0: float, t1: float, what: str) -> None:
        phase = self.phase(t0, t1)
        with self.lock:
            self.errors[(phase, what)] += 1


class Stack:
    def __init__(self, tmp: Path, extra_env: dict[str, str]) -> None:
        self.tmp = tmp
        self.redis_port, s3_port, self.port = free_port(), free_port(), free_port()
        self.redis = start_redis(tmp / "redis", self.redis_port)
        exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
        self.moto = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(s3_port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(s3_port, self.moto, 30)
        from minio import Minio

        Minio(f"127.0.0.1:{s3_port}", access_key="bench", secret_key="bench", secure=False).make_bucket(BUCKET)
        self.proxy = FaultProxy(s3_port).start()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.env = {
            **os.environ, "OCRQ_REDIS_URL": self.redis_url, "OCRQ_STORAGE_URL": f"s3://{BUCKET}",
            "OCRQ_S3_ENDPOINT": self.proxy.address, "OCRQ_S3_ACCESS_KEY": "bench", "OCRQ_S3_SECRET_KEY": "bench",
            "OCRQ_S3_SECURE": "false", "OCRQ_ENGINE": "checksum", "OCRQ_RATE_PER_S": "1000000",
            "OCRQ_RATE_BURST": "1000000", "OCRQ_INTERACTIVE_QUEUE_MAX": "10000000",
            "OCRQ_METRICS_PORT": str(free_port()), "OCRQ_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        self.key, _ = KeyStore(connect(self.redis_url)).create("bench")
        self.api = self._spawn("api", "api", "--port", str(self.port), "--workers", "1", "--threads", "16")
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            raise TimeoutError("gateway not ready")
        self.worker = self._spawn("worker", "worker", "--gpus", "none")
        deadline = time.monotonic() + 60
        while " ready." not in (tmp / "worker.log").read_text(errors="replace"):
            if time.monotonic() > deadline or self.worker.poll() is not None:
                raise RuntimeError("worker did not start: " + (tmp / "worker.log").read_text()[-2000:])
            time.sleep(0.2)

    def _spawn(self, log: str, *args: str) -> subprocess.Popen[bytes]:
        out = open(self.tmp / f"{log}.log", "ab")
        return subprocess.Popen([sys.executable, "-m", "cli.main", *args], env=self.env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)

    def kill_redis(self, down_s: float, *, shutdown: bool = False) -> None:
        if shutdown:  # SHUTDOWN: the AOF is flushed, every client connection closed, the process exits
            try:
                connect(self.redis_url).shutdown()
            except Exception:  # redis-py reports the closed connection of a SHUTDOWN that worked
                pass
            try:
                self.redis.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.redis.kill()
        else:
            self.redis.kill()  # SIGKILL: no shutdown save; the AOF (fsync every second) is what comes back
        self.redis.wait()
        time.sleep(down_s)
        self.redis = start_redis(self.tmp / "redis", self.redis_port)

    def stop(self) -> None:
        stop_all([self.worker, self.api])
        self.proxy.stop()
        stop_all([self.moto, self.redis])


def submit_until_answered(stack: Stack, rec: Record, http: requests.Session, key: str, i: int,
                          max_tries: int, max_s: float) -> str | None:
    """POST one image with its Idempotency-Key until a 202 (or 200), as a careful client would."""
    data = png(i)
    deadline = time.monotonic() + max_s
    seen: list[str] = []
    for _ in range(max_tries):
        if time.monotonic() > deadline:
            break
        t0 = time.monotonic()
        try:
            r = http.post(f"{stack.url}/v1/jobs", headers={"Idempotency-Key": key},
                          files={"file": (f"{i}.png", data, "image/png")}, timeout=30)
        except requests.RequestException as err:
            rec.error(t0, time.monotonic(), "conn_error")
            seen.append(f"{rec.phase(t0, time.monotonic())} {time.monotonic() - t0:.1f}s {type(err).__name__}")
            time.sleep(1.0)
            continue
        t1 = time.monotonic()
        seen.append(f"{rec.phase(t0, t1)} {t1 - t0:.1f}s {r.status_code}")
        if r.status_code == 409:
            with rec.lock:
                rec.history[key] = seen
        if r.status_code in (200, 201, 202):
            return str(r.json()["id"])
        ra = r.headers.get("Retry-After")
        try:
            code = str(r.json().get("type", "")).rsplit(":", 1)[-1]
        except ValueError:
            code = "not-json"
        rec.error(t0, t1, f"{r.status_code} {'+RA' if ra else '-RA'} {code}")
        if r.status_code not in RETRY_STATUSES:
            with rec.lock:
                rec.hard.append(f"{r.status_code} {r.text[:120]}")
            return None
        try:
            wait = float(ra) if ra else 1.0
        except ValueError:
            wait = 1.0
        time.sleep(min(5.0, max(0.2, wait)))
    return None


def client(stack: Stack, rec: Record, counter: list[int], lock: threading.Lock, stop: threading.Event,
           interval_s: float, max_tries: int, max_s: float) -> None:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {stack.key}"
    next_t = time.monotonic()
    while not stop.is_set():
        with lock:
            i = counter[0]
            counter[0] += 1
        key = str(uuid.uuid4())
        job_id = submit_until_answered(stack, rec, http, key, i, max_tries, max_s)
        with rec.lock:
            if job_id:
                rec.accepted[key] = (job_id, i)
            else:
                rec.gave_up[key] = i
        next_t += interval_s
        stop.wait(max(0.0, next_t - time.monotonic()))


def health_probe(url: str, rec: Record, stop: threading.Event) -> None:
    http = requests.Session()
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            ok = http.get(f"{url}/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            ok = False
        took = time.monotonic() - t0
        with rec.lock:
            rec.health.append((t0, took, ok))
        stop.wait(max(0.0, 0.1 - took))


def schedule(args: argparse.Namespace) -> list[tuple[str, float]]:
    """Outages spread over the run with a steady gap between them: Redis kills interleaved with
    the store's refuse and hang windows."""
    store = [("refuse", args.refuse_s)] * args.refuses + [("hang", args.hang_s)] * args.hangs
    out: list[tuple[str, float]] = []
    redis: list[str] = []  # kills and shutdowns alternate while both last
    for i in range(max(args.redis_kills, args.redis_shutdowns)):
        redis += (["redis"] if i < args.redis_kills else []) + (["shutdown"] if i < args.redis_shutdowns else [])
    kills = len(redis)
    slots = len(store) + 1
    taken = 0
    for n in range(slots):
        share = kills // slots + (1 if n < kills % slots else 0)
        out += [(k, args.redis_down_s) for k in redis[taken:taken + share]]
        taken += share
        if n < len(store):
            out.append(store[n])
    return out


def run_outages(stack: Stack, rec: Record, args: argparse.Namespace) -> None:
    time.sleep(args.gap_s)
    for kind, length in schedule(args):
        w = Window(kind, time.monotonic())
        with rec.lock:
            rec.windows.append(w)
        if kind in ("redis", "shutdown"):
            stack.kill_redis(length, shutdown=kind == "shutdown")
        else:
            stack.proxy.set_mode("refuse" if kind == "refuse" else "hang")
            time.sleep(length)
            stack.proxy.set_mode("pass")
        w.end, w.end_wall = time.monotonic(), time.time()
        print(f"  {kind:<8} {w.end - w.start:5.1f} s", flush=True)
        time.sleep(args.gap_s)


def finished_lines(log: Path) -> Counter[str]:
    """job id -> how many times the worker logged it finished as succeeded."""
    out: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        if '"finished"' not in line:
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if doc.get("message") == "finished" and doc.get("status") == "succeeded":
            out[doc.get("job_id", "")] += 1
    return out


def check(stack: Stack, rec: Record, drain_s: float) -> dict[str, object]:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {stack.key}"
    # Every key once more, nothing else changing: a key that still answers 409 is stuck.
    stuck, mismatched = 0, 0
    for key, i in list(rec.gave_up.items()):
        job_id = submit_until_answered(stack, Record(), http, key, i, 5, 30)
        if job_id:
            rec.accepted[key] = (job_id, i)
        else:
            stuck += 1
    for key, (job_id, i) in list(rec.accepted.items()):
        r = http.post(f"{stack.url}/v1/jobs", headers={"Idempotency-Key": key},
                      files={"file": (f"{i}.png", png(i), "image/png")}, timeout=30)
        if r.status_code == 409:
            stuck += 1
        elif r.status_code in (200, 201, 202) and r.json()["id"] != job_id:
            mismatched += 1
    statuses: Counter[str] = Counter()
    wrong_result = 0
    times: dict[str, tuple[float, float]] = {}  # job id -> (created, finished), wall clock
    deadline = time.monotonic() + drain_s
    for _key, (job_id, i) in rec.accepted.items():
        status = "?"
        while time.monotonic() < deadline:
            try:
                r = http.get(f"{stack.url}/v1/jobs/{job_id}", params={"wait": 10}, timeout=30)
            except requests.RequestException:
                time.sleep(1)
                continue
            if r.status_code != 200:
                time.sleep(1)
                continue
            doc = r.json()
            status = doc["status"]
            if status in ("succeeded", "failed", "canceled"):
                if doc.get("finished_at"):
                    times[job_id] = (wall(doc["created_at"]), wall(doc["finished_at"]))
                break
        statuses[status] += 1
        if status == "succeeded":
            res = http.get(f"{stack.url}/v1/jobs/{job_id}/result", timeout=30)
            expected = checksum_text(Image.open(io.BytesIO(png(i))).convert("RGB"))
            if res.status_code != 200 or res.json().get("text") != expected:
                wrong_result += 1
    once = finished_lines(stack.tmp / "worker.log")
    ids = {job_id for job_id, _ in rec.accepted.values()}
    return {"statuses": statuses, "stuck": stuck, "mismatched": mismatched, "wrong_result": wrong_result,
            "doubled": sum(1 for j in ids if once[j] > 1),
            "succeeded_once": sum(1 for j in ids if once[j] == 1), "times": times}


def wall(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def after_redis(rec: Record, times: dict[str, tuple[float, float]]) -> tuple[list[float], float | None]:
    """Seconds from Redis returning to the end of each job accepted before a Redis outage ended and
    finished after it (from the last such return), and the last job's end after the last return."""
    returns = sorted(w.end_wall for w in rec.windows if w.redis)
    waits = []
    for created, finished in times.values():
        around = [t for t in returns if created <= t <= finished]
        if around:
            waits.append(finished - around[-1])
    last = max((f for _, f in times.values()), default=None)
    return waits, (last - returns[-1]) if returns and last is not None else None


def overtaken(times: dict[str, tuple[float, float]]) -> list[float]:
    """For each job, how long after the earliest end of any job submitted after it it ended (0 when
    none ended before it). A backlog delays every job alike and in order; a stalled job (a message
    lost with a connection and waiting for a re-send) is overtaken by everything queued behind it."""
    ordered = sorted(times.values())  # by creation
    late, earliest_after = [], float("inf")
    for _created, finished in reversed(ordered):
        late.append(max(0.0, finished - earliest_after))
        earliest_after = min(earliest_after, finished)
    return late


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis-kills", type=int, default=3)
    ap.add_argument("--redis-shutdowns", type=int, default=0, help="Redis SHUTDOWNs (interleaved with the kills)")
    ap.add_argument("--redis-down-s", type=float, default=2.0, help="how long Redis stays down per kill or shutdown")
    ap.add_argument("--refuses", type=int, default=1)
    ap.add_argument("--refuse-s", type=float, default=20.0)
    ap.add_argument("--hangs", type=int, default=1)
    ap.add_argument("--hang-s", type=float, default=20.0)
    ap.add_argument("--gap-s", type=float, default=15.0, help="steady load before, between and after outages")
    ap.add_argument("--rate", type=float, default=4.0,
                    help="new submits per second, all clients together (0: no pacing, each client submits at once again)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--max-tries", type=int, default=60, help="tries per key before the client gives up")
    ap.add_argument("--drain-s", type=float, default=240.0, help="bound on following the accepted jobs to the end")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra OCRQ_ setting")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (logs, Redis data)")
    args = ap.parse_args()
    extra = dict(e.split("=", 1) for e in args.env)
    tmp = Path(tempfile.mkdtemp(prefix="ocrq-outages-"))
    print(f"stack in {tmp}; outages: " + ", ".join(f"{k} {s:g}s" for k, s in schedule(args)), flush=True)
    stack = Stack(tmp, extra)
    rec = Record()
    stop = threading.Event()
    counter, lock = [0], threading.Lock()
    threads = [threading.Thread(target=health_probe, args=(stack.url, rec, stop), daemon=True)]
    threads += [threading.Thread(target=client, daemon=True,
                                 args=(stack, rec, counter, lock, stop,
                                       args.clients / args.rate if args.rate > 0 else 0.0, args.max_tries, 300.0))
                for _ in range(args.clients)]
    t_start = time.monotonic()
    try:
        for t in threads:
            t.start()
        run_outages(stack, rec, args)
        stop.set()
        for t in threads:
            t.join(timeout=330)
        load_s = time.monotonic() - t_start
        result = check(stack, rec, args.drain_s)
    finally:
        stop.set()
        stack.stop()
    report(rec, result, load_s, args)
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"logs kept in {tmp}")
    return 0


def report(rec: Record, res: dict[str, object], load_s: float, args: argparse.Namespace) -> None:
    statuses: Counter[str] = res["statuses"]  # type: ignore[assignment]
    accepted = len(rec.accepted)
    outage_health = [s for t, s, _ in rec.health if rec.phase(t, t + s) != "steady"]
    all_health = [s for _, s, _ in rec.health]
    failed_health = sum(1 for _, _, ok in rec.health if not ok)
    kinds = Counter(w.kind for w in rec.windows)
    waits, last = after_redis(rec, res["times"])  # type: ignore[arg-type]
    pace = f"at {args.rate:g} submits/s" if args.rate > 0 else "unpaced"
    print()
    print(f"load {load_s:.0f} s {pace} ({args.clients} clients); outages: "
          f"{kinds['redis']} Redis SIGKILL + {kinds['shutdown']} SHUTDOWN ({args.redis_down_s:g} s down), "
          f"{kinds['refuse']} x {args.refuse_s:g} s store refused, {kinds['hang']} x {args.hang_s:g} s store hung")
    rows = [
        ("202s (distinct jobs accepted)", str(accepted)),
        ("jobs ending succeeded", str(statuses.get("succeeded", 0))),
        ("  ... exactly once (worker log)", str(res["succeeded_once"])),
        ("  ... more than once", str(res["doubled"])),
        ("  ... result not its own image's", str(res["wrong_result"])),
        ("jobs ending failed / canceled", f"{statuses.get('failed', 0)} / {statuses.get('canceled', 0)}"),
        ("jobs not finished after the drain", str(sum(v for k, v in statuses.items()
                                                      if k not in ("succeeded", "failed", "canceled")))),
        ("jobs accepted before a Redis outage ended, ended after", str(len(waits))),
        ("  ... Redis back -> job end, p50 / p99 / max (s)",
         f"{pct(waits, .5):.1f} / {pct(waits, .99):.1f} / {max(waits, default=float('nan')):.1f}"),
        ("  ... ending more than 60 s after Redis returned", str(sum(1 for w in waits if w > 60))),
        ("jobs overtaken by more than 60 s (stalled, not queued)",
         str(sum(1 for w in overtaken(res["times"]) if w > 60))),  # type: ignore[arg-type]
        ("  ... the longest (s)", f"{max(overtaken(res['times']), default=0.0):.1f}"),  # type: ignore[arg-type]
        ("last job ended, after the last Redis return (s)", "-" if last is None else f"{last:.1f}"),
        ("keys given up by clients (then retried)", str(len(rec.gave_up))),
        ("stuck idempotency keys (409 at the end)", str(res["stuck"])),
        ("keys answering another job", str(res["mismatched"])),
        ("answers no retry could fix (4xx)", str(len(rec.hard))),
        ("/healthz p50 / p99 / max, all run (ms)",
         f"{pct(all_health, .5) * 1000:.1f} / {pct(all_health, .99) * 1000:.1f} / {max(all_health) * 1000:.1f}"),
        ("/healthz p99 during outages (ms)", f"{pct(outage_health, .99) * 1000:.1f}"),
        ("/healthz failed probes", f"{failed_health} of {len(rec.health)}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print()
    print("client errors by phase (answer, +RA: with Retry-After; conn_error: no HTTP answer)")
    for (phase, what), n in sorted(rec.errors.items()):
        print(f"  {phase:<14} {what:<32} {n}")
    if rec.hard:
        print("first unfixable answers:", *rec.hard[:3], sep="\n  ")
    if rec.history:
        print("answers to the first keys that saw a 409 (phase, time to answer, status):")
        for key, seen in list(rec.history.items())[:4]:
            print(f"  {key[:8]}: " + "; ".join(seen))


if __name__ == "__main__":
    sys.exit(main())
