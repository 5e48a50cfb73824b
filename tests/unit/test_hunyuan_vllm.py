"""The vLLM engine's own logic on a CPU: request bookkeeping, continuous batching, stops, errors.

vLLM needs a GPU, so these tests drive models/hunyuan_vllm.py and its step loop
(models/vllm_step_loop.py) through FakeStepEngine: vLLM v1's
``LLMEngine`` step API in miniature (``add_request`` / ``step`` / ``abort_request`` /
``has_unfinished_requests``, RequestOutput and CompletionOutput shapes, DELTA outputs, a scheduler
of ``max_num_seqs`` slots with a waiting queue, vLLM's prompt-length refusal). It is a stand-in for
the library, not for a server: what is under test is our side of that API. The real vLLM is
exercised by the ``@pytest.mark.vllm`` test at the end (skipped without vllm and a CUDA GPU).
"""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from models import hunyuan_vllm, prompts
from models.base import EngineError, EngineLoadError, EngineOutput, EngineRequest
from models.hunyuan_vllm import HunyuanVllmEngine, VllmApi
from models.vllm_step_loop import Completion, StepLoop
from shared.infra.settings import load_settings
from shared.jobs.task_spec import TaskSpec

# ----------------------------------------------------------------------------------------------
# A miniature of vLLM v1's LLMEngine step API
# ----------------------------------------------------------------------------------------------


@dataclass
class FakeCompletion:  # vllm.outputs.CompletionOutput
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str | None
    stop_reason: str | None = None


@dataclass
class FakeRequestOutput:  # vllm.outputs.RequestOutput
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int] | None
    outputs: list[FakeCompletion]
    finished: bool


class FakeOutputKind(Enum):  # vllm.sampling_params.RequestOutputKind
    CUMULATIVE = 0
    DELTA = 1
    FINAL_ONLY = 2


class FakeParams:  # vllm.SamplingParams: the fields we set, and clone()
    def __init__(self, max_tokens: int = 10_000, **kw: Any) -> None:
        self.max_tokens = max_tokens
        self.output_kind = kw.pop("output_kind", FakeOutputKind.DELTA)
        self.kw = kw

    def clone(self) -> FakeParams:
        return FakeParams(self.max_tokens, output_kind=self.output_kind, **self.kw)


@dataclass
class _Seq:
    request_id: str
    answer: str
    max_tokens: int
    pos: int = 0
    tokens: int = 0


@dataclass
class FakeStepEngine:
    """Each step admits waiting requests into free slots (FIFO), then every running request decodes
    one token of ``chars_per_token`` characters of its scripted answer; the answer's end is EOS
    (``stop``), the token cap ``length``. Outputs are DELTA, as our SamplingParams ask."""

    answer_for: Callable[[dict[str, Any]], str]
    max_num_seqs: int = 2
    max_model_len: int = 10**9
    chars_per_token: int = 1
    step_delay_s: float = 0.0
    waiting: deque[_Seq] = field(default_factory=deque)
    running: dict[str, _Seq] = field(default_factory=dict)
    steps: int = 0
    started_at: dict[str, int] = field(default_factory=dict)  # step at which it got a slot
    finished_at: dict[str, int] = field(default_factory=dict)
    aborted: list[str] = field(default_factory=list)
    prompts: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_running: int = 0
    callers: set[int] = field(default_factory=set)  # threads that called the engine
    fail_next_step: BaseException | None = None
    on_step: Callable[[int], None] | None = None
    gate: threading.Event | None = None  # set: step() waits for it (see held())
    blocked: bool = False

    def add_request(self, request_id: str, prompt: dict[str, Any], params: FakeParams) -> str:
        self.callers.add(threading.get_ident())
        assert params.output_kind is FakeOutputKind.DELTA
        assert request_id not in self.prompts, "request ids must be unique"
        length = len(prompt["prompt"])
        if length > self.max_model_len:  # vLLM's InputProcessor._validate_prompt_len, word for word
            raise ValueError(
                f"The decoder prompt (length {length}) is longer than the maximum model length of "
                f"{self.max_model_len}. Make sure that `max_model_len` is no smaller than the number of "
                "text tokens plus multimodal tokens."
            )
        self.prompts[request_id] = prompt
        self.waiting.append(_Seq(request_id, self.answer_for(prompt), params.max_tokens))
        return request_id

    def abort_request(self, request_ids: list[str]) -> None:
        self.callers.add(threading.get_ident())
        for request_id in request_ids:
            self.aborted.append(request_id)
            self.running.pop(request_id, None)
            self.waiting = deque(s for s in self.waiting if s.request_id != request_id)

    def has_unfinished_requests(self) -> bool:
        self.callers.add(threading.get_ident())
        return bool(self.running or self.waiting)

    def step(self) -> list[FakeRequestOutput]:
        self.callers.add(threading.get_ident())
        if self.gate is not None:
            self.blocked = True
            self.gate.wait(10)
            self.blocked = False
        if self.fail_next_step is not None:
            err, self.fail_next_step = self.fail_next_step, None
            raise err
        self.steps += 1
        while self.waiting and len(self.running) < self.max_num_seqs:
            seq = self.waiting.popleft()
            self.running[seq.request_id] = seq
            self.started_at[seq.request_id] = self.steps
        self.max_running = max(self.max_running, len(self.running))
        outputs = []
        for request_id, seq in list(self.running.items()):
            chunk = seq.answer[seq.pos : seq.pos + self.chars_per_token]
            seq.pos += len(chunk)
            seq.tokens += 1
            finish = "stop" if seq.pos >= len(seq.answer) else "length" if seq.tokens >= seq.max_tokens else None
            outputs.append(
                FakeRequestOutput(
                    request_id, None, None, [FakeCompletion(0, chunk, [seq.tokens], finish)], bool(finish)
                )
            )
            if finish:
                del self.running[request_id]
                self.finished_at[request_id] = self.steps
        if self.on_step is not None:
            self.on_step(self.steps)
        if self.step_delay_s:
            time.sleep(self.step_delay_s)
        return outputs


