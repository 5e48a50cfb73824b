"""The one thread that drives vLLM's step API: requests join a running batch between two steps.

One background thread owns a vLLM ``LLMEngine`` (the step API: ``add_request`` / ``step`` /
``abort_request``) and is the only thread that ever touches it. Any thread submits requests to it
(``StepLoop.submit``); the loop adds them to the engine between two decode steps, so a request that
arrives while others are decoding joins the running batch at once instead of waiting for it to
end, and a finished request frees its slot for the next one in the same step. A caller blocks only
on its own ``Ticket``.

The step API shows each request's text as it grows (``RequestOutputKind.DELTA``), so the official
tail-repetition early stop applies per request, as in the official streaming client: ``TailStop``
(models/generation.py) looks at the decoded text on the official schedule, and when it fires the
request is aborted (its slot freed) and its answer marked truncated.

A request whose ``cancelled()`` turns true (polled every CANCEL_POLL_S while it is queued or
decoding) is aborted and ends ``canceled``. No vLLM import here: the loop drives any object with
vLLM's step API, which is how tests/unit/test_hunyuan_vllm.py checks the bookkeeping on a CPU. The
engine that prepares prompts and reads the answers is models/hunyuan_vllm.py.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from models.base import EngineError

log = logging.getLogger("models.hunyuan_vllm")  # the engine's logger: operators grep one name

WAIT_SLICE_S = 0.5  # a waiting caller wakes this often, so signals (time limits) reach it promptly
CANCEL_POLL_S = 0.25  # how often the loop asks the requests in flight whether they were canceled


class StepEngine(Protocol):
    """The part of ``vllm.LLMEngine`` (v1) that StepLoop uses, always from its one thread."""

    def add_request(self, request_id: str, prompt: Any, params: Any) -> Any: ...

    def abort_request(self, request_ids: list[str]) -> None: ...

    def step(self) -> list[Any]: ...

    def has_unfinished_requests(self) -> bool: ...


class StopCheck(Protocol):
    """Early stop of one request, fed its whole decoded text so far after every step."""

    def should_stop(self, text: str) -> bool: ...


def tail_stop() -> StopCheck:
    """The official tail-repetition early stop (models/generation.py), one per request."""
    from models.generation import TailStop

    stop: StopCheck = TailStop()
    return stop


@dataclass(frozen=True)
class Completion:
    """What one request decoded, and why it ended.

    ``finish``: ``stop`` (EOS or a stop token), ``length`` (the token cap or max_model_len),
    ``repetition`` (vLLM's own repetition detector) or ``tail_stop`` (our early stop aborted it).
    """

    text: str
    finish: str
    tokens: int

    @property
    def truncated(self) -> bool:
        return self.finish != "stop"


class Ticket:
    """One submitted request; its result is set once, by the loop thread (or by its shutdown)."""

    def __init__(
        self, request_id: str, prompt: Any, params: Any, is_cancelled: Callable[[], bool] | None = None
    ) -> None:
        self.request_id = request_id
        self.prompt = prompt
        self.params = params
        self.is_cancelled = is_cancelled  # the caller's flag (EngineRequest.cancelled), polled by the loop
        self.cancelled = False  # set by StepLoop.cancel
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._result: Completion | EngineError | None = None

    def done(self) -> bool:
        return self._done.is_set()

    def wants_cancel(self) -> bool:
        if self.cancelled:
            return True
        try:
            return self.is_cancelled is not None and bool(self.is_cancelled())
        except Exception:  # noqa: BLE001 - a flag that cannot be read does not cancel
            log.warning("hunyuan-vllm: cancelled() of %s failed", self.request_id, exc_info=True)
            return False

    def wait(self, timeout: float | None = None) -> Completion | EngineError:
        """The result; TimeoutError if none came within ``timeout`` seconds (None: wait for it)."""
        if timeout is None:
            while not self._done.wait(WAIT_SLICE_S):
                pass
        elif not self._done.wait(timeout):
            raise TimeoutError(f"request {self.request_id} still running after {timeout} s")
        assert self._result is not None
        return self._result

    def resolve(self, result: Completion | EngineError) -> bool:
        """Set the result unless one is set already; True when this call set it."""
        with self._lock:
            if self._done.is_set():
                return False
            self._result = result
            self._done.set()
            return True


@dataclass
class _Live:
    """A request the engine is decoding: its text so far and its own early stop."""

    ticket: Ticket
    stop: StopCheck
    text: str = ""
    tokens: int = 0


def canceled() -> EngineError:
    return EngineError("canceled", "request canceled while queued or decoding; its slot was freed")


def add_error(err: BaseException) -> EngineError:
    """The EngineError for a request vLLM refused at add_request (it validates inputs there)."""
    message = f"{err.__class__.__name__}: {err}"
    if "maximum model length" in str(err):  # vLLM: "The decoder prompt (length N) is longer than ..."
        return EngineError("prompt_too_long", f"prompt (text and image tokens) too long for the model: {err}"[:500])
    return EngineError("inference_failed", message[:500])


class StepLoop:
    """Owns a step engine; one background thread adds, steps and aborts, any thread submits.

    Commands (add, cancel, close) go through a queue and are applied between two engine steps, so
    the engine is only ever called from this loop's thread and a new request never waits for the
    requests already decoding. The loop sleeps on that queue while nothing is in flight.
    """

    def __init__(
        self,
        engine: StepEngine,
        *,
        new_stop: Callable[[], StopCheck] = tail_stop,
        name: str = "hunyuan-vllm",
        cancel_poll_s: float = CANCEL_POLL_S,
    ) -> None:
        self.engine = engine
        self._new_stop = new_stop
        self._cancel_poll_s = cancel_poll_s
        self._next_cancel_poll = 0.0
        self._inbox: queue.SimpleQueue[tuple[str, Ticket] | None] = queue.SimpleQueue()
        self._live: dict[str, _Live] = {}
        self._ids = itertools.count()
        self._prefix = name
        self.generated_tokens = 0  # all requests' new tokens, for benchmarks
        self.dead: BaseException | None = None  # set when the engine can no longer run anything
        self._thread = threading.Thread(target=self._main, name=f"{name}-steps", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- any thread

    def submit(self, prompt: Any, params: Any, cancelled: Callable[[], bool] | None = None) -> Ticket:
        """Queue one request for the engine; ``cancelled`` (optional) is polled while it is in flight."""
        ticket = Ticket(f"{self._prefix}-{next(self._ids)}", prompt, params, cancelled)
        self._inbox.put(("add", ticket))
        if not self._thread.is_alive():  # the loop ended: nobody would ever answer this one
            self._drain_after_exit()
        return ticket

    def cancel(self, tickets: Iterable[Ticket]) -> None:
        """Abort these requests (queued or decoding): each ends ``canceled`` and frees its slot."""
        for ticket in tickets:
            if not ticket.done():
                ticket.cancelled = True
                self._inbox.put(("cancel", ticket))

    def close(self, timeout: float = 10.0) -> None:
        """Stop the loop; requests still in flight end with an error."""
        self._inbox.put(None)
        self._thread.join(timeout)

    @property
    def in_flight(self) -> int:
        return len(self._live)

    # ---------------------------------------------------------------- the loop thread

    def _main(self) -> None:
        reason = "the engine loop was closed"
        try:
            while self._apply_commands(block=not self._live):
                if self._live:
                    self._step()
                    self._poll_cancellations()
        except BaseException as err:  # noqa: BLE001 - never leave a caller waiting
            log.exception("hunyuan-vllm: engine loop crashed")
            self.dead = err
            reason = f"the engine loop crashed: {err.__class__.__name__}: {err}"
        finally:
            for live in self._live.values():
                live.ticket.resolve(EngineError("inference_failed", reason[:500]))
            self._live.clear()
            self._drain_after_exit(reason)

    def _drain_after_exit(self, reason: str = "the engine loop has stopped") -> None:
        while True:
            try:
                cmd = self._inbox.get_nowait()
            except queue.Empty:
                return
            if cmd is not None:
                cmd[1].resolve(EngineError("inference_failed", reason[:500]))

    def _apply_commands(self, *, block: bool) -> bool:
        """Apply every waiting command (when idle, wait for the first); False once told to close."""
        while True:
            try:
                cmd = self._inbox.get() if block else self._inbox.get_nowait()
            except queue.Empty:
                return True
            if cmd is None:
                return False
            block = False
            kind, ticket = cmd
            if kind == "add":
                self._add(ticket)
            else:
                self._cancel(ticket)

    def _add(self, ticket: Ticket) -> None:
        if ticket.wants_cancel():
            ticket.resolve(canceled())
            return
        if self.dead is not None:
            ticket.resolve(EngineError("inference_failed", f"the vLLM engine is dead: {self.dead}"[:500]))
            return
        stop = self._new_stop()  # before add_request: nothing may fail between adding and tracking
        try:
            self.engine.add_request(ticket.request_id, ticket.prompt, ticket.params)
        except Exception as err:  # noqa: BLE001 - vLLM validates inputs here; the error is this request's
            ticket.resolve(add_error(err))
            return
        self._live[ticket.request_id] = _Live(ticket, stop)

    def _cancel(self, ticket: Ticket) -> None:
        if self._live.pop(ticket.request_id, None) is None:
            return  # not added yet (_add sees the flag) or already finished
        self._abort(ticket.request_id)
        ticket.resolve(canceled())

    def _poll_cancellations(self) -> None:
        now = time.monotonic()
        if now < self._next_cancel_poll:
            return
        self._next_cancel_poll = now + self._cancel_poll_s
        for live in [live for live in self._live.values() if live.ticket.wants_cancel()]:
            self._cancel(live.ticket)

    def _abort(self, request_id: str) -> None:
        try:
            self.engine.abort_request([request_id])
        except Exception:  # noqa: BLE001 - an abort that fails must not take the loop down
            log.exception("hunyuan-vllm: abort of %s failed", request_id)

    def _step(self) -> None:
        try:
            outputs = self.engine.step()
        except Exception as err:  # noqa: BLE001 - fail what was in flight; the engine may recover
            log.exception("hunyuan-vllm: engine step failed with %d request(s) in flight", len(self._live))
            if err.__class__.__name__ == "EngineDeadError":  # vLLM's engine core process is gone
                self.dead = err
            self._fail_live(f"{err.__class__.__name__}: {err}")
            return
        for output in outputs:
            self._on_output(output)
        if self._live and not outputs and not self.engine.has_unfinished_requests():
            # The engine no longer knows requests we wait for: never leave their callers waiting.
            self._fail_live("the engine dropped the request")

    def _fail_live(self, reason: str) -> None:
        live, self._live = self._live, {}
        for request_id, item in live.items():
            self._abort(request_id)
            item.ticket.resolve(EngineError("inference_failed", reason[:500]))

    def _on_output(self, output: Any) -> None:
        live = self._live.get(output.request_id)
        if live is None:
            return  # aborted or failed already
        completion = output.outputs[0]  # DELTA: the text and tokens new since the last step
        live.text += completion.text
        new_tokens = len(completion.token_ids)
        live.tokens += new_tokens
        self.generated_tokens += new_tokens
        finish = completion.finish_reason
        if output.finished or finish is not None:
            del self._live[output.request_id]
            finish = str(finish) if finish is not None else "stop"
            if finish in ("abort", "error"):  # not ours (ours are gone from _live): vLLM gave up on it
                live.ticket.resolve(EngineError("inference_failed", f"vLLM ended the request ({finish})"))
            else:
                live.ticket.resolve(Completion(live.text, finish, live.tokens))
            return
        if live.stop.should_stop(live.text):
            del self._live[output.request_id]
            self._abort(output.request_id)
            live.ticket.resolve(Completion(live.text, "tail_stop", live.tokens))
