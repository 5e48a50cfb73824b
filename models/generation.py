"""Defences against greedy decoding's failure mode: the answer collapsing into a loop.

The official HunyuanOCR recipe uses three: ``repetition_penalty=1.08``, an early stop when the
tail of the answer repeats, and a final trim of a repeated suffix. The first is a generate()
argument; the other two live here.

Our early stop works on token ids rather than decoded text (the official client decodes the whole
answer every probe): comparing ids is exact, needs no tokenizer and costs a few tensor compares
per check for the whole batch, so it can run every few steps without slowing generation.
"""

from __future__ import annotations

import torch
from transformers import StoppingCriteria

REPETITION_PENALTY = 1.08  # official value (inference/transformers/infer_hf_8gpu.py and vLLM client)


def has_tail_repetition(text: str, min_repeats: int = 8, max_unit: int = 256) -> bool:
    """True when ``text`` ends with one unit (1..max_unit chars, not blank) repeated min_repeats times."""
    n = len(text)
    if n < min_repeats * 2:
        return False
    for length in range(1, min(max_unit, n // min_repeats) + 1):
        unit = text[-length:]
        if not unit.strip():
            continue  # runs of spaces/newlines are layout, not a loop
        if all(text[n - length * k : n - length * (k - 1)] == unit for k in range(2, min_repeats + 1)):
            return True
    return False


def clean_repeated_substrings(text: str, min_repeats: int = 10, min_length: int = 2000) -> str:
    """Keep one copy of a suffix repeated >= min_repeats times (the official final safety net).

    Short answers are left alone (below ``min_length`` chars a repeat is more likely content, e.g.
    a row of dashes on a receipt, than a degenerate loop).
    """
    n = len(text)
    if n < min_length:
        return text
    for length in range(2, n // min_repeats + 1):
        candidate = text[-length:]
        count = 0
        i = n - length
        while i >= 0 and text[i : i + length] == candidate:
            count += 1
            i -= length
        if count >= min_repeats:
            return text[: n - length * (count - 1)]
    return text


def tail_repeats(ids: torch.Tensor, max_ngram: int, min_repeats: int, min_span: int) -> torch.Tensor:
    """Per row of ``ids`` (batch, seq): does the sequence end with an n-gram repeated enough times?

    For n in 1..max_ngram the tail must be the same n tokens repeated
    ``max(min_repeats, ceil(min_span / n))`` times: a short unit must repeat more often than a
    long one before we call it a loop, so legitimate runs (a dotted leader, ten empty table cells)
    survive while a stuck model is cut off after about ``min_span`` wasted tokens.
    """
    batch, seq = ids.shape
    hit = torch.zeros(batch, dtype=torch.bool, device=ids.device)
    for n in range(1, max_ngram + 1):
        reps = max(min_repeats, -(-min_span // n))
        span = n * reps
        if span > seq:
            break
        tail = ids[:, seq - span :].reshape(batch, reps, n)
        hit |= (tail == tail[:, -1:, :]).all(dim=2).all(dim=1)
    return hit


class TailRepetitionStop(StoppingCriteria):
    """Stop each row of a batched generate whose newly generated tokens end in a loop.

    Only tokens after the prompt count (``prompt_len``, the padded input length), and the check
    runs every ``every`` steps to keep its cost negligible. Rows that stopped here are remembered
    in ``stopped`` so the caller can flag their output as truncated.
    """

    def __init__(
        self,
        prompt_len: int,
        *,
        max_ngram: int = 64,
        min_repeats: int = 8,
        min_span: int = 128,
        every: int = 8,
    ) -> None:
        self.prompt_len = prompt_len
        self.max_ngram = max_ngram
        self.min_repeats = min_repeats
        self.min_span = min_span
        self.every = every
        self.stopped: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: object) -> torch.BoolTensor:
        batch = input_ids.shape[0]
        if self.stopped is None:
            self.stopped = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
        generated = input_ids.shape[1] - self.prompt_len
        if generated < self.min_span or generated % self.every:
            return self.stopped.clone()  # type: ignore[return-value]  # a bool tensor; torch types it as Tensor
        hit = tail_repeats(input_ids[:, self.prompt_len :], self.max_ngram, self.min_repeats, self.min_span)
        self.stopped |= hit
        return self.stopped.clone()  # type: ignore[return-value]  # as above