class NeverStop:
    def should_stop(self, text: str) -> bool:
        return False


@dataclass
class StopAt:
    """A stand-in early stop that fires once the text reaches ``chars`` (bookkeeping tests)."""

    chars: int
    seen: list[int] = field(default_factory=list)

    def should_stop(self, text: str) -> bool:
        self.seen.append(len(text))
        return len(text) >= self.chars


def prompt(answer: str) -> dict[str, Any]:
    return {"prompt": f"<prompt>{answer}", "answer": answer}


def scripted(p: dict[str, Any]) -> str:
    return str(p["answer"])


def wait_until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.002)


@contextmanager
def held(loop: StepLoop, fake: FakeStepEngine) -> Iterator[None]:
    """Hold the loop thread inside one step (of a one-token request) while the body submits, so
    everything the body submits reaches the engine together, before the next step."""
    fake.gate = gate = threading.Event()
    blocker = loop.submit(prompt("!"), FakeParams())
    wait_until(lambda: fake.blocked)
    yield
    fake.gate = None
    gate.set()
    assert isinstance(blocker.wait(10), Completion)


@pytest.fixture
def make_loop() -> Iterator[Callable[..., tuple[StepLoop, FakeStepEngine]]]:
    loops: list[StepLoop] = []

    def make(new_stop: Callable[[], Any] = NeverStop, **kw: Any) -> tuple[StepLoop, FakeStepEngine]:
        fake = FakeStepEngine(kw.pop("answer_for", scripted), **kw)
        loop = StepLoop(fake, new_stop=new_stop, cancel_poll_s=0.0)
        loops.append(loop)
        return loop, fake

    yield make
    for loop in loops:
        loop.close()


# ----------------------------------------------------------------------------------------------
# StepLoop: the bookkeeping around the step API
# ----------------------------------------------------------------------------------------------


def test_a_request_added_while_others_decode_joins_the_running_batch(make_loop: Any) -> None:
    loop, fake = make_loop(max_num_seqs=4)
    late: list[Any] = []
    long_answer = "A" * 60
    # Submitted from inside step 5, i.e. while the first request is mid-answer.
    fake.on_step = lambda n: (
        late.extend([loop.submit(prompt("bee"), FakeParams()), loop.submit(prompt("c"), FakeParams())])
        if n == 5
        else None
    )
    first = loop.submit(prompt(long_answer), FakeParams())
    res = first.wait(10)
    b, c = (t.wait(10) for t in late)
    assert isinstance(res, Completion) and res.text == long_answer and res.finish == "stop" and not res.truncated
    assert isinstance(b, Completion) and b.text == "bee"
    assert isinstance(c, Completion) and c.text == "c"
    # The late ones got a slot at the next step, and finished long before the first one did.
    assert fake.started_at[late[0].request_id] == 6 and fake.started_at[late[1].request_id] == 6
    assert fake.finished_at[late[0].request_id] < fake.finished_at[first.request_id]
    assert fake.max_running == 3
    assert loop.generated_tokens == 60 + 3 + 1


