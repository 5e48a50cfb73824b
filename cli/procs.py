"""Child processes for `ocrq dev` and `ocrq worker`: free ports, a private redis-server, supervision."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True when another socket listens on host:port (a port left in TIME_WAIT counts as free,
    as it does for gunicorn, which binds with SO_REUSEADDR too)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def next_free_port(host: str, start: int, tries: int = 50) -> int | None:
    for port in range(start, min(start + tries, 65536)):
        if not port_in_use(host, port):
            return port
    return None


def _die_with_parent() -> None:
    # A child in its own process group does not get the terminal's Ctrl-C (its supervisor stops
    # it in order); PR_SET_PDEATHSIG still stops it if the supervisor itself is killed.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def spawn(cmd: list[str], env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen[bytes]:
    """A supervised child in its own process group: Ctrl-C reaches the supervisor only, which
    then stops every child once, in order, instead of each child handling the signal its own way."""
    if sys.platform == "linux":
        kw.setdefault("preexec_fn", _die_with_parent)
    return subprocess.Popen(cmd, env=env, process_group=0, **kw)


class MissingBinary(Exception):
    pass


def start_redis(data_dir: Path, port: int, *, appendonly: bool = True) -> subprocess.Popen[bytes]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise MissingBinary(
            "redis-server not found on PATH: install it "
            "(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        exe,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--appendfsync",
        "everysec",
        "--maxmemory-policy",
        "noeviction",
        "--protected-mode",
        "yes",
        "--logfile",
        str(data_dir / "redis.log"),
    ]
    proc = spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def supervise(procs: list[subprocess.Popen[bytes]], *, stop_last: int = 0) -> int:
    """Wait until a child exits or we are interrupted; then stop the rest. Returns an exit code.

    The first `stop_last` children (e.g. the Redis everything else uses) are stopped only after the
    others have exited, so nothing logs a lost connection on the way down."""
    stop = {"sig": 0}

    def on_signal(signum: int, _frame: object) -> None:
        stop["sig"] = signum

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop["sig"]:
            for p in procs:
                if p.poll() is not None:
                    print(f"ocrq: {child_name(p)} exited with code {p.returncode}; stopping the rest", file=sys.stderr)
                    _stop_in_order(procs, stop_last)
                    return p.returncode or 1
            time.sleep(0.2)
        _stop_in_order(procs, stop_last)  # a second Ctrl-C meanwhile is absorbed by on_signal
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return 0


def _stop_in_order(procs: list[subprocess.Popen[bytes]], stop_last: int) -> None:
    stop_all(procs[stop_last:])
    stop_all(procs[:stop_last])


def child_name(p: subprocess.Popen[bytes]) -> str:
    """`worker` for `python -m cli.main worker ...`, else the program's file name."""
    args = [str(a) for a in p.args] if isinstance(p.args, (list, tuple)) else [str(p.args)]
    if "cli.main" in args and args.index("cli.main") + 1 < len(args):
        return f"ocrq {args[args.index('cli.main') + 1]}"
    if "celery" in args:
        return "celery worker"
    return Path(args[0]).name


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env
