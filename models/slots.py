"""Continuous batching in slots: one decode thread owns the GPU, requests come and go per slot.

Callers (the worker's task threads, each with its image or document page, one stream) hand in
requests whose inputs are already prepared (pixels, token ids: that work stays in the caller's
thread, off the decode thread) and block on a future. The decode thread:

1. admits waiting requests into free slots: prefill (vision tower + prompt, eagerly, batch 1)
   writes the prompt's K/V into the slot and picks the first token;
2. runs ``check_every`` steps of the bucketed decoder step over the occupied slots;
3. reads the done flags once (the only host sync of the interval) and finishes rows that hit EOS,
   their token cap, a tail repetition or a cancellation; a finished row frees its slot and the next
   waiting request is prefilled into it while the others keep their caches.

Each row's tokens depend only on its own prompt: a request that joins mid-decode gets the tokens it
would get alone (tests/unit/test_decode_loop.py holds the loop to eager ``generate`` token for token).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import torch

from models.decoder_step import LENGTH_BUCKETS, SLOT_BUCKETS, DecoderStep, bucket

log = logging.getLogger(__name__)


@dataclass
class Prefilled:
    """A prompt after its forward pass: per-layer K/V ``[kv, len, d]``, last logits, its token ids."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    logits: torch.Tensor  # [vocab], float32
    prompt_ids: torch.Tensor  # [len]
    rope_delta: int  # decode position = tokens so far + rope_delta


class TailCheck(Protocol):
    def should_stop(self, text: str) -> bool: ...


@dataclass
class DecodeRequest:
    prefill: Callable[[], Prefilled]  # runs on the decode thread: it is GPU work
    prompt_tokens: int
    max_new_tokens: int
    decode: Callable[[list[int]], str]  # token ids -> text, for the tail-repetition check
    cancelled: Callable[[], bool] | None = None
    future: Future[DecodeResult] = field(default_factory=Future)


@dataclass
class DecodeResult:
    tokens: list[int]  # generated ids, EOS excluded
    ended: bool  # stopped by EOS (not by the cap, a repetition or a cancellation)
    reason: str  # "eos" | "cap" | "repetition" | "cancelled"


class PromptTooLong(Exception):
    """The prompt leaves no room for an answer in a slot (code ``prompt_too_long``)."""


@dataclass
class _Row:
    req: DecodeRequest
    cap: int
    wlen: int  # host mirror of the row's cache column
    ngen: int  # host mirror of its generated-token count
    tail: TailCheck | None


