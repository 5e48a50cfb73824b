"""Defences against greedy decoding's failure mode: the answer collapsing into a loop.

The official HunyuanOCR 1.5 recipe uses three, identical in every official entry point
(Tencent-Hunyuan/HunyuanOCR at c55965d3da1e6f41987abec8068f2e70851318bc:
inference/utils/output_utils.py, shared by inference/vLLM/infer_vllm_client.py and batch_infer.py,
and copied into inference/transformers/infer_hf_8gpu.py):

1. ``repetition_penalty=1.08`` (a generate()/SamplingParams argument: REPETITION_PENALTY);
2. an early stop on the decoded text (``infer_stream`` / ``build_stopping_criteria``): nothing is
   checked before the answer is 4,000 characters long; then, each time it has reached the next
   checkpoint, the checkpoint moves to the current length + 1,000 and the last 8,000 characters
   are tested with ``has_tail_repetition(tail, min_repeats=8)`` (max_unit 256). The transformers
   client decodes only every 64 new tokens to apply that rule (``token_probe_step``);
3. a final trim of a repeated suffix, ``clean_repeated_substrings`` (text of at least 2,000
   characters, a suffix of 2 .. len/10 characters repeated at least 10 times back to back ->
   one copy kept).

HunyuanOCR 1.0's official code had only the final trim, with a higher floor (text shorter than
8,000 characters left alone: Hunyuan-OCR-master/utils.py and run_hy_ocr.py at b138959), and no
early stop; CLEANUP_MIN_LENGTH keeps both floors. Everything here is pure Python on text except
TailRepetitionStop, the transformers StoppingCriteria that applies TailStop to each row of a
batched generate.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers import StoppingCriteria

REPETITION_PENALTY = 1.08  # official 1.5 value (inference/transformers/infer_hf_8gpu.py and the vLLM client)

# The official early-stop schedule and detector (inference/utils/output_utils.py, infer_stream).
CHECK_START_CHARS = 4000  # `next_check_at = 4000  # start checking after 4k chars`
CHECK_STEP_CHARS = 1000  # `check_step = 1000`
TAIL_WINDOW_CHARS = 8000  # `"".join(parts)[-8000:]`
TAIL_MIN_REPEATS = 8  # `--repeat-min-repeats` default, has_tail_repetition's min_repeats
TAIL_MAX_UNIT = 256  # has_tail_repetition's max_unit
TOKEN_PROBE_STEP = 64  # infer_hf_8gpu.py: decode the generated tokens every 64 new tokens

# The official final clean-up: min_repeats 10 in both versions; texts shorter than this are left alone.
CLEANUP_MIN_REPEATS = 10
CLEANUP_MIN_LENGTH: dict[str, int] = {"1.0": 8000, "1.5": 2000}


def has_tail_repetition(text: str, min_repeats: int = TAIL_MIN_REPEATS, max_unit: int = TAIL_MAX_UNIT) -> bool:
    """True when ``text`` ends with one unit (1..max_unit chars, not blank) repeated min_repeats times.

    The official detector: units are tried shortest first up to ``min(max_unit, len // min_repeats)``.
    """
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


def clean_repeated_substrings(
    text: str, min_repeats: int = CLEANUP_MIN_REPEATS, min_length: int = CLEANUP_MIN_LENGTH["1.5"]
) -> str:
    """Keep one copy of a suffix repeated >= min_repeats times (the official final safety net).

    Texts shorter than ``min_length`` are left alone: 2,000 in 1.5's code, 8,000 in 1.0's
    (``CLEANUP_MIN_LENGTH[version]``). Below that a repeat is more likely content, e.g. a row of
    dashes on a receipt, than a degenerate loop.
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


class TailStop:
    """The official early-stop schedule for one growing answer: call ``should_stop`` with the text so far.

    Nothing is checked until the text is CHECK_START_CHARS long; a check moves the next checkpoint
    to the length checked + CHECK_STEP_CHARS, so a decode loop may call this as often as it likes
    (every token, every 64 tokens) and pays for the detector about once per 1,000 characters.
    ``last_checked_at`` is the length of the text at the last check (None before the first);
    ``stopped`` stays True once a loop was found.
    """

    def __init__(
        self,
        *,
        start: int = CHECK_START_CHARS,
        step: int = CHECK_STEP_CHARS,
        window: int = TAIL_WINDOW_CHARS,
        min_repeats: int = TAIL_MIN_REPEATS,
        max_unit: int = TAIL_MAX_UNIT,
    ) -> None:
        self.next_check_at = start
        self.step = step
        self.window = window
        self.min_repeats = min_repeats
        self.max_unit = max_unit
        self.last_checked_at: int | None = None
        self.stopped = False

    def should_stop(self, text: str) -> bool:
        if self.stopped:
            return True
        n = len(text)
        if n < self.next_check_at:
            return False
        self.last_checked_at = n
        self.next_check_at = n + self.step
        self.stopped = has_tail_repetition(text[-self.window :], self.min_repeats, self.max_unit)
        return self.stopped


def _ids_as_text(ids: list[int]) -> str:
    """Token ids as a string, one character per token, for running the text rule without a tokenizer.

    Characters from the supplementary private-use planes (never whitespace, never equal across
    different ids), so a repeated n-gram of tokens is a repeated n-character unit. A token decodes
    to at least one character in practice, so counting tokens as characters reaches the 4,000 mark
    no earlier than the decoded text would.
    """
    return "".join(chr(0xF0000 + (i % 0x20000)) for i in ids)


class TailRepetitionStop(StoppingCriteria):
    """Stop each row of a batched generate whose answer ends in a loop, by the official rule (TailStop).

    ``TailRepetitionStop(prompt_len, decode=None)``. Only tokens after ``prompt_len`` (the padded
    input length) count. Every ``probe_every`` new tokens (64, as the official transformers
    client) each row still running has its new tokens decoded with ``decode`` (e.g.
    ``lambda ids: tokenizer.decode(ids, skip_special_tokens=True)``) and handed to its own
    TailStop. Without ``decode`` the rule runs on the token ids themselves, one token counted as
    one character (_ids_as_text): same thresholds, later first check. Rows stopped here are
    remembered in ``stopped`` so the caller can flag their output as truncated.
    """

    def __init__(
        self,
        prompt_len: int,
        decode: Callable[[list[int]], str] | None = None,
        *,
        probe_every: int = TOKEN_PROBE_STEP,
        start: int = CHECK_START_CHARS,
        step: int = CHECK_STEP_CHARS,
        window: int = TAIL_WINDOW_CHARS,
        min_repeats: int = TAIL_MIN_REPEATS,
        max_unit: int = TAIL_MAX_UNIT,
    ) -> None:
        self.prompt_len = prompt_len
        self.decode = decode or _ids_as_text
        self.probe_every = probe_every
        self._rule = {"start": start, "step": step, "window": window, "min_repeats": min_repeats, "max_unit": max_unit}
        self.stopped: torch.Tensor | None = None
        self._rows: list[TailStop] = []
        self._last_probe = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: object) -> torch.BoolTensor:
        batch = input_ids.shape[0]
        if self.stopped is None:
            self.stopped = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
            self._rows = [TailStop(**self._rule) for _ in range(batch)]
        generated = input_ids.shape[1] - self.prompt_len
        if generated - self._last_probe < self.probe_every:
            return self.stopped.clone()  # type: ignore[return-value]  # a bool tensor; torch types it as Tensor
        self._last_probe = generated
        rows = input_ids[:, self.prompt_len :].tolist()  # one device->host copy for the whole batch
        for i, row in enumerate(rows):
            if not self.stopped[i] and self._rows[i].should_stop(self.decode(row)):
                self.stopped[i] = True
        return self.stopped.clone()  # type: ignore[return-value]  # as above