def test_more_requests_than_slots_wait_and_take_each_freed_slot(make_loop: Any) -> None:
    loop, fake = make_loop(max_num_seqs=2)
    answers = ["x" * 5, "y" * 20, "z" * 3, "w" * 4, "v" * 2]
    with held(loop, fake):
        tickets = [loop.submit(prompt(a), FakeParams()) for a in answers]
    results = [t.wait(10) for t in tickets]
    assert [r.text for r in results if isinstance(r, Completion)] == answers
    assert fake.max_running == 2  # never more than max_num_seqs
    ids = [t.request_id for t in tickets]
    # z starts the step after x ends (x's slot), w after z, v after w; y runs throughout.
    assert fake.started_at[ids[2]] == fake.finished_at[ids[0]] + 1
    assert fake.started_at[ids[3]] == fake.finished_at[ids[2]] + 1
    assert fake.started_at[ids[4]] == fake.finished_at[ids[3]] + 1
    assert fake.finished_at[ids[4]] < fake.finished_at[ids[1]]


def test_the_engine_is_only_ever_called_from_the_loop_thread(make_loop: Any) -> None:
    loop, fake = make_loop(max_num_seqs=3, step_delay_s=0.001)
    results: dict[int, Any] = {}

    def caller(i: int) -> None:
        results[i] = loop.submit(prompt(f"answer-{i}-" + "." * 30), FakeParams()).wait(10)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i: r.text for i, r in results.items()} == {i: f"answer-{i}-" + "." * 30 for i in range(6)}
    assert fake.callers == {loop._thread.ident}


def test_the_token_cap_marks_the_answer_truncated(make_loop: Any) -> None:
    loop, _ = make_loop()
    res = loop.submit(prompt("q" * 50), FakeParams(max_tokens=10)).wait(10)
    assert isinstance(res, Completion) and res.text == "q" * 10 and res.finish == "length" and res.truncated


def test_the_early_stop_aborts_the_request_and_its_slot_is_reused(make_loop: Any) -> None:
    thresholds = iter([10**9, 40, 10**9])  # the blocker of held(), the looping request, the queued one
    stops: list[StopAt] = []

    def new_stop() -> StopAt:
        stops.append(StopAt(chars=next(thresholds)))
        return stops[-1]

    loop, fake = make_loop(new_stop=new_stop, max_num_seqs=1, chars_per_token=4)
    with held(loop, fake):
        looping = loop.submit(prompt("ab" * 5000), FakeParams())
        queued = loop.submit(prompt("fine"), FakeParams())
    res, nxt = looping.wait(10), queued.wait(10)
    assert isinstance(res, Completion) and res.finish == "tail_stop" and res.truncated
    assert res.text == ("ab" * 5000)[:40] and res.tokens == 10
    assert fake.aborted == [looping.request_id]
    assert stops[1].seen == list(range(4, 44, 4))  # fed the whole text so far after every step
    # The one slot went to the queued request at the step right after the abort.
    assert isinstance(nxt, Completion) and nxt.text == "fine" and not nxt.truncated
    started = fake.started_at[looping.request_id]
    assert fake.started_at[queued.request_id] == started + 10 == fake.finished_at[queued.request_id]


def test_the_official_tail_stop_cuts_a_loop_but_not_a_long_answer(make_loop: Any) -> None:
    from models.generation import TailStop

    loop, fake = make_loop(new_stop=TailStop, max_num_seqs=2, chars_per_token=10)
    answer = " ".join(str(i) for i in range(2000))  # ~9k characters, no loop
    looping = loop.submit(prompt("row | " * 5000), FakeParams())
    long = loop.submit(prompt(answer), FakeParams())
    cut, whole = looping.wait(10), long.wait(10)
    assert isinstance(cut, Completion) and cut.finish == "tail_stop" and cut.truncated
    assert 4000 <= len(cut.text) < 5010  # the first check, at 4,000 characters, already fires
    assert fake.aborted == [looping.request_id]
    assert isinstance(whole, Completion) and whole.text == answer and whole.finish == "stop"


