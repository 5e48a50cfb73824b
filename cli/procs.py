"""Child processes for `ocrq dev` and `ocrq worker`: free ports, a private redis-server, supervision."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MissingBinary(Exception):
    pass


def start_redis(data_dir: Path, port: int, *, appendonly: bool = True) -> subprocess.Popen[bytes]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise MissingBinary(
            "redis-server not found on PATH: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        exe, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir),
        "--save", "", "--appendonly", "yes" if appendonly else "no", "--appendfsync", "everysec",
        "--maxmemory-policy", "noeviction", "--protected-mode", "yes", "--logfile", str(data_dir / "redis.log"),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, 10)
    return proc


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before listening on port {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s} s")


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", *args]


def stop_all(procs: list[subprocess.Popen[bytes]], timeout_s: float = 20) -> None:
    """SIGTERM every child (newest first), wait, then SIGKILL what is left."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for p in reversed(procs):
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def supervise(procs: list[subprocess.Popen[bytes]]) -> int:
    """Wait until a child exits or we are interrupted; then stop the rest. Returns an exit code."""
    stop = {"sig": 0}

    def on_signal(signum: int, _frame: object) -> None:
        stop["sig"] = signum

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop["sig"]:
            for p in procs:
                if p.poll() is not None:
                    print(f"ocrq: child {p.args[2:5] if isinstance(p.args, list) else p.args} exited with code {p.returncode}; stopping", file=sys.stderr)
                    stop_all(procs)
                    return p.returncode or 1
            time.sleep(0.2)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    stop_all(procs)
    return 0


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env
