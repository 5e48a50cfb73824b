"""Redis with Sentinel: what OCRQ_REDIS_MIN_REPLICAS=1 costs a submit, and what a failover costs a client.

Starts its own Redis primary, two replicas and three Sentinels on loopback (tests/redis_ha.py;
down-after 1 s, failover-timeout 3 s), and three gateways in this process (create_app + Flask's
test_client, the real Celery producer on the Sentinel broker, a local-folder store), all on the
same Sentinel URL: OCRQ_REDIS_MIN_REPLICAS=0 (no WAIT), =1 (WAIT for every live replica, at least
one: what ocrq does), and "wait_1_of_2", the check ocrq had before (WAIT 1 whatever the replicas).
Then:

1. submit latency: --submits unique small PNGs to each gateway, alternating one by one (same
   Redis, same moment), each with its own Idempotency-Key; every answer must be 202;
2. one failover: a steady submitter per gateway (one request in flight, --pause-ms between; it
   does not sleep Retry-After, so the window is seen at that resolution) while the primary is
   SIGKILLed; the longest window of refusals is from the send of the first refused request to the
   send of the next accepted one. Afterwards every job that got a 202 is looked up: one missing is
   a job lost with the primary;
3. the same on a fresh group, but the replicas are SIGSTOPped for --stall-s first (a lagging
   replica) and resumed just after the kill: the window asynchronous replication leaves. With 0,
   jobs answered 202 during the stall are gone; with 1 those submits got 503 instead;
4. the same with only ONE replica stalled, and that one preferred by the Sentinels
   (replica-priority): they promote the replica that lacks what the other confirmed. WAIT 1 of 2
   answered 202 for it; waiting for every live replica answered 503.

    python bench/failover.py [--submits 300] [--pause-ms 20] [--after-s 10] [--stall-s 1]
"""

from __future__ import annotations

import argparse
import io
import logging
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from redis_ha import RedisHA  # type: ignore[import-not-found]  # noqa: E402

from api.app import create_app  # noqa: E402
from api.context import EXTENSION  # noqa: E402
from shared.infra.redis_client import connect, wait_for_replicas  # noqa: E402
from shared.infra.settings import load_settings  # noqa: E402
from shared.tenants import KeyStore  # noqa: E402