def test_cancel_aborts_decoding_and_queued_requests_and_frees_their_slots(make_loop: Any) -> None:
    loop, fake = make_loop(max_num_seqs=1, step_delay_s=0.001)
    decoding = loop.submit(prompt("d" * 100_000), FakeParams())
    queued = loop.submit(prompt("q" * 100_000), FakeParams())
    last = loop.submit(prompt("done"), FakeParams())
    wait_until(lambda: decoding.request_id in fake.running and fake.steps > 3)
    loop.cancel([queued])
    loop.cancel([decoding])
    for t in (decoding, queued):
        res = t.wait(10)
        assert isinstance(res, EngineError) and res.code == "canceled"
    res = last.wait(10)
    assert isinstance(res, Completion) and res.text == "done"
    assert set(fake.aborted) == {decoding.request_id, queued.request_id}
    assert queued.request_id not in fake.started_at  # it never took a slot
    assert loop.in_flight == 0


def test_a_request_whose_flag_turns_true_is_aborted(make_loop: Any) -> None:
    loop, fake = make_loop(max_num_seqs=1, step_delay_s=0.001)
    flag = threading.Event()
    ticket = loop.submit(prompt("f" * 100_000), FakeParams(), flag.is_set)
    already = loop.submit(prompt("never"), FakeParams(), lambda: True)
    after = loop.submit(prompt("next"), FakeParams())
    wait_until(lambda: fake.steps > 3)
    flag.set()
    res = ticket.wait(10)
    assert isinstance(res, EngineError) and res.code == "canceled"
    res = already.wait(10)
    assert isinstance(res, EngineError) and res.code == "canceled"
    assert already.request_id not in fake.prompts  # canceled before it reached the engine
    res = after.wait(10)
    assert isinstance(res, Completion) and res.text == "next"


def test_a_prompt_longer_than_max_model_len_is_prompt_too_long(make_loop: Any) -> None:
    loop, _ = make_loop(max_model_len=50)
    too_long, fine = loop.submit(prompt("x" * 100), FakeParams()), loop.submit(prompt("ok"), FakeParams())
    res = too_long.wait(10)
    assert isinstance(res, EngineError) and res.code == "prompt_too_long" and "maximum model length" in str(res)
    res = fine.wait(10)
    assert isinstance(res, Completion) and res.text == "ok"


def test_other_refusals_at_add_request_are_inference_failed(make_loop: Any) -> None:
    def answer_for(p: dict[str, Any]) -> str:
        if p["answer"] == "refuse":
            raise RuntimeError("Failed to apply HunYuanVLProcessor on data")
        return str(p["answer"])

    loop, _ = make_loop(answer_for=answer_for)
    refused, fine = loop.submit(prompt("refuse"), FakeParams()), loop.submit(prompt("ok"), FakeParams())
    res = refused.wait(10)
    assert isinstance(res, EngineError) and res.code == "inference_failed" and "HunYuanVLProcessor" in str(res)
    res = fine.wait(10)
    assert isinstance(res, Completion) and res.text == "ok"


def test_a_failed_step_fails_what_was_in_flight_and_the_loop_goes_on(make_loop: Any) -> None:
    loop, fake = make_loop(max_num_seqs=2)
    fake.fail_next_step = RuntimeError("CUDA error: an illegal memory access")
    a, b = loop.submit(prompt("a" * 10), FakeParams()), loop.submit(prompt("b" * 10), FakeParams())
    for t in (a, b):
        res = t.wait(10)
        assert isinstance(res, EngineError) and res.code == "inference_failed" and "illegal memory" in str(res)
    assert loop.dead is None
    res = loop.submit(prompt("again"), FakeParams()).wait(10)
    assert isinstance(res, Completion) and res.text == "again"


class EngineDeadError(Exception):  # the name vLLM gives a dead engine core
    pass


def test_a_dead_engine_fails_every_later_request(make_loop: Any) -> None:
    loop, fake = make_loop()
    fake.fail_next_step = EngineDeadError("EngineCore encountered an issue")
    res = loop.submit(prompt("a"), FakeParams()).wait(10)
    assert isinstance(res, EngineError) and res.code == "inference_failed"
    assert isinstance(loop.dead, EngineDeadError)
    res = loop.submit(prompt("b"), FakeParams()).wait(10)
    assert isinstance(res, EngineError) and "dead" in str(res)


