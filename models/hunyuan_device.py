"""What differs between CUDA and the CPU for the transformers engine: the device, attention kernels, OOM.

Kept apart so the loading, the decode loop and the eager ``generate`` path all make these choices
the same way; torch is imported only when a function runs (the gateway never loads it).
"""

from __future__ import annotations

import contextlib
from typing import Any


def select_device(requested: str | None) -> str:
    """The device named in settings, else CUDA when there is one, else the CPU."""
    import torch

    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def is_cuda_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError)


def free_cuda_cache() -> None:
    """Return cached GPU memory before a retry in smaller pieces (a no-op without CUDA)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def sdpa_backends(device: str) -> Any:
    """The SDPA backends generate may use: on CUDA, every one but cuDNN attention.

    PyTorch picks cuDNN attention on Hopper GPUs, and cuDNN builds an execution plan for every new
    query/key shape. Decoding grows the key length by one token per step and prompt lengths vary
    per image, so nearly every step of an answer is a new shape and pays a plan build: on an H100
    that tripled the time per decode step (see docs/hunyuan.md, "Measured"). Flash and
    memory-efficient attention need no per-shape setup.
    """
    if not device.startswith("cuda"):
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])
