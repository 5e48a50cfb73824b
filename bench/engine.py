"""Engine throughput: images/s, seconds per image and peak GPU memory per batch size.

    python bench/engine.py --model-path /models/HunyuanOCR [--engines hunyuan,hunyuan-vllm]
        [--receipts DIR] [--batch-sizes 1,2,4,8,16] [--task spotting] [--max-new-tokens 1024]

Each batch size runs ``--rounds`` batches of receipts (cycled to fill the batch) after one
untimed warm-up batch. On a CPU it still runs (GPU memory "n/a"), so it can be smoke-tested with
``ocrq models make-tiny`` weights and a small ``--max-new-tokens``.

Peak GPU memory means different things per engine, and the table says which: for transformers it
is PyTorch's peak allocation during the timed batches; vLLM preallocates a pool for weights and KV
cache (``gpu_memory_utilization``) at start, so its figure is the device memory in use after the
run, i.e. the pool size, not what the batch needed.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script from anywhere

from PIL import Image  # noqa: E402

from models.base import EngineError, EngineRequest  # noqa: E402
from shared.tasks import TaskSpec  # noqa: E402

MAX_SIDE = 2048  # what the job runner bounds images to before an engine sees them


@dataclass
class Row:
    engine: str
    batch: int
    images: int
    seconds: float
    peak_mib: str
    errors: int
    truncated: int


def load_receipts(folder: Path) -> list[Image.Image]:
    images = []
    for path in sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png")):
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((MAX_SIDE, MAX_SIDE))
            images.append(im)
    if not images:
        raise SystemExit(f"no .jpg/.png receipts in {folder}")
    return images


def load_engine(name: str, args: argparse.Namespace, batch: int) -> Any:
    if name == "hunyuan":
        from models.hunyuan import HunyuanEngine

        return HunyuanEngine.load(args.model_path, attn_implementation=args.attn, max_new_tokens=args.max_new_tokens)
    if name == "hunyuan-vllm":
        from models.hunyuan_vllm import HunyuanVllmEngine

        return HunyuanVllmEngine.load(args.model_path, max_new_tokens=args.max_new_tokens, max_num_seqs=batch)
    raise SystemExit(f"unknown engine {name!r}: use hunyuan or hunyuan-vllm")


def _cuda() -> Any | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda if torch.cuda.is_available() else None


def measure(name: str, engine: Any, images: list[Image.Image], batch: int, args: argparse.Namespace) -> Row:
    spec = TaskSpec(task=args.task)
    batches = [
        [EngineRequest(images[(r * batch + i) % len(images)], spec) for i in range(batch)]
        for r in range(args.rounds + 1)
    ]
    cuda = _cuda()
    engine.run(batches[0])  # warm-up: kernels, allocator, shapes
    if cuda:
        cuda.synchronize()
        cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    outs = [o for b in batches[1:] for o in engine.run(b)]
    if cuda:
        cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = "n/a"
    if cuda and name == "hunyuan":
        peak = f"{cuda.max_memory_allocated() / 2**20:.0f}"
    elif cuda:
        free, total = cuda.mem_get_info()
        peak = f"{(total - free) / 2**20:.0f} (pool)"
    return Row(
        engine=name,
        batch=batch,
        images=len(outs),
        seconds=seconds,
        peak_mib=peak,
        errors=sum(isinstance(o, EngineError) for o in outs),
        truncated=sum(bool(getattr(o, "truncated", False)) for o in outs),
    )


def print_table(rows: list[Row]) -> None:
    header = f"{'engine':<14}{'batch':>6}{'images':>8}{'images/s':>10}{'s/image':>10}{'peak GPU MiB':>16}{'errors':>8}{'cut':>6}"
    print(header)
    print("-" * len(header))
    for r in rows:
        ips = r.images / r.seconds if r.seconds else 0.0
        spi = r.seconds / r.images if r.images else 0.0
        print(f"{r.engine:<14}{r.batch:>6}{r.images:>8}{ips:>10.2f}{spi:>10.3f}{r.peak_mib:>16}{r.errors:>8}{r.truncated:>6}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-path", required=True)
    ap.add_argument("--engines", default="hunyuan,hunyuan-vllm")
    ap.add_argument("--receipts", type=Path, default=REPO.parent / "shared" / "data" / "receipts")
    ap.add_argument("--batch-sizes", default="1,2,4,8,16")
    ap.add_argument("--task", default="spotting")
    ap.add_argument("--max-new-tokens", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=2, help="timed batches per batch size")
    ap.add_argument("--attn", default="sdpa", help="attn_implementation for the transformers engine")
    args = ap.parse_args(argv)

    images = load_receipts(args.receipts)
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    rows: list[Row] = []
    for name in [e.strip() for e in args.engines.split(",") if e.strip()]:
        try:
            # One engine per kind, sized for the largest batch: each timed call submits exactly
            # `batch` requests, so that is the concurrency either engine sees.
            engine = load_engine(name, args, max(sizes))
            rows += [measure(name, engine, images, b, args) for b in sizes]
        except Exception as err:  # noqa: BLE001 - report and go on with the next engine
            print(f"{name}: skipped: {err}", file=sys.stderr)
        engine = None
    cuda = _cuda()
    device = cuda.get_device_name() if cuda else "cpu"
    print(f"task={args.task} max_new_tokens={args.max_new_tokens} rounds={args.rounds} device={device}")
    print_table(rows)
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