def test_close_answers_everything_in_flight(make_loop: Any) -> None:
    loop, fake = make_loop(step_delay_s=0.001)
    ticket = loop.submit(prompt("z" * 100_000), FakeParams())
    wait_until(lambda: fake.steps > 2)
    loop.close()
    res = ticket.wait(10)
    assert isinstance(res, EngineError) and res.code == "inference_failed"
    res = loop.submit(prompt("late"), FakeParams()).wait(10)  # nobody left to run it: answered at once
    assert isinstance(res, EngineError)


# ----------------------------------------------------------------------------------------------
# HunyuanVllmEngine over the loop: run(), prompts, errors, parsing
# ----------------------------------------------------------------------------------------------


class FakeProcessor:
    """apply_chat_template's shape: one string per conversation; image placeholders grow with the width."""

    def apply_chat_template(self, messages: list[dict[str, Any]], tokenize: bool, add_generation_prompt: bool) -> str:
        assert tokenize is False and add_generation_prompt is True
        image, text = messages[1]["content"][0]["image"], messages[1]["content"][1]["text"]
        if "BOOM" in text:
            raise KeyError("chat template has no slot for this")
        return f"<bos><img>{'.' * image.width}</img>{text}<User>"


def answer_by_image(p: dict[str, Any]) -> str:
    """The 'model' answers with the size of the image it was given: each request its own text."""
    image = p["multi_modal_data"]["image"]
    return f"image {image.width}x{image.height}"


def image(width: int, height: int = 40) -> Image.Image:
    return Image.new("RGB", (width, height), "white")


