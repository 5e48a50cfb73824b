"""`ocrq dev`: the whole service on one machine, on its embedded defaults.

A private redis-server on a free port, the gateway, one CPU worker and the webhook deliverer,
a local-folder store under --data-dir, and a development API key the CLI picks up.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import requests

from cli.client import write_client_config
from cli.procs import MissingBinary, child_env, free_port, python_cmd, start_redis, stop_all, supervise, wait_for_port
from shared.apikeys import KeyStore
from shared.redis_client import connect
from shared.settings import load_settings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("dev", help="run everything on this machine (Redis, gateway, worker, local store)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--data-dir", default="./var")
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=cmd_dev)


def cmd_dev(args: argparse.Namespace) -> int:
    data = Path(args.data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    redis_port = free_port()
    try:
        redis_proc = start_redis(data / "redis", redis_port)
    except MissingBinary as err:
        print(f"ocrq dev: {err}", file=sys.stderr)
        return 2
    procs: list[subprocess.Popen[bytes]] = [redis_proc]
    env = child_env(
        OCRQ_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        OCRQ_STORAGE_URL=f"file://{data / 'blobs'}",
        OCRQ_WEBHOOK_ALLOW_HTTP="true",
        OCRQ_PUBLIC_URL=f"http://{args.host}:{args.port}",
    )
    try:
        settings = load_settings(redis_url=env["OCRQ_REDIS_URL"], storage_url=env["OCRQ_STORAGE_URL"])
        clear, _ = KeyStore(connect(settings.redis_url)).create("dev", "ocrq dev")
        url = f"http://{args.host}:{args.port}"
        cfg = write_client_config(url, clear)
        procs.append(subprocess.Popen(python_cmd("api", "--host", args.host, "--port", str(args.port), "--workers", "1"), env=env))
        procs.append(subprocess.Popen(python_cmd("worker", "--gpus", "none"), env=env))
        if importlib.util.find_spec("workers.webhook_app") is not None:
            procs.append(subprocess.Popen(python_cmd("webhooks", "--concurrency", "4"), env=env))
        wait_for_port(args.port, procs[1], 30)
        _wait_ready(url, 30)
    except Exception as err:
        print(f"ocrq dev: failed to start: {err}", file=sys.stderr)
        stop_all(procs)
        return 1
    print(
        f"\nocrq dev is up\n"
        f"  gateway:  {url}  (console at {url}/)\n"
        f"  redis:    127.0.0.1:{redis_port}   data: {data}\n"
        f"  engine:   {settings.engine}\n"
        f"  API key:  {clear}   (saved to {cfg} for the ocrq CLI)\n"
        f"  try:      ocrq submit ../shared/data/receipts/000.jpg --wait\n"
        f"Ctrl-C stops everything.\n",
        flush=True,
    )
    return supervise(procs)


def _wait_ready(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the gateway at {url} did not become ready in {timeout_s} s")