class SlotScheduler:
    """Owns a DecoderStep and the thread that drives it."""

    def __init__(
        self,
        step: DecoderStep,
        *,
        check_every: int = 8,
        tail_check: Callable[[], TailCheck] | None = None,
        tail_min_tokens: int = 512,
        tail_every: int = 64,
    ) -> None:
        self.step = step
        self.check_every = check_every
        self.tail_check = tail_check
        self.tail_min_tokens = tail_min_tokens
        self.tail_every = tail_every
        self.slots = step.geo.slots
        self.slot_limit = self.slots  # lowered when a bucket runs out of CUDA memory
        self._rows: dict[int, _Row] = {}
        self._waiting: queue.Queue[DecodeRequest | None] = queue.Queue()
        self._steps = 0
        self.peak_rows = 0  # the most rows decoding together: tests and metrics read it
        self._thread = threading.Thread(target=self._loop, name="ocrq-decode", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ callers

    def submit(self, req: DecodeRequest) -> Future[DecodeResult]:
        room = self.step.geo.slot_tokens - req.prompt_tokens - self.check_every
        if room < 1:
            req.future.set_exception(PromptTooLong(
                f"prompt of {req.prompt_tokens} tokens does not fit a slot of {self.step.geo.slot_tokens}"))
            return req.future
        req.max_new_tokens = max(1, min(req.max_new_tokens, room, self.step.geo.out_tokens - self.check_every))
        self._waiting.put(req)
        return req.future

    def close(self) -> None:
        self._waiting.put(None)
        self._thread.join(timeout=10)

    # ------------------------------------------------------------------ decode thread

    def _loop(self) -> None:
        while True:
            try:
                if not self._admit(block=not self._rows):
                    return
                if self._rows:
                    self._run_interval()
            except Exception as err:  # noqa: BLE001 - the thread must outlive any one failure
                log.exception("decode loop: failing %d request(s) in flight", len(self._rows))
                for slot in list(self._rows):
                    self._finish_error(slot, err)

    def _admit(self, *, block: bool) -> bool:
        """Prefill waiting requests into free slots; False when the scheduler is closing."""
        while len(self._rows) < self.slot_limit:
            try:
                req = self._waiting.get(block=block and not self._rows)
            except queue.Empty:
                return True
            if req is None:
                return False
            if req.cancelled is not None and req.cancelled():
                req.future.set_result(DecodeResult([], False, "cancelled"))
                continue
            slot = min(set(range(self.slot_limit)) - set(self._rows))
            try:
                self._prefill_into(slot, req)
            except Exception as err:  # noqa: BLE001 - this request fails alone
                if not req.future.done():
                    req.future.set_exception(err)
        return True

    def _prefill_into(self, slot: int, req: DecodeRequest) -> None:
        with torch.inference_mode():
            pre = req.prefill()
            step = self.step
            seen = torch.zeros(step.geo.vocab, dtype=torch.bool, device=step.device)
            seen[pre.prompt_ids.to(step.device)] = True
            logits = pre.logits.to(step.device).float()
            p = step.penalty
            logits = torch.where(seen, torch.where(logits < 0, logits * p, logits / p), logits)
            first = int(torch.argmax(logits))
            length = int(pre.keys[0].shape[1])
            step.load_row(slot, pre.keys, pre.values, first_token=first, position=length + pre.rope_delta, seen=seen)
        tail = self.tail_check() if self.tail_check is not None else None
        self._rows[slot] = _Row(req, req.max_new_tokens, wlen=length, ngen=1, tail=tail)
        if len(self._rows) > self.peak_rows:
            self.peak_rows = len(self._rows)
            log.info("decode slots: %d of %d decoding together (a new peak)", self.peak_rows, self.slots,
                     extra={"decode_rows": self.peak_rows})
        if first in step.eos.tolist() or req.max_new_tokens <= 1:
            self._finish(slot, [first], step.eos.tolist())

    def _run_interval(self) -> None:
        n = bucket(max(self._rows) + 1, SLOT_BUCKETS, self.slots)
        longest = max(r.wlen for r in self._rows.values())
        length = bucket(longest + self.check_every + 1, LENGTH_BUCKETS, self.step.geo.slot_tokens)
        try:
            for _ in range(self.check_every):
                self.step.step(n, length)
        except torch.cuda.OutOfMemoryError:
            self._shrink_after_oom(n)
            return
        self._steps += self.check_every
        for row in self._rows.values():
            row.wlen += self.check_every
            row.ngen += self.check_every
        self._check(n)

    def _check(self, n: int) -> None:
        done = self.step.done[:n].tolist()  # the one sync of the interval
        eos = self.step.eos.tolist()
        tail_due = self._steps % self.tail_every < self.check_every
        for slot, row in list(self._rows.items()):
            if done[slot] or row.ngen >= row.cap:
                self._finish(slot, self.step.out[slot, : min(row.ngen, row.cap)].tolist(), eos)
            elif row.req.cancelled is not None and row.req.cancelled():
                self._release(slot, DecodeResult([], False, "cancelled"))
            elif row.tail is not None and tail_due and row.ngen >= self.tail_min_tokens:
                tokens = self.step.out[slot, : row.ngen].tolist()
                if row.tail.should_stop(row.req.decode(tokens)):
                    self._release(slot, DecodeResult(tokens, False, "repetition"))

    def _finish(self, slot: int, tokens: list[int], eos: list[int]) -> None:
        cut = next((i for i, t in enumerate(tokens) if t in eos), None)
        if cut is not None:
            self._release(slot, DecodeResult(tokens[:cut], True, "eos"))
        else:
            self._release(slot, DecodeResult(tokens, False, "cap"))

    def _release(self, slot: int, result: DecodeResult) -> None:
        row = self._rows.pop(slot)
        self.step.free_row(slot)
        if not row.req.future.done():
            row.req.future.set_result(result)

    def _finish_error(self, slot: int, err: BaseException) -> None:
        row = self._rows.pop(slot)
        self.step.free_row(slot)
        if not row.req.future.done():
            row.req.future.set_exception(err)

    def _shrink_after_oom(self, n: int) -> None:
        """Out of CUDA memory in a bucket: halve the slots in use and decode the rows again.

        Every row in flight goes back to the front of the queue and is prefilled again: the steps of
        the interval that ran before the failure advanced the device state without the host
        mirrors (columns, token counts), so no row can simply continue. No request fails until a
        single row cannot be decoded.
        """
        torch.cuda.empty_cache()
        if self.slot_limit <= 1:
            for slot in list(self._rows):
                self._finish_error(slot, torch.cuda.OutOfMemoryError("out of GPU memory with one slot"))
            return
        self.slot_limit = max(1, min(self.slot_limit, n) // 2)
        log.warning("decode loop: CUDA out of memory at %d rows; using %d slots", n, self.slot_limit)
        pending: list[DecodeRequest | None] = []
        for slot in list(self._rows):
            pending.append(self._rows.pop(slot).req)
            self.step.free_row(slot)
        while True:
            try:
                pending.append(self._waiting.get_nowait())
            except queue.Empty:
                break
        for item in pending:
            self._waiting.put(item)
