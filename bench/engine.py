"""HunyuanOCR decoding: eager ``generate`` against our decode loop (static KV cache, slots, CUDA graphs).

    python bench/engine.py                      # GPU: full-size random model built in memory
    python bench/engine.py --model-path DIR     # a real (or make-random) checkpoint instead
    python bench/engine.py --batch-sizes 1,16,64 --new-tokens 256

On a GPU (bf16) the model is the released architecture with random weights, built on the device (no
2 GB write). On a CPU it is the talking tiny checkpoint (``ocrq models make-tiny``, fp32), and the
table is about host time: ms per decode step of eager ``generate``, of our loop run eagerly and of
our loop compiled (``torch.compile`` of the step).

Every answer is held to exactly ``--new-tokens`` tokens (EOS is set to the pad token, which the
model never emits), so both paths decode the same number of steps:

- ``ms/step`` = (time for N tokens - time for 1 token) / (N - 1): the decode step alone, prefill out;
- ``tok/s`` = batch x N / time for N tokens: end to end, prefill in;
- ``peak MiB``: PyTorch's peak allocation during the N-token run (GPU only).

Then an fp32 equivalence phase: the loop's tokens against eager ``generate``'s with the real EOS and
repetition penalty, for four prompts one by one and as one left-padded batch.
One shot: the whole run is sized to finish within 8 minutes on an H100.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script from anywhere

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from models.base import EngineError, EngineRequest  # noqa: E402
from models.hunyuan import HunyuanEngine  # noqa: E402
from models.random_checkpoints import make_tiny, random_in_memory  # noqa: E402
from shared.jobs.task_spec import TaskSpec  # noqa: E402


def images(count: int, side: int) -> list[EngineRequest]:
    out = []
    for i in range(count):
        image = Image.effect_noise((side + 16 * (i % 4), side - 16 * (i % 3)), 40 + i % 7).convert("RGB")
        out.append(EngineRequest(image, TaskSpec(task="spotting" if i % 2 else "text")))
    return out


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(engine: HunyuanEngine, reqs: list[EngineRequest], cap: int) -> tuple[float, list[Any]]:
    """Seconds for one ``generate_ids`` call (device work included), and its answers."""
    sync()
    t0 = time.perf_counter()
    answers = engine.generate_ids(reqs, cap)
    sync()
    return time.perf_counter() - t0, answers


def load(args: argparse.Namespace, dtype: Any) -> tuple[Any, Any, str]:
    """(model, processor, device) for the run."""
    if args.model_path:
        engine = HunyuanEngine.load(args.model_path, decoder="generate", dtype=dtype)
        return engine.model, engine.processor, engine.device
    if torch.cuda.is_available():
        model, processor = random_in_memory(device="cuda", dtype=dtype)
        return model, processor, "cuda"
    tiny = make_tiny(Path(tempfile.mkdtemp(prefix="ocrq-bench-")) / "tiny")
    engine = HunyuanEngine.load(str(tiny), decoder="generate")
    return engine.model, engine.processor, "cpu"


def engine_for(model: Any, processor: Any, device: str, *, decoder: str, slots: int, cap: int,
               slot_tokens: int, compile_step: bool = False, fixed_length: bool = True) -> HunyuanEngine:
    pad = processor.tokenizer.pad_token_id
    return HunyuanEngine(
        model, processor, device=device, max_new_tokens=cap, version="bench", decoder=decoder,  # type: ignore[arg-type]
        slots=slots, slot_tokens=slot_tokens, compile_step=compile_step,
        eos_ids=[pad] if fixed_length else None,
    )


def speed_rows(args: argparse.Namespace, model: Any, processor: Any, device: str) -> None:
    n = args.new_tokens
    paths = [("generate", False), ("loop", False)]
    if device == "cpu":
        paths.append(("loop+compile", True))
    print(f"\n{'path':<14}{'batch':>6}{'ms/step':>10}{'tok/s':>10}{'peak MiB':>10}{'warm-up s':>11}  vs generate")
    print("-" * 75)
    for batch in args.batch_sizes:
        reqs = images(batch, args.side)
        base_ms = None
        for label, compiled in paths:
            decoder = "generate" if label == "generate" else "slots"
            engine = engine_for(model, processor, device, decoder=decoder, slots=batch, cap=n,
                                slot_tokens=args.slot_tokens, compile_step=compiled)
            try:
                # Warm-up: kernels and, for the loop, every (slots, length) bucket's graph or compile.
                warm, _ = timed(engine, reqs, n if decoder == "slots" else 8)
                t1, _ = timed(engine, reqs, 1)
                if device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                tn, answers = timed(engine, reqs, n)
                peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if device == "cuda" else "n/a"
            finally:
                if engine.scheduler is not None:
                    engine.scheduler.close()
            errors = [a for a in answers if isinstance(a, EngineError)]
            short = [a for a in answers if not isinstance(a, EngineError) and len(a[0]) != n]
            ms = (tn - t1) / (n - 1) * 1000
            base_ms = ms if label == "generate" else base_ms
            ratio = f"{base_ms / ms:5.1f}x fewer ms/step" if base_ms and label != "generate" else ""
            note = f" ({len(errors)} errors, {len(short)} short)" if errors or short else ""
            print(f"{label:<14}{batch:>6}{ms:>10.3f}{batch * n / tn:>10.0f}{peak:>10}{warm:>11.1f}  {ratio}{note}",
                  flush=True)


def equivalence(args: argparse.Namespace, device: str) -> None:
    """fp32: the loop's answers against eager generate's, real EOS and repetition penalty."""
    model, processor, device = load(args, torch.float32)
    cap = args.equivalence_tokens
    reqs = images(4, args.side)
    ref = engine_for(model, processor, device, decoder="generate", slots=4, cap=cap,
                     slot_tokens=args.slot_tokens, fixed_length=False)
    loop = engine_for(model, processor, device, decoder="slots", slots=4, cap=cap,
                      slot_tokens=args.slot_tokens, fixed_length=False)
    try:
        alone = [ref.generate_ids([r])[0] for r in reqs]
        padded = ref.generate_ids(reqs)
        ours_alone = [loop.generate_ids([r])[0] for r in reqs]
        ours_batch = loop.generate_ids(reqs)
    finally:
        loop.scheduler.close()

    def same(a: list[Any], b: list[Any]) -> str:
        return f"{sum(x == y for x, y in zip(a, b, strict=True))}/{len(a)}"

    lengths = [len(a[0]) if not isinstance(a, EngineError) else a.code for a in alone]
    print(f"\nfp32 equivalence on {device}, {cap} new tokens at most, answer lengths {lengths}:")
    print(f"  loop batch 1 == generate batch 1 .......... {same(ours_alone, alone)}")
    print(f"  loop batch 4 == generate left-padded 4 .... {same(ours_batch, padded)}")
    print(f"  generate left-padded 4 == generate 1 ...... {same(padded, alone)}")
    del model


def main(argv: list[str] | None = None) -> int:
    on_gpu = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", default="", help="a checkpoint folder (default: random in memory / tiny)")
    parser.add_argument("--batch-sizes", default="1,16,64" if on_gpu else "1,4")
    parser.add_argument("--new-tokens", type=int, default=256 if on_gpu else 128)
    parser.add_argument("--side", type=int, default=512 if on_gpu else 96, help="image side in pixels")
    parser.add_argument("--slot-tokens", type=int, default=1024 if on_gpu else 512)
    parser.add_argument("--equivalence-tokens", type=int, default=64 if on_gpu else 48)
    parser.add_argument("--skip-equivalence", action="store_true")
    args = parser.parse_args(argv)
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if not on_gpu:
        torch.set_num_threads(1)  # host time per step, one core for both paths: a 2-core box stays comparable

    t0 = time.perf_counter()
    model, processor, device = load(args, torch.bfloat16 if on_gpu else torch.float32)
    name = torch.cuda.get_device_name() if on_gpu else "CPU (1 thread)"
    params = sum(p.numel() for p in model.parameters())
    print(f"device={name} torch={torch.__version__} params={params / 1e6:.1f}M "
          f"dtype={next(model.parameters()).dtype} new_tokens={args.new_tokens} side={args.side}px")
    speed_rows(args, model, processor, device)
    del model
    if on_gpu:
        torch.cuda.empty_cache()
    if not args.skip_equivalence:
        equivalence(args, device)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
