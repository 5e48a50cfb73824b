"""`ocrq dev`: the whole service on one machine, on its embedded defaults.

A private redis-server on a free port, the gateway, one CPU worker and the webhook deliverer,
a local-folder store under --data-dir, and a development API key the CLI picks up.

It tells the truth about starting: the port is checked before anything starts, the gateway
counts as up only when its /readyz echoes this start's token (another server answering on the
port is not ours), the banner comes only once the worker has loaded its engine and consumes, and
the client config is written only then. The dev key lives in the private Redis (AOF under
--data-dir) and is reused on the next start; it may backfill the dev bucket folder `scans`.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

from cli.client import read_client_config, write_client_config
from cli.procs import (
    MissingBinary,
    child_env,
    child_name,
    free_port,
    next_free_port,
    port_in_use,
    python_cmd,
    spawn,
    start_redis,
    stop_all,
    supervise,
)
from shared.infra.redis_client import connect
from shared.infra.settings import load_settings
from shared.tenants import KeyStore

DEV_TENANT = "dev"
DEV_BUCKET = "scans"  # a folder of the local store the dev key may backfill
START_TIMEOUT_S = 120.0  # the worker loads its engine before it is ready
DEV_WEBHOOK_TARGETS = "127.0.0.0/8,::1/128"  # loopback: a receiver on this very machine


class StartFailed(Exception):
    """One line saying why `ocrq dev` did not come up."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("dev", help="run everything on this machine (Redis, gateway, worker, local store)")
    p.add_argument("--port", type=int, default=8080, help="the gateway's port (make dev PORT=...)")
    p.add_argument("--data-dir", default="./var")
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=cmd_dev)


