"""`ocrq api`, `ocrq worker` and `ocrq webhooks`: the long-running services."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping

from cli.engines import missing_engine_packages
from cli.procs import child_env, supervise
from shared.engines import get_engine, resolve
from shared.infra.settings import Settings, load_settings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("api", help="run the HTTP gateway (gunicorn)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    p.add_argument("--threads", type=int, default=16, help="threads per process (long-polls hold one each)")
    p.set_defaults(func=cmd_api)

    w = sub.add_parser("worker", help="run OCR workers, one Celery worker per GPU")
    w.add_argument(
        "--gpus",
        default=None,
        help="none | auto | comma list of GPU indices (default: none for a CPU engine such as rapidocr, "
        "auto for a GPU one)",
    )
    w.add_argument("--queues", default="interactive,bulk", help="queues in priority order")
    w.add_argument("--loglevel", default=None, help="overrides OCRQ_LOG_LEVEL (default INFO)")
    w.set_defaults(func=cmd_worker)

    h = sub.add_parser("webhooks", help="run the webhook delivery worker (queue 'webhooks')")
    h.add_argument("--concurrency", type=int, default=8)
    h.add_argument("--loglevel", default="INFO")
    h.set_defaults(func=cmd_webhooks)


def cmd_api(args: argparse.Namespace) -> int:
    load_settings()  # fail here, with one line, rather than in every gunicorn worker
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "api.wsgi:app",
        "--bind",
        f"{args.host}:{args.port}",
        "--worker-class",
        "gthread",
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--timeout",
        "90",
        "--graceful-timeout",
        "30",
        "--keep-alive",
        "5",
        # Per-request bounds gunicorn has: a request line, header count and header size over these
        # answer 400 before the app runs. It has no header or body read timeout: a client trickling
        # bytes holds one thread, so production runs behind nginx (compose/nginx.conf), which
        # buffers each request whole, with read timeouts and per-IP connection limits.
        "--limit-request-line",
        "8190",
        "--limit-request-fields",
        "64",
        "--limit-request-field_size",
        "8190",
        "--logger-class",
        "shared.infra.logs.GunicornLogger",  # JSON lines, like the app's own
        # post_worker_init: a stopping worker answers its long-polls at once (api/draining.py)
        "--config",
        "python:api.gunicorn_config",
        "--worker-tmp-dir",
        "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp",
    ]
    os.execve(sys.executable, argv, gateway_env(os.environ))
    return 0  # not reached


def gateway_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The gateway's environment: glibc's mmap threshold pinned at its 128 KiB default unless the
    operator set one. glibc otherwise raises the threshold to the size of each large block freed
    (an upload, its decode buffers), so later uploads come from the heap, and the holes they leave
    between long-lived small objects keep a gunicorn worker growing in steps of a few MB (+12 MB
    over 100,000 submits; pinned: +2.5 MB, flat after the first 20,000; docs/benchmarks.md). Large
    blocks stay mmap'd and go back to the system when freed. Other C libraries ignore it."""
    return {"MALLOC_MMAP_THRESHOLD_": "131072", **environ}


def detect_gpus() -> list[str]:
    # nvidia-smi, not torch: the supervisor must not initialise CUDA before its children do.
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def missing_gpu(requested: list[str]) -> str | None:
    """One line naming the first requested GPU this machine does not have, or None.

    Without this a worker asked for GPU 1 on a one-GPU box would hide every GPU from itself
    (CUDA_VISIBLE_DEVICES=1), load the model on the CPU and report ready.
    """
    if not requested:
        return None
    have = detect_gpus()
    for g in requested:
        if str(int(g)) not in have:
            seen = (
                f"nvidia-smi lists GPUs {','.join(have)}"
                if have
                else ("nvidia-smi lists no GPU" if shutil.which("nvidia-smi") else "nvidia-smi is not installed")
            )
            return f"GPU {int(g)} not found ({seen}); use --gpus none for a CPU-only worker"
    return None


def celery_worker_cmd(settings: Settings, queues: str, name: str, loglevel: str) -> tuple[list[str], str]:
    threads = get_engine(settings.engine).pool == "threads"
    pool, concurrency = ("threads", settings.batch_max) if threads else ("prefork", 1)
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "--quiet",
        "-A",
        "workers.ocr_worker",
        "worker",  # quiet: no text banner
        "-Q",
        queues,
        "--hostname",
        f"{name}@{socket.gethostname()}",
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    return cmd, pool


def cmd_worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    missing = missing_engine_packages(settings.engine)
    if missing:
        print(f"ocrq worker: {missing}", file=sys.stderr)
        return 3
    engine = get_engine(settings.engine)
    if engine.model_check:
        problems = resolve(engine.model_check)(settings.model_path)
        if problems:
            print(f"ocrq worker: model folder {settings.model_path} is not usable: {problems[0]}", file=sys.stderr)
            return 3
    gpus_arg = args.gpus or ("none" if engine.device == "cpu" else "auto")
    if gpus_arg == "auto":
        gpus = detect_gpus()
    elif gpus_arg == "none":
        gpus = []
    else:
        gpus = [g.strip() for g in gpus_arg.split(",") if g.strip()]
        if not all(g.isdigit() for g in gpus):
            print("ocrq worker: --gpus takes none, auto or a comma list of GPU indices", file=sys.stderr)
            return 2
        problem = missing_gpu(gpus)
        if problem:
            print(f"ocrq worker: {problem}", file=sys.stderr)
            return 3
    slots = [(f"gpu{g}", g) for g in gpus] or [("cpu", "")]
    loglevel = args.loglevel or settings.log_level
    procs, metric_dirs = [], []
    for i, (name, gpu) in enumerate(slots):
        cmd, pool = celery_worker_cmd(settings, args.queues, name, loglevel)
        # Each Celery process sums its pool children's metrics from its own fresh folder.
        metric_dirs.append(tempfile.mkdtemp(prefix=f"ocrq-metrics-{name}-"))
        env = child_env(
            CUDA_VISIBLE_DEVICES=gpu,  # one GPU per process; "" hides every GPU from a CPU worker
            OCRQ_WORKER_POOL=pool,
            OCRQ_METRICS_PORT=str(int(os.environ.get("OCRQ_METRICS_PORT", "9100")) + i),
            OCRQ_LOG_LEVEL=loglevel,
            PROMETHEUS_MULTIPROC_DIR=metric_dirs[-1],
        )
        procs.append(subprocess.Popen(cmd, env=env))
    try:
        return supervise(procs)
    finally:
        for d in metric_dirs:
            shutil.rmtree(d, ignore_errors=True)


def cmd_webhooks(args: argparse.Namespace) -> int:
    load_settings()
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "--quiet",
        "-A",
        "workers.webhook_worker",
        "worker",  # quiet: no text banner
        "-Q",
        "webhooks",
        "--hostname",
        f"webhooks@{socket.gethostname()}",
        "--pool",
        "threads",
        "--concurrency",
        str(args.concurrency),
        "--loglevel",
        args.loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    os.execve(sys.executable, cmd, child_env(OCRQ_WORKER_POOL="threads"))
    return 0