def png(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (i % 256, (i // 256) % 256, (i // 65536) % 256)).save(buf, "PNG")
    return buf.getvalue()


@dataclass
class Gateway:
    name: str
    client: Any  # flask.testing.FlaskClient
    headers: dict[str, str]
    counter: int = 0
    seed: int = 0  # distinct images per gateway
    refusals: Counter[str] = field(default_factory=Counter)

    def submit(self) -> tuple[int, str | None, float]:
        """(status, job id or None, seconds); refusals are tallied by problem type in `refusals`."""
        self.counter += 1
        data = png(self.counter + self.seed)
        t0 = time.perf_counter()
        resp = self.client.post("/v1/jobs", data={"file": (io.BytesIO(data), "a.png")},
                                content_type="multipart/form-data",
                                headers={**self.headers, "Idempotency-Key": uuid.uuid4().hex})
        dt = time.perf_counter() - t0
        body = resp.get_json(silent=True) or {}
        job_id = body.get("id") if resp.status_code in (200, 202) else None
        if job_id is None:
            kind = str(body.get("type", "?")).rsplit(":", 1)[-1]
            retry = "" if resp.headers.get("Retry-After") else " (no Retry-After)"
            self.refusals[f"{resp.status_code} {kind}{retry}"] += 1
        return resp.status_code, job_id, dt


@dataclass
class Steady:
    gw: Gateway
    pause_s: float
    samples: list[tuple[float, int, str | None]] = field(default_factory=list)  # (sent at, status, job id)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                status, job_id, _ = self.gw.submit()
            except Exception as err:  # an exception escaping the app is a 500 to a client
                print(f"{self.gw.name}: unhandled {type(err).__name__}: {err}", file=sys.stderr)
                status, job_id = 500, None
            self.samples.append((sent, status, job_id))
            time.sleep(self.pause_s)

    def longest_refusal_s(self) -> tuple[float, int]:
        """(longest window of refusals, refused requests in it)."""
        best, best_n, first, n = 0.0, 0, None, 0
        for sent, status, _ in self.samples:
            if status not in (200, 202):
                if first is None:
                    first = sent
                n += 1
            elif first is not None:
                if sent - first > best:
                    best, best_n = sent - first, n
                first, n = None, 0
        if first is not None:  # never recovered: the window runs to the end of the run
            best, best_n = max(best, self.samples[-1][0] - first), n
        return best, best_n


W = 20  # column width


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


class WaitSome:
    """The replica check ocrq had before: WAIT `n`, however many replicas there are."""

    def __init__(self, client: Any, n: int, timeout_ms: int) -> None:
        self.client, self.floor, self.timeout_ms = client, n, timeout_ms

    def wait(self) -> int:
        return wait_for_replicas(self.client, self.floor, self.timeout_ms)


def gateways(ha: RedisHA, blobs: str) -> tuple[list[Gateway], dict[str, str]]:
    url = ha.url()
    key = KeyStore(connect(url)).create("acme", "bench")[0]
    headers = {"Authorization": f"Bearer {key}"}
    gws: list[Gateway] = []
    for i, (name, n) in enumerate((("min_replicas=0", 0), ("min_replicas=1", 1), ("wait_1_of_2", 1))):
        settings = load_settings(redis_url=url, broker_url=url, storage_url=f"file://{blobs}",
                                 redis_min_replicas=n, interactive_queue_max=1_000_000,
                                 rate_per_s=100_000.0, rate_burst=100_000)
        app = create_app(settings)
        if name == "wait_1_of_2":
            sub = app.extensions[EXTENSION].submitter
            sub.replicas = WaitSome(sub.r, 1, settings.redis_wait_timeout_ms)
        gws.append(Gateway(name, app.test_client(), headers, seed=i * 10_000_000))
    for gw in gws:  # warm-up: connections, the producer, the Lua scripts
        for _ in range(20):
            gw.submit()
    return gws, headers


def latency(gws: list[Gateway], submits: int) -> dict[str, list[float]]:
    lat: dict[str, list[float]] = {gw.name: [] for gw in gws}
    codes: Counter[int] = Counter()
    for _ in range(submits):
        for gw in gws:  # alternating: both settings see the same Redis at the same moment
            status, _, dt = gw.submit()
            codes[status] += 1
            lat[gw.name].append(dt * 1000)
    if set(codes) != {202}:
        raise SystemExit(f"latency run: not every answer was 202: {dict(codes)}")
    return lat


@dataclass
class Failover:
    old: int
    new: int
    elected_s: float
    steady: list[Steady]
    lost: dict[str, int]
    stalled: list[int] = field(default_factory=list)


def prefer(ha: RedisHA, port: int, timeout_s: float = 30) -> None:
    """Make the Sentinels promote `port` first (replica-priority 10, the others 100), and wait until
    every Sentinel has read it from the replica's INFO (they poll replicas every 10 s)."""
    for p in ha.replica_ports():
        ha.node_client(p).config_set("replica-priority", 10 if p == port else 100)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen = 0
        for sp in ha.sentinels:
            rows = ha.sentinel_client(sp).execute_command("SENTINEL", "REPLICAS", ha.master_name)
            for row in rows:
                d = row if isinstance(row, dict) else dict(zip(row[::2], row[1::2], strict=True))
                if int(d["port"]) == port and int(d.get("slave-priority", 100)) == 10:
                    seen += 1
        if seen == len(ha.sentinels):
            return
        time.sleep(0.5)
    raise TimeoutError("the Sentinels did not see the replica priority")


def failover(ha: RedisHA, gws: list[Gateway], headers: dict[str, str], pause_s: float, after_s: float,
             stall_s: float = 0.0, stall_one: bool = False) -> Failover:
    """Steady submitters while the primary is SIGKILLed. With `stall_s`, the replicas are SIGSTOPped
    that long first (a replica lagging behind, as on a congested link), then the primary dies and
    the replicas resume: the Sentinels promote one that lacks what the primary took meanwhile.
    With `stall_one`, only the replica the Sentinels prefer is stalled; the other keeps up."""
    replicas = ha.replica_ports()
    if stall_one:
        prefer(ha, replicas[0])
        replicas = replicas[:1]
    steady = [Steady(gw, pause_s) for gw in gws]
    threads = [threading.Thread(target=s.run, daemon=True) for s in steady]
    for t in threads:
        t.start()
    time.sleep(2)
    if stall_s:
        for port in replicas:
            ha.nodes[port].proc.send_signal(signal.SIGSTOP)
        time.sleep(stall_s)
    old = ha.kill_primary()
    killed = time.monotonic()
    if stall_s:
        for port in replicas:
            ha.nodes[port].proc.send_signal(signal.SIGCONT)
    new = ha.wait_for_failover(old, timeout_s=30)
    elected_s = time.monotonic() - killed
    time.sleep(after_s)
    for s in steady:
        s.stop.set()
    for t in threads:
        t.join(timeout=60)
    lost: dict[str, int] = {}
    for s in steady:
        ids = [j for _, _, j in s.samples if j]
        lost[s.gw.name] = sum(1 for j in ids if s.gw.client.get(f"/v1/jobs/{j}", headers=headers).status_code == 404)
    return Failover(old, new, elected_s, steady, lost, replicas if stall_s else [])


def print_failover(title: str, f: Failover) -> None:
    stalled = f" (stalled: {', '.join(map(str, f.stalled))})" if f.stalled else ""
    print(f"\n{title}: primary {f.old} SIGKILLed, Sentinels named {f.new}{stalled} after {f.elected_s:.2f} s\n")
    rows: list[tuple[str, Callable[[Steady], str]]] = [
        ("requests during the run", lambda s: str(len(s.samples))),
        ("answers", lambda s: " ".join(f"{k}:{v}" for k, v in sorted(Counter(st for _, st, _ in s.samples).items()))),
        ("longest window of refusals (s)", lambda s: f"{s.longest_refusal_s()[0]:.2f}"),
        ("refused requests in that window", lambda s: str(s.longest_refusal_s()[1])),
        ("202s whose job is missing afterwards", lambda s: str(f.lost[s.gw.name])),
    ]
    for label, fn in rows:
        print(f"{label:44}" + "".join(f"{fn(s):>{W}}" for s in f.steady))
    for s in f.steady:
        print(f"  refusals of {s.gw.name}: " + (", ".join(f"{k} x{v}" for k, v in sorted(s.gw.refusals.items()))
                                               or "none"))
        s.gw.refusals.clear()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--submits", type=int, default=300, help="submits per gateway for the latency table")
    ap.add_argument("--pause-ms", type=float, default=20, help="steady submitter's pause between requests")
    ap.add_argument("--after-s", type=float, default=10, help="keep submitting this long after the failover")
    ap.add_argument("--stall-s", type=float, default=1.0, help="replicas stalled this long before the kill (3.)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the gateway logs each Redis outage; the table says it
    pause_s = args.pause_ms / 1000

    with tempfile.TemporaryDirectory(prefix="ocrq-failover-") as tmp:
        with RedisHA(Path(tmp) / "ha1", replicas=2) as ha:
            gws, headers = gateways(ha, f"{tmp}/blobs")
            lat = latency(gws, args.submits)
            names = [gw.name for gw in gws]
            print(f"\nocrq failover benchmark — Redis primary + 2 replicas + 3 Sentinels on loopback (down-after 1 s), "
                  f"gateways in-process, steady submitters pause {args.pause_ms:.0f} ms\n")
            print(f"{'measure':44}" + "".join(f"{n:>{W}}" for n in names))
            print("-" * (44 + W * len(names)))
            print(f"1. submit latency, {args.submits} submits per setting, alternating")
            for label, agg in (("submit p50 (ms)", lambda v: pct(v, 50)), ("submit p99 (ms)", lambda v: pct(v, 99)),
                               ("submit mean (ms)", statistics.fmean)):
                print(f"{label:44}" + "".join(f"{agg(lat[n]):>{W}.2f}" for n in names))
            for gw in gws:
                gw.refusals.clear()
            print_failover("2. failover", failover(ha, gws, headers, pause_s, args.after_s))
        with RedisHA(Path(tmp) / "ha2", replicas=2) as ha:
            gws, headers = gateways(ha, f"{tmp}/blobs")
            print_failover(f"3. failover after the replicas stalled {args.stall_s:.1f} s (SIGSTOP, then SIGCONT "
                           "once the primary is dead)",
                           failover(ha, gws, headers, pause_s, args.after_s, stall_s=args.stall_s))
        with RedisHA(Path(tmp) / "ha3", replicas=2) as ha:
            gws, headers = gateways(ha, f"{tmp}/blobs")
            print_failover(f"4. failover after ONE replica stalled {args.stall_s:.1f} s, the one the Sentinels "
                           "prefer (replica-priority)",
                           failover(ha, gws, headers, pause_s, args.after_s, stall_s=args.stall_s, stall_one=True))


if __name__ == "__main__":
    main()