def cmd_dev(args: argparse.Namespace) -> int:
    if port_in_use(args.host, args.port):
        alt = next_free_port(args.host, args.port + 1) or free_port()
        print(f"ocrq dev: port {args.port} on {args.host} is already in use by another program; "
              f"use another one: ocrq dev --port {alt}  (or: make dev PORT={alt})", file=sys.stderr)
        return 2
    data = Path(args.data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    redis_port = free_port()
    try:
        redis_proc = start_redis(data / "redis", redis_port)
    except (MissingBinary, RuntimeError, TimeoutError) as err:
        print(f"ocrq dev: cannot start redis-server: {err}", file=sys.stderr)
        return 2
    procs: list[subprocess.Popen[bytes]] = [redis_proc]
    url = f"http://{args.host}:{args.port}"
    token = secrets.token_hex(16)
    worker_health_port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = child_env(
        OCRQ_REDIS_URL=redis_url,
        OCRQ_STORAGE_URL=f"file://{data / 'blobs'}",
        OCRQ_WEBHOOK_ALLOW_HTTP="true",
        # One machine by definition: a webhook receiver on it (the WMS under development) is allowed.
        OCRQ_WEBHOOK_ALLOW_PRIVATE=os.environ.get("OCRQ_WEBHOOK_ALLOW_PRIVATE") or DEV_WEBHOOK_TARGETS,
        OCRQ_PUBLIC_URL=url,
        OCRQ_INSTANCE_TOKEN=token,
        OCRQ_METRICS_PORT=str(worker_health_port),
        OCRQ_LOG_FORMAT=os.environ.get("OCRQ_LOG_FORMAT") or "console",
        # Celery warns (many lines) when run as root, as in a dev container; not news in dev.
        PYTHONWARNINGS=",".join(filter(None, [os.environ.get("PYTHONWARNINGS"),
                                              "ignore:You're running the worker with superuser privileges"])),
    )
    try:
        settings = load_settings(redis_url=redis_url, storage_url=env["OCRQ_STORAGE_URL"])
        clear = dev_key(KeyStore(connect(redis_url)), url)
        bucket_dir = data / "blobs" / DEV_BUCKET
        bucket_dir.mkdir(parents=True, exist_ok=True)
        gateway = spawn(python_cmd("api", "--host", args.host, "--port", str(args.port), "--workers", "1"), env)
        procs.append(gateway)
        worker = spawn(python_cmd("worker", "--gpus", "none"), env)
        procs.append(worker)
        procs.append(spawn(python_cmd("webhooks", "--concurrency", "4"), env))
        deadline = time.monotonic() + START_TIMEOUT_S
        _wait_until(lambda: _answers(f"{url}/readyz", token), procs, deadline,
                    f"the gateway at {url} did not become ready")
        _wait_until(lambda: _answers(f"http://127.0.0.1:{worker_health_port}/healthz", None), procs, deadline,
                    "the worker did not become ready (loading its engine)")
    except StartFailed as err:
        print(f"ocrq dev: failed to start: {err}", file=sys.stderr)
        _stop(procs)
        return 1
    except KeyboardInterrupt:
        _stop(procs)
        return 130
    cfg = write_client_config(url, clear, redis_url=redis_url, data_dir=data)
    ocrq = _ocrq_command()
    print(
        f"\nocrq dev is up: {url}  (web console at {url}/)\n"
        f"  API key  {clear}  (saved to {_short(cfg)} for {ocrq})\n"
        f"  engine   {settings.engine}, one CPU worker;  redis 127.0.0.1:{redis_port};  data {_short(data)}\n"
        f"  bucket   s3://{DEV_BUCKET} is the folder {_short(bucket_dir)} (the dev key may backfill it)\n"
        f"  webhooks may target {env['OCRQ_WEBHOOK_ALLOW_PRIVATE']} (this machine; http allowed)\n"
        f"  try      {ocrq} submit examples/receipt.jpg --wait\n"
        f"Ctrl-C stops everything.\n",
        flush=True,
    )
    code = supervise(procs, stop_last=1)  # redis last
    print("ocrq dev: stopped", file=sys.stderr, flush=True)
    return code


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    stop_all(procs[1:])
    stop_all(procs[:1])  # redis last


def dev_key(store: KeyStore, url: str) -> str:
    """The saved dev key when this instance's Redis still knows it (same --data-dir), else a new one.

    The dev tenant may reference the dev bucket either way."""
    saved = read_client_config()
    clear = saved.get("api_key", "") if saved.get("url") == url else ""
    key = store.authenticate(clear) if clear else None
    if key is None or key.tenant != DEV_TENANT:
        clear, _ = store.create(DEV_TENANT, "ocrq dev")
    store.allow_bucket(DEV_TENANT, DEV_BUCKET)
    return clear


def _answers(url: str, token: str | None) -> bool:
    try:
        resp = requests.get(url, timeout=2)
    except requests.RequestException:
        return False
    return resp.status_code == 200 and (token is None or resp.headers.get("Ocrq-Instance") == token)


def _wait_until(ready: Callable[[], bool], procs: list[subprocess.Popen[bytes]], deadline: float, what: str) -> None:
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise StartFailed(f"{child_name(p)} exited with code {p.returncode} (its log lines are above)")
        if ready():
            return
        time.sleep(0.2)
    raise StartFailed(f"{what} in {START_TIMEOUT_S:.0f} s")


def _short(path: Path) -> str:
    """./var rather than /home/me/ocrq/var when it is under the working folder."""
    try:
        return "./" + str(path.relative_to(Path.cwd()))
    except ValueError:
        home = Path.home()
        return "~/" + str(path.relative_to(home)) if path.is_relative_to(home) else str(path)


def _ocrq_command() -> str:
    """How to type `ocrq` from here: `ocrq` when that is on PATH and is this one, else its path."""
    here = Path(sys.executable).parent / "ocrq"
    on_path = shutil.which("ocrq")
    if on_path and Path(on_path).resolve() == here.resolve():
        return "ocrq"
    return _short(here).removeprefix("./") if here.exists() else f"{sys.executable} -m cli.main"
