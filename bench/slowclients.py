"""Slow clients against the gateway: /healthz latency while connections trickle their headers,
straight to gunicorn vs through the shipped nginx (compose/nginx.conf).

Starts its own redis-server, gateway (`ocrq api`, as tests/conftest.py does) and nginx on loopback.
Each slow connection sends a request line, then one header byte every `--trickle-ms`, and never
finishes its headers; all are closed when the attack ends (bounded by --seconds, at most 10 s).
Meanwhile a probe sends `GET /healthz` on a new connection every 20 ms (each with a 10 s
timeout; a timed-out probe counts as 10 s) and the table shows its latency.

    python bench/slowclients.py [--slow 200] [--seconds 10] [--threads 16]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli.procs import free_port, start_redis, stop_all, wait_for_port  # noqa: E402  (after the sys.path line)

NGINX_CONF = ROOT / "compose" / "nginx.conf"
MAX_ATTACK_S = 10.0
PROBE_TIMEOUT_S = 10.0
PROBE_EVERY_S = 0.02


@dataclass
class Stack:
    gateway_port: int
    nginx_port: int | None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)


def nginx_config(listen_port: int, upstream_port: int) -> str:
    """The shipped config with only its two ports changed (loopback, no compose network)."""
    text = NGINX_CONF.read_text()
    for old, new in (("listen 8080;", f"listen 127.0.0.1:{listen_port};"),
                     ("server api:8080;", f"server 127.0.0.1:{upstream_port};")):
        if text.count(old) != 1:
            raise RuntimeError(f"compose/nginx.conf: expected exactly one {old!r}")
        text = text.replace(old, new)
    return text


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with code {proc.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout_s} s")


@contextlib.contextmanager
def stack(workdir: Path, *, threads: int = 16, nginx: bool = True) -> Iterator[Stack]:
    """redis-server + `ocrq api` (1 worker process) + nginx with compose/nginx.conf, on loopback."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        redis_port = free_port()
        procs.append(start_redis(workdir / "redis", redis_port))
        port = free_port()
        env = {**os.environ, "OCRQ_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
               "OCRQ_STORAGE_URL": f"file://{workdir / 'blobs'}", "PYTHONUNBUFFERED": "1"}
        log = open(workdir / "api.log", "ab")  # noqa: SIM115  (lives as long as the process)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "cli.main", "api", "--port", str(port), "--workers", "1", "--threads", str(threads)],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        _wait_http(f"http://127.0.0.1:{port}/healthz", procs[-1], 60)
        nginx_port = None
        if nginx:
            exe = shutil.which("nginx") or "/usr/sbin/nginx"
            nginx_port = free_port()
            prefix = workdir / "nginx"
            prefix.mkdir()
            conf = prefix / "nginx.conf"
            conf.write_text(nginx_config(nginx_port, port))
            procs.append(subprocess.Popen(
                [exe, "-p", str(prefix), "-c", str(conf), "-g", f"daemon off; pid {prefix / 'nginx.pid'};"],
                stdout=open(prefix / "out.log", "ab"), stderr=subprocess.STDOUT))  # noqa: SIM115
            wait_for_port(nginx_port, procs[-1], 10)
            _wait_http(f"http://127.0.0.1:{nginx_port}/healthz", procs[-1], 10)
        yield Stack(port, nginx_port, procs)
    finally:
        stop_all(procs)


def _trickle(port: int, n: int, seconds: float, trickle_s: float, opened: list[int]) -> None:
    """n connections that never finish their headers; every socket closed after `seconds`."""
    socks: list[socket.socket] = []
    end = time.monotonic() + min(seconds, MAX_ATTACK_S)
    try:
        for _ in range(n):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                s.setblocking(False)
                socks.append(s)
            except OSError:
                pass
            if time.monotonic() >= end:
                break
        opened.append(len(socks))
        while time.monotonic() < end:
            for s in socks:
                with contextlib.suppress(OSError):
                    s.send(b"a")
            time.sleep(trickle_s)
    finally:
        for s in socks:
            s.close()


def _probe(port: int) -> tuple[float, int]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT_S)
    try:
        conn.request("GET", "/healthz")
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return PROBE_TIMEOUT_S, 0
    finally:
        conn.close()
    return time.monotonic() - started, status


@dataclass
class Result:
    target: str
    slow: int
    opened: int
    latencies_ms: list[float]
    errors: int

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def attack(target: str, port: int, *, slow: int, seconds: float, trickle_s: float = 0.5) -> Result:
    """Open `slow` trickling connections, then probe /healthz until the attack ends."""
    seconds = min(seconds, MAX_ATTACK_S)
    opened: list[int] = []
    t = threading.Thread(target=_trickle, args=(port, slow, seconds, trickle_s, opened), daemon=True)
    t.start()
    while not opened and t.is_alive():  # probe only once every slow connection is in place
        time.sleep(0.01)
    latencies, errors = [], 0
    while t.is_alive():
        elapsed, status = _probe(port)
        latencies.append(elapsed * 1000)
        errors += status != 200
        time.sleep(PROBE_EVERY_S)
    t.join()
    return Result(target, slow, opened[0] if opened else 0, latencies, errors)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slow", type=int, default=200, help="slow connections")
    ap.add_argument("--seconds", type=float, default=10.0, help=f"attack length (at most {MAX_ATTACK_S:g} s)")
    ap.add_argument("--threads", type=int, default=16, help="gunicorn threads (one worker process)")
    args = ap.parse_args()
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        print("nginx is not installed (Debian: apt-get install nginx-light)", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="ocrq-slow-") as tmp, stack(Path(tmp), threads=args.threads) as st:
        assert st.nginx_port is not None
        for target, port in (("gunicorn", st.gateway_port), ("nginx", st.nginx_port)):
            baseline = attack(target, port, slow=0, seconds=2)
            baseline.target = f"{target} (no attack)"
            results += [baseline, attack(target, port, slow=args.slow, seconds=args.seconds)]
            time.sleep(1)  # let the server drop the closed connections before the next run
    print(f"\n/healthz while slow clients trickle headers ({args.seconds:g} s, gunicorn 1 x {args.threads} gthreads)")
    print(f"{'path':<24} {'slow conns':>10} {'probes':>7} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} {'non-200':>8}")
    for r in results:
        print(f"{r.target:<24} {r.opened:>10} {len(r.latencies_ms):>7} {r.pct(0.5):>9.1f} {r.pct(0.99):>9.1f} "
              f"{max(r.latencies_ms, default=float('nan')):>9.1f} {r.errors:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
