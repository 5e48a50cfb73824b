"""Engine throughput: images/s, seconds per image and peak GPU memory per batch size.

    python bench/engine.py --model-path /models/HunyuanOCR [--engines hunyuan,hunyuan-vllm]
        [--receipts DIR] [--batch-sizes 1,2,4,8,16] [--task spotting] [--max-new-tokens 1024]

Each batch size runs ``--rounds`` batches of receipts (cycled to fill the batch) after one
untimed warm-up batch (capped at ``--warmup-tokens`` new tokens: it is there for kernels, the
allocator and shapes, and a full-length warm-up would double the run). On a CPU it still runs (GPU
memory "n/a"), so it can be smoke-tested with ``ocrq models make-tiny`` weights and a small
``--max-new-tokens``. Rows print as they are measured, so a run cut short keeps what it measured.

``tok/img`` is the mean number of new tokens per image (up to and including EOS) and ``tok/s``
all new tokens over the timed seconds: with ``make-random`` weights EOS almost never comes, so
compare ``tok/img`` with ``max_new_tokens`` to see how many answers ran to the cap (``cut``
counts answers not ended by EOS: the cap or the tail-repetition stop). An engine that cannot be
loaded (vLLM not installed, say) gets one row per batch size saying why, instead of numbers.

Peak GPU memory means different things per engine, and the table says which: for transformers it
is PyTorch's peak allocation during the timed batches; vLLM preallocates a pool for weights and KV
cache (``gpu_memory_utilization``) at start, so its figure is the device memory in use after the
run, i.e. the pool size, not what the batch needed.
"""

from __future__ import annotations

import argparse
import gc
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
from models.registry import EngineLoadError  # noqa: E402
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
    tokens: int | None = None  # new tokens generated in the timed batches; None if not counted
    note: str = ""


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


class TokenCounter:
    """Counts the new tokens an engine generates, by wrapping its generate call (bench only)."""

    def __init__(self, name: str, engine: Any) -> None:
        self.tokens = 0
        if name == "hunyuan":
            self._wrap_transformers(engine)
        elif name == "hunyuan-vllm":
            self._wrap_vllm(engine)

    def _wrap_transformers(self, engine: Any) -> None:
        model = engine.model
        generate = model.generate
        stop_ids = set(engine._eos_ids) | ({engine._pad_id} if engine._pad_id is not None else set())
        eos_ids = set(engine._eos_ids)

        def counted(*a: Any, **kw: Any) -> Any:
            out = generate(*a, **kw)
            prompt_len = int(kw["input_ids"].shape[1])
            for row in out[:, prompt_len:].tolist():
                # A finished row is padded to the batch's length: count up to its EOS/pad.
                end = next((i for i, t in enumerate(row) if t in stop_ids), None)
                self.tokens += len(row) if end is None else end + (row[end] in eos_ids)
            return out

        model.generate = counted

    def _wrap_vllm(self, engine: Any) -> None:
        generate = engine.llm.generate

        def counted(*a: Any, **kw: Any) -> Any:
            outs = generate(*a, **kw)
            self.tokens += sum(len(o.outputs[0].token_ids) for o in outs)
            return outs

        engine.llm.generate = counted


def _warmup(name: str, engine: Any, batch: list[EngineRequest], tokens: int) -> None:
    """One short batch of the real shape: kernels, allocator pools, lazy inits."""
    if name == "hunyuan":
        saved, engine.max_new_tokens = engine.max_new_tokens, tokens
        try:
            engine.run(batch)
        finally:
            engine.max_new_tokens = saved
    elif name == "hunyuan-vllm":
        params = engine.sampling_params
        saved, params.max_tokens = params.max_tokens, tokens
        try:
            engine.run(batch)
        finally:
            params.max_tokens = saved
    else:
        engine.run(batch)


def measure(
    name: str, engine: Any, counter: TokenCounter, images: list[Image.Image], batch: int, args: argparse.Namespace
) -> Row:
    spec = TaskSpec(task=args.task)
    batches = [
        [EngineRequest(images[(r * batch + i) % len(images)], spec) for i in range(batch)]
        for r in range(args.rounds + 1)
    ]
    cuda = _cuda()
    _warmup(name, engine, batches[0], args.warmup_tokens)
    if cuda:
        cuda.synchronize()
        cuda.reset_peak_memory_stats()
    counter.tokens = 0
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
        tokens=counter.tokens,
    )