def corrupt_jpeg() -> Image.Image:
    buf = io.BytesIO()
    Image.effect_noise((200, 200), 64).convert("RGB").save(buf, "JPEG")
    data = buf.getvalue()
    return Image.open(io.BytesIO(data[: len(data) // 2]))  # header parses, pixel data is cut off


def req(im: Image.Image, task: str = "text", **kw: Any) -> EngineRequest:
    return EngineRequest(image=im, spec=TaskSpec(task=task, **kw))  # type: ignore[arg-type]


@pytest.fixture
def make_engine() -> Iterator[Callable[..., tuple[HunyuanVllmEngine, FakeStepEngine]]]:
    engines: list[HunyuanVllmEngine] = []

    def make(
        new_stop: Callable[[], Any] = NeverStop, recipe: str = "1.5", **kw: Any
    ) -> tuple[HunyuanVllmEngine, FakeStepEngine]:
        fake = FakeStepEngine(kw.pop("answer_for", answer_by_image), **kw)
        engine = HunyuanVllmEngine(
            fake, FakeProcessor(), FakeParams(), version="test", recipe=recipe, new_stop=new_stop
        )
        engine.loop._cancel_poll_s = 0.0
        engines.append(engine)
        return engine, fake

    yield make
    for engine in engines:
        engine.close()


def test_run_maps_each_failure_to_its_own_code_and_keeps_order(make_engine: Any) -> None:
    engine, fake = make_engine(max_model_len=300)
    outs = engine.run(
        [
            req(image(30)),
            req(corrupt_jpeg()),
            req(image(31), "ask", instruction="BOOM"),  # the chat template fails on it
            req(image(400)),  # 400 placeholder characters: longer than max_model_len
            req(image(32), "table"),
        ]
    )
    assert len(outs) == 5
    assert isinstance(outs[0], EngineOutput) and outs[0].text == "image 30x40" and not outs[0].truncated
    assert isinstance(outs[1], EngineError) and outs[1].code == "bad_image"
    assert isinstance(outs[2], EngineError) and outs[2].code == "bad_request" and "prompt" in str(outs[2])
    assert isinstance(outs[3], EngineError) and outs[3].code == "prompt_too_long"
    assert isinstance(outs[4], EngineOutput) and outs[4].markdown == "image 32x40"
    # What reached vLLM: the chat template's text and the image itself, one image per prompt.
    sent = list(fake.prompts.values())
    assert len(sent) == 2 and sent[0]["prompt"].startswith("<bos><img>") and "提取图中的文字" in sent[0]["prompt"]
    assert sent[0]["multi_modal_data"]["image"].size == (30, 40)


def test_concurrent_runs_share_the_running_batch(make_engine: Any) -> None:
    engine, fake = make_engine(
        max_num_seqs=8, step_delay_s=0.002, answer_for=lambda p: answer_by_image(p) + " " + "." * 40
    )
    start = threading.Barrier(4)
    results: dict[int, list[Any]] = {}

    def worker(i: int) -> None:
        start.wait()
        results[i] = engine.run([req(image(100 + i)), req(image(200 + i))])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for i in range(4):
        texts = [o.text for o in results[i]]
        assert texts == [f"image {100 + i}x40 " + "." * 40, f"image {200 + i}x40 " + "." * 40]
    assert fake.max_running > 2  # several callers' requests decoded in the same steps
    assert fake.callers == {engine.loop._thread.ident}


def test_the_final_trim_per_version_and_truncation_flags(make_engine: Any) -> None:
    def answer_for(p: dict[str, Any]) -> str:
        return "|-" * 1500 if p["multi_modal_data"]["image"].width == 10 else "short"

    engine, _ = make_engine(answer_for=answer_for)
    (looping,) = engine.run([req(image(10))])
    assert isinstance(looping, EngineOutput) and looping.text == "|-" and not looping.truncated  # ended by EOS
    old, _ = make_engine(answer_for=answer_for, recipe="1.0")
    (kept,) = old.run([req(image(10))])  # 1.0's official trim leaves texts under 8,000 characters alone
    assert isinstance(kept, EngineOutput) and kept.text == "|-" * 1500
    engine.sampling_params.max_tokens = 3
    (capped,) = engine.run([req(image(11))])
    assert isinstance(capped, EngineOutput) and capped.text == "sho" and capped.truncated


def test_prompts_follow_the_checkpoints_version(make_engine: Any) -> None:
    new, new_fake = make_engine()
    old, old_fake = make_engine(recipe="1.0")
    (layout,) = new.run([req(image(10), "layout")])
    (refused, parse) = old.run([req(image(10), "layout"), req(image(10), "parse")])
    assert isinstance(layout, EngineOutput)
    assert isinstance(refused, EngineError) and refused.code == "unsupported_task" and "1.5" in str(refused)
    assert isinstance(parse, EngineOutput)
    (sent_new,) = new_fake.prompts.values()
    (sent_old,) = old_fake.prompts.values()
    assert prompts.build_prompt(TaskSpec(task="layout"), "1.5") in sent_new["prompt"]
    assert prompts.build_prompt(TaskSpec(task="parse"), "1.0") in sent_old["prompt"]


def test_a_time_limit_while_waiting_aborts_the_requests_and_frees_their_slots(make_engine: Any) -> None:
    class SoftTimeLimitExceeded(Exception):  # what Celery raises in the task's thread
        pass

    def on_signal(signum: int, frame: Any) -> None:
        raise SoftTimeLimitExceeded()

    engine, fake = make_engine(max_num_seqs=1, step_delay_s=0.002, answer_for=lambda p: "x" * 1_000_000)
    previous = signal.signal(signal.SIGUSR1, on_signal)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1))
    try:
        timer.start()
        with pytest.raises(SoftTimeLimitExceeded):
            engine.run([req(image(10)), req(image(11))])
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
    wait_until(lambda: engine.loop.in_flight == 0 and not fake.running and not fake.waiting)
    assert len(fake.aborted) == 2  # the decoding one and the one queued behind it
    fake.answer_for = answer_by_image
    (out,) = engine.run([req(image(12))])  # the one slot is free again
    assert isinstance(out, EngineOutput) and out.text == "image 12x40"


def test_a_canceled_request_ends_canceled_and_frees_its_slot(make_engine: Any) -> None:
    engine, fake = make_engine(max_num_seqs=1, step_delay_s=0.002, answer_for=lambda p: "x" * 1_000_000)
    flag = threading.Event()
    request = EngineRequest(image(10), TaskSpec(task="text"), cancelled=flag.is_set)
    threading.Timer(0.1, flag.set).start()
    (out,) = engine.run([request])
    assert isinstance(out, EngineError) and out.code == "canceled"
    assert fake.aborted and not fake.running


def test_a_dead_engine_makes_run_raise(make_engine: Any) -> None:
    engine, fake = make_engine()
    fake.fail_next_step = EngineDeadError("EngineCore died")
    (out,) = engine.run([req(image(10))])
    assert isinstance(out, EngineError) and out.code == "inference_failed"
    with pytest.raises(RuntimeError, match="dead"):
        engine.run([req(image(10))])


def test_warmup_sends_one_short_request_without_touching_the_shared_params(make_engine: Any) -> None:
    engine, fake = make_engine(answer_for=lambda p: "warm" * 100)
    engine.warmup()
    (seq_prompt,) = fake.prompts.values()
    assert fake.finished_at and fake.steps == 2  # capped at 2 tokens
    assert engine.sampling_params.max_tokens == 10_000
    assert "提取图中的文字" in seq_prompt["prompt"]


# ----------------------------------------------------------------------------------------------
# load(): the real processor and chat template (tiny weights), vLLM's names replaced
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from models.random_checkpoints import make_tiny

    return make_tiny(tmp_path_factory.mktemp("hunyuan-vllm") / "tiny")


def test_load_uses_the_slots_the_recipe_and_the_step_api(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    fakes: list[FakeStepEngine] = []

    class FakeLLMEngine:
        @staticmethod
        def from_engine_args(args: dict[str, Any]) -> FakeStepEngine:
            seen["engine_args"] = args
            fakes.append(FakeStepEngine(lambda p: "总计(100,200),(300,400)", max_num_seqs=args["max_num_seqs"]))
            return fakes[-1]

    def sampling_params(**kw: Any) -> FakeParams:
        seen["sampling"] = kw
        return FakeParams(**kw)

    api = VllmApi(lambda **kw: kw, FakeLLMEngine, sampling_params, FakeOutputKind, "0.0-fake")
    monkeypatch.setattr(hunyuan_vllm, "import_vllm", lambda: api)
    settings = load_settings(engine="hunyuan-vllm", model_path=str(tiny_checkpoint), batch_max=5, max_new_tokens=64)
    engine = HunyuanVllmEngine.from_settings(settings)
    try:
        args = seen["engine_args"]
        assert args["max_num_seqs"] == 5  # one vLLM sequence per worker slot
        assert args["enable_prefix_caching"] is False and args["mm_processor_cache_gb"] == 0
        assert args["limit_mm_per_prompt"] == {"image": 1} and args["model"] == str(tiny_checkpoint)
        assert seen["sampling"] == {
            "temperature": 0.0,
            "max_tokens": 64,
            "repetition_penalty": 1.08,
            "skip_special_tokens": True,
            "output_kind": FakeOutputKind.DELTA,
        }
        assert engine.version.endswith("+1.5+vllm-0.0-fake") and engine.recipe == "1.5" and engine.continuous
        engine.warmup()
        im = image(500, 600)
        (out,) = engine.run([req(im, "spotting")])
        assert isinstance(out, EngineOutput) and out.text == "总计"
        assert out.lines[0].box == (50, 120, 150, 240)  # 0-1000 coordinates scaled to the image
        sent = list(fakes[0].prompts.values())[-1]
        assert "检测并识别图片中的文字" in sent["prompt"] and sent["multi_modal_data"]["image"].size == (500, 600)
    finally:
        engine.close()


def test_without_vllm_the_error_says_how_to_install_it(tiny_checkpoint: Path) -> None:
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vllm is installed here")
    settings = load_settings(engine="hunyuan-vllm", model_path=str(tiny_checkpoint))
    with pytest.raises(EngineLoadError, match=r"install ocrq\[vllm\] into a virtualenv of its own"):
        HunyuanVllmEngine.from_settings(settings)


# ----------------------------------------------------------------------------------------------
# The real thing (a CUDA GPU and the vllm package, i.e. the .venv-vllm of docs/hunyuan.md)
# ----------------------------------------------------------------------------------------------


def _vllm_and_cuda() -> bool:
    try:
        import torch
        import vllm  # noqa: F401
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.mark.vllm
@pytest.mark.skipif(not _vllm_and_cuda(), reason="needs the vllm package and a CUDA GPU (docs/hunyuan.md, 'vLLM')")
def test_real_vllm_serves_concurrent_runs_on_tiny_weights(tiny_checkpoint: Path) -> None:
    engine = HunyuanVllmEngine.load(
        str(tiny_checkpoint), max_new_tokens=16, max_num_seqs=4, gpu_memory_utilization=0.3, max_model_len=4096
    )
    try:
        engine.warmup()
        results: dict[int, list[Any]] = {}

        def worker(i: int) -> None:
            results[i] = engine.run([req(image(64 + 16 * i, 64)), req(corrupt_jpeg())])

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for i in range(3):
            ok, bad = results[i]
            assert isinstance(ok, EngineOutput)
            assert isinstance(bad, EngineError) and bad.code == "bad_image"
        assert engine.generated_tokens > 0
    finally:
        engine.close()
