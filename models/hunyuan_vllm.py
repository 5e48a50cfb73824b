"""HunyuanOCR through vLLM: the high-throughput GPU engine, with continuous batching.

Same prompts for the checkpoint's HunyuanOCR version (models.prompts, version from
models.recipe.detect_version), same chat template (the checkpoint's, via its processor), same
repetition defences and same parsers (models.parsers) as the transformers engine, so the two answer
identically in format.

How requests reach the GPU: one background thread owns a vLLM ``LLMEngine`` (the step API:
``add_request`` / ``step`` / ``abort_request``) and is the only thread that ever touches it. Any
thread's ``run()`` prepares its requests (image check, prompt through the chat template) and hands
them to that thread, which adds them to the engine between two decode steps: a request that arrives
while others are decoding joins the running batch at once instead of waiting for it to end, and a
finished request frees its slot for the next one in the same step. vLLM decodes at most
``max_num_seqs`` requests at once, set from the worker's slot count; the rest wait in vLLM's own
queue. ``run()`` blocks only its own caller until its own requests are done.

The step API shows each request's text as it grows (``RequestOutputKind.DELTA``), so the official
tail-repetition early stop applies per request, as in the official streaming client: ``TailStop``
(models/generation.py) looks at the decoded text on the official schedule, and when it fires the
request is aborted (its slot freed) and its answer marked truncated. The official final trim of a
repeated suffix (its length floor per version) then runs on every answer.

Settings follow vLLM's HunyuanOCR recipe and the official client (Tencent-Hunyuan/HunyuanOCR):
prefix caching and the multimodal processor cache off (every job is a new image, so both only cost
memory), one image per prompt, temperature 0, ``repetition_penalty`` 1.08.

Errors, per request: a task the engine or the checkpoint's version lacks ``unsupported_task``; an
image that cannot be decoded ``bad_image``; a prompt that cannot be built ``bad_request``; a prompt
(text plus image tokens) longer than ``max_model_len`` ``prompt_too_long``; anything vLLM refuses
or breaks on ``inference_failed``. A request whose ``cancelled()`` turns true (polled every
CANCEL_POLL_S while it is queued or decoding) is aborted and ends ``canceled``, and so are the
requests of a caller interrupted while waiting (a time limit): either way their slots are freed at
once. A vLLM engine that died makes ``run()`` raise, so the worker's retry rules apply.

Everything but ``HunyuanVllmEngine.load`` runs without vLLM: ``StepLoop`` drives any object with
vLLM's step API, which is how tests/test_hunyuan_vllm.py checks the bookkeeping on a CPU.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from models import parsers, prompts
from models.base import EngineError, EngineLoadError, EngineOutput, EngineRequest
from models.checkpoints import verify
from models.generation import CLEANUP_MIN_LENGTH, REPETITION_PENALTY, clean_repeated_substrings
from models.hunyuan import check_image
from models.recipe import DEFAULT_VERSION, detect_version
from shared.engines import ENGINES
from shared.infra.settings import Settings
from shared.jobs.task_spec import TaskSpec

log = logging.getLogger(__name__)

Result = EngineOutput | EngineError

WAIT_SLICE_S = 0.5  # a waiting caller wakes this often, so signals (time limits) reach it promptly
CANCEL_POLL_S = 0.25  # how often the loop asks the requests in flight whether they were canceled


# ---------------------------------------------------------------------------------------------
# The seam: vLLM's step API, and the loop that drives it (no vLLM import below this line)
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VllmApi:
    """The few vLLM names load() needs (a seam: tests hand in stand-ins)."""

    engine_args: Any  # vllm.EngineArgs
    llm_engine: Any  # vllm.LLMEngine
    sampling_params: Any  # vllm.SamplingParams
    output_kind: Any  # vllm.sampling_params.RequestOutputKind
    version: str


def import_vllm() -> VllmApi:
    try:
        import vllm
        from vllm.sampling_params import RequestOutputKind
    except ImportError as err:
        raise EngineLoadError(
            f"engine hunyuan-vllm needs the vllm package ({err.name or 'vllm'} not importable): install ocrq[vllm] "
            "into a virtualenv of its own (docs/hunyuan.md, 'vLLM')"
        ) from err
    return VllmApi(vllm.EngineArgs, vllm.LLMEngine, vllm.SamplingParams, RequestOutputKind, vllm.__version__)


def with_max_tokens(params: Any, max_tokens: int) -> Any:
    """A copy of sampling params with another token cap (vLLM's SamplingParams has clone())."""
    clone = params.clone() if hasattr(params, "clone") else copy.copy(params)
    clone.max_tokens = max_tokens
    return clone


@dataclass(frozen=True)
class _Item:
    task: str
    image: Image.Image
    prompt_text: str


class HunyuanVllmEngine:
    name = "hunyuan-vllm"
    tasks = ENGINES["hunyuan-vllm"].tasks
    continuous = True  # concurrent run() calls share the running batch: the worker needs no batcher

    def __init__(
        self,
        engine: StepEngine,
        processor: Any,
        sampling_params: Any,
        *,
        version: str,
        recipe: str = DEFAULT_VERSION,
        new_stop: Callable[[], StopCheck] = tail_stop,
    ) -> None:
        self.processor = processor
        self.sampling_params = sampling_params  # handed to every request (vLLM copies it per request)
        self.version = version
        self.recipe = recipe  # "1.0" | "1.5": which official prompts this checkpoint was trained on
        self.loop = StepLoop(engine, new_stop=new_stop, name=self.name)

    @classmethod
    def from_settings(cls, settings: Settings) -> HunyuanVllmEngine:
        return cls.load(settings.model_path, max_new_tokens=settings.max_new_tokens, max_num_seqs=settings.batch_max)

    @classmethod
    def load(
        cls,
        model_path: str,
        *,
        max_new_tokens: int = 4096,
        max_num_seqs: int = 16,
        gpu_memory_utilization: float = 0.85,
        max_model_len: int = 16384,
    ) -> HunyuanVllmEngine:
        problems = verify(model_path)
        if problems:
            raise EngineLoadError(f"HunyuanOCR weights at '{model_path}' unusable: {'; '.join(problems)}")
        api = import_vllm()
        from transformers import AutoProcessor

        try:
            processor = AutoProcessor.from_pretrained(model_path, local_files_only=True)
            engine = api.llm_engine.from_engine_args(
                api.engine_args(
                    model=model_path,
                    tokenizer=model_path,
                    dtype="bfloat16",
                    max_model_len=max_model_len,
                    max_num_seqs=max(1, max_num_seqs),
                    gpu_memory_utilization=gpu_memory_utilization,
                    limit_mm_per_prompt={"image": 1},
                    enable_prefix_caching=False,
                    mm_processor_cache_gb=0,
                    disable_log_stats=True,
                )
            )
        except Exception as err:  # noqa: BLE001 - any load failure becomes one operator line
            first = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
            raise EngineLoadError(f"HunyuanOCR could not load in vLLM from '{model_path}': {first}") from err
        sampling = api.sampling_params(
            temperature=0.0,
            max_tokens=max_new_tokens,
            repetition_penalty=REPETITION_PENALTY,
            skip_special_tokens=True,
            output_kind=api.output_kind.DELTA,  # each step's new text: what the early stop reads
        )
        recipe = detect_version(json.loads((Path(model_path) / "config.json").read_text(encoding="utf-8")))
        version = f"hunyuanocr:{Path(model_path).resolve().name}+{recipe}+vllm-{api.version}"
        log.info(
            "hunyuan-vllm: loaded %s (HunyuanOCR %s, vllm %s, max_num_seqs %d)",
            model_path,
            recipe,
            api.version,
            max(1, max_num_seqs),
        )
        return cls(engine, processor, sampling, version=version, recipe=recipe)

    @property
    def generated_tokens(self) -> int:
        """New tokens generated by all requests so far (bench/engine.py's tok/s)."""
        return self.loop.generated_tokens

    def close(self) -> None:
        self.loop.close()

    def warmup(self) -> None:
        """One tiny request: CUDA graphs, allocator pools and lazy inits happen here, not on job one."""
        image = Image.new("RGB", (64, 64), "white")
        prompt_text = self._prompt_text(image, prompts.build_prompt(TaskSpec(task="text"), self.recipe))
        ticket = self.loop.submit(self._inputs(image, prompt_text), with_max_tokens(self.sampling_params, 2))
        result = ticket.wait()
        if isinstance(result, EngineError):
            raise EngineLoadError(f"hunyuan-vllm warm-up failed: {result.code}: {result}")

    def run(self, requests: Sequence[EngineRequest]) -> list[Result]:
        if self.loop.dead is not None:
            raise RuntimeError(f"hunyuan-vllm: the vLLM engine is dead ({self.loop.dead})")
        results: list[Result | None] = [None] * len(requests)
        waiting: list[tuple[int, _Item, Ticket]] = []
        try:
            for i, req in enumerate(requests):
                item = self._prepare(req)
                if isinstance(item, EngineError):
                    results[i] = item
                    continue
                # Submitted as soon as prepared: the engine starts on it while the rest are prepared.
                ticket = self.loop.submit(
                    self._inputs(item.image, item.prompt_text), self.sampling_params, getattr(req, "cancelled", None)
                )
                waiting.append((i, item, ticket))
            for i, item, ticket in waiting:
                results[i] = self._finish(item, ticket.wait())
        except BaseException:
            # A time limit (or any interruption) while waiting: abort what is left, freeing the slots.
            self.loop.cancel(ticket for _, _, ticket in waiting)
            raise
        return [r for r in results if r is not None]

    def _prepare(self, req: EngineRequest) -> _Item | EngineError:
        if req.spec.task not in self.tasks:
            return EngineError("unsupported_task", f"hunyuan-vllm cannot do task '{req.spec.task}'")
        try:
            image = check_image(req.image)
        except Exception as err:  # noqa: BLE001 - PIL raises many types for bad data
            return EngineError("bad_image", f"cannot read image: {err}"[:300])
        try:
            prompt_text = self._prompt_text(image, prompts.build_prompt(req.spec, self.recipe))
        except EngineError as err:  # a 1.5-only task on a 1.0 checkpoint: unsupported_task
            return err
        except Exception as err:  # noqa: BLE001
            return EngineError("bad_request", f"cannot build prompt: {err}"[:300])
        return _Item(req.spec.task, image, prompt_text)

    def _prompt_text(self, image: Image.Image, prompt: str) -> str:
        text: str = self.processor.apply_chat_template(
            prompts.build_messages(image, prompt), tokenize=False, add_generation_prompt=True
        )
        return text

    @staticmethod
    def _inputs(image: Image.Image, prompt_text: str) -> dict[str, Any]:
        return {"prompt": prompt_text, "multi_modal_data": {"image": image}}

    def _finish(self, item: _Item, result: Completion | EngineError) -> Result:
        if isinstance(result, EngineError):
            return result
        width, height = item.image.size
        text = clean_repeated_substrings(result.text, min_length=CLEANUP_MIN_LENGTH[self.recipe])
        return parsers.to_output(item.task, text, width, height, truncated=result.truncated)