HEADER = (
    f"{'engine':<14}{'batch':>6}{'images':>8}{'images/s':>10}{'s/image':>10}{'tok/img':>9}{'tok/s':>9}"
    f"{'peak GPU MiB':>16}{'errors':>8}{'cut':>6}"
)


def format_row(r: Row) -> str:
    if r.note:
        return f"{r.engine:<14}{r.batch:>6}  {r.note}"
    ips = r.images / r.seconds if r.seconds else 0.0
    spi = r.seconds / r.images if r.images else 0.0
    tpi = f"{r.tokens / r.images:.0f}" if r.tokens is not None and r.images else "n/a"
    tps = f"{r.tokens / r.seconds:.0f}" if r.tokens is not None and r.seconds else "n/a"
    return (
        f"{r.engine:<14}{r.batch:>6}{r.images:>8}{ips:>10.2f}{spi:>10.3f}{tpi:>9}{tps:>9}"
        f"{r.peak_mib:>16}{r.errors:>8}{r.truncated:>6}"
    )


def load_failure_note(err: BaseException) -> str:
    """One line for an engine that could not be loaded; 'not installed' when its package is missing."""
    if isinstance(err, EngineLoadError) and isinstance(err.__cause__, ImportError):
        return f"not installed ({err.__cause__.name or 'package'} not importable): not measured"
    first = (str(err).strip().splitlines() or [err.__class__.__name__])[0]
    return f"not measured: {first}"[:200]


def _release_gpu() -> None:
    gc.collect()
    cuda = _cuda()
    if cuda:
        cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-path", required=True)
    ap.add_argument("--engines", default="hunyuan,hunyuan-vllm")
    ap.add_argument("--receipts", type=Path, default=REPO.parent / "shared" / "data" / "receipts")
    ap.add_argument("--batch-sizes", default="1,2,4,8,16")
    ap.add_argument("--task", default="spotting")
    ap.add_argument("--max-new-tokens", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=2, help="timed batches per batch size")
    ap.add_argument("--warmup-tokens", type=int, default=32, help="new-token cap of the untimed warm-up batch")
    ap.add_argument("--attn", default="sdpa", help="attn_implementation for the transformers engine")
    args = ap.parse_args(argv)

    images = load_receipts(args.receipts)
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    cuda = _cuda()
    device = cuda.get_device_name() if cuda else "cpu"
    print(
        f"task={args.task} max_new_tokens={args.max_new_tokens} rounds={args.rounds} "
        f"receipts={len(images)} device={device}",
        flush=True,
    )
    print(HEADER)
    print("-" * len(HEADER), flush=True)
    rows: list[Row] = []
    measured = 0
    for name in [e.strip() for e in args.engines.split(",") if e.strip()]:
        engine = None
        try:
            # One engine per kind, sized for the largest batch: each timed call submits exactly
            # `batch` requests, so that is the concurrency either engine sees.
            engine = load_engine(name, args, max(sizes))
        except Exception as err:  # noqa: BLE001 - report and go on with the next engine
            print(f"{name}: not loaded: {err}", file=sys.stderr)
            note = load_failure_note(err)
            for b in sizes:
                rows.append(Row(name, b, 0, 0.0, "n/a", 0, 0, note=note))
                print(format_row(rows[-1]), flush=True)
            _release_gpu()
            continue
        counter = TokenCounter(name, engine)
        for b in sizes:
            try:
                row = measure(name, engine, counter, images, b, args)
                measured += 1
            except Exception as err:  # noqa: BLE001 - one batch size failing must not lose the others
                print(f"{name} batch {b}: failed: {err!r}", file=sys.stderr)
                row = Row(name, b, 0, 0.0, "n/a", 0, 0, note=f"failed: {err.__class__.__name__}")
            rows.append(row)
            print(format_row(row), flush=True)
        engine = counter = None
        _release_gpu()
    return 0 if measured else 1


if __name__ == "__main__":
    raise SystemExit(main())
