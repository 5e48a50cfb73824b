"""Our decode loop (static KV cache, slots, continuous batching) against transformers' eager
``generate``, token for token, on the talking tiny checkpoint (greedy, repetition penalty 1.08).

The checkpoint's answers are tens of distinct tokens whose order depends on the whole context, so a
shifted position, a stale cache row or a wrong pad changes them: the last test shows the comparison
failing when the loop's positions are off by one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from models.base import EngineError, EngineOutput, EngineRequest
from models.decoder_step import DecoderStep
from models.hunyuan import HunyuanEngine
from models.random_checkpoints import make_tiny
from shared.jobs.task_spec import TaskSpec

CAP = 48


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny(tmp_path_factory.mktemp("talking") / "tiny")


@pytest.fixture(scope="module")
def reference(tiny: Path) -> HunyuanEngine:
    return HunyuanEngine.load(str(tiny), decoder="generate", max_new_tokens=CAP)


@pytest.fixture(scope="module")
def loop(tiny: Path) -> Iterator[HunyuanEngine]:
    engine = HunyuanEngine.load(str(tiny), decoder="slots", max_new_tokens=CAP, slots=4, slot_tokens=1024)
    yield engine
    engine.scheduler.close()


def requests() -> list[EngineRequest]:
    """Images of different sizes (so different prompt lengths: a padded batch really pads) and tasks."""
    images = [
        Image.new("RGB", (120, 60), "white"),
        Image.effect_noise((200, 90), 64).convert("RGB"),
        Image.new("RGB", (64, 200), "black"),
        Image.effect_noise((90, 90), 30).convert("RGB"),
        Image.effect_noise((256, 140), 50).convert("RGB"),
    ]
    tasks = [TaskSpec(task="text"), TaskSpec(task="spotting"), TaskSpec(task="parse"), TaskSpec(task="table"),
             TaskSpec(task="fields", fields=("total", "date"))]
    return [EngineRequest(im, spec) for im, spec in zip(images, tasks, strict=True)]


@pytest.fixture(scope="module")
def alone(reference: HunyuanEngine) -> list[tuple[list[int], bool]]:
    """Each request's eager generate at batch 1: the answer every other run must reproduce."""
    answers = []
    for req in requests():
        (answer,) = reference.generate_ids([req])
        assert not isinstance(answer, EngineError), answer
        answers.append(answer)
    return answers


def test_the_tiny_checkpoint_talks(alone: list[tuple[list[int], bool]]) -> None:
    assert max(len(set(ids)) for ids, _ in alone) >= 30  # tens of distinct tokens, not one repeated
    assert len({tuple(ids) for ids, _ in alone}) == len(alone)  # each prompt its own answer
    assert any(ended for _, ended in alone)  # some stop on EOS ...
    assert any(len(ids) < CAP for ids, _ in alone)


def test_batch_of_one_equals_eager_generate(loop: HunyuanEngine, alone: list[tuple[list[int], bool]]) -> None:
    for req, expected in zip(requests(), alone, strict=True):
        assert loop.generate_ids([req]) == [expected]


def test_left_padded_batch_of_three_equals_eager_generate(
    reference: HunyuanEngine, loop: HunyuanEngine, alone: list[tuple[list[int], bool]]
) -> None:
    three = requests()[:3]
    lengths = {int(reference.processor(text=[reference._prompt_text(r.image, "x")], images=[r.image],
                                       return_tensors="pt")["input_ids"].shape[1]) for r in three}
    assert len(lengths) == 3  # three prompt lengths: generate left-pads two of them
    padded = reference.generate_ids(three)
    assert padded == alone[:3]
    assert loop.generate_ids(three) == padded


def test_requests_joining_mid_decode_each_equal_their_batch_of_one_run(
    tiny: Path, alone: list[tuple[list[int], bool]]
) -> None:
    # Two slots, five requests from five threads at once: two decode together, and as each answer
    # ends (their lengths differ) the next request is prefilled into its slot while the other keeps
    # decoding.
    engine = HunyuanEngine.load(str(tiny), decoder="slots", max_new_tokens=CAP, slots=2, slot_tokens=1024)
    got: dict[int, object] = {}

    def submit(i: int, req: EngineRequest) -> None:
        got[i] = engine.generate_ids([req])[0]

    threads = [threading.Thread(target=submit, args=(i, r)) for i, r in enumerate(requests())]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        engine.scheduler.close()
    assert [got[i] for i in range(5)] == alone
    assert engine.scheduler.peak_rows == 2


def test_a_prompt_longer_than_a_slot_fails_alone(tiny: Path) -> None:
    engine = HunyuanEngine.load(str(tiny), decoder="slots", max_new_tokens=16, slots=2, slot_tokens=384)
    try:
        long_question = EngineRequest(Image.new("RGB", (64, 64), "white"), TaskSpec(task="ask", instruction="问" * 200))
        ok = EngineRequest(Image.new("RGB", (64, 64), "white"), TaskSpec(task="text"))
        bad, good = engine.run([long_question, ok])
    finally:
        engine.scheduler.close()
    assert isinstance(bad, EngineError) and bad.code == "prompt_too_long"
    assert "OCRQ_SLOT_LENGTH" in str(bad)
    assert isinstance(good, EngineOutput)


def test_an_image_too_big_for_a_slot_is_shrunk_to_fit_and_says_so(tiny: Path) -> None:
    engine = HunyuanEngine.load(str(tiny), decoder="slots", max_new_tokens=16, slots=1, slot_tokens=400)
    try:
        (out,) = engine.run([EngineRequest(Image.effect_noise((256, 256), 40).convert("RGB"), TaskSpec(task="spotting"))])
    finally:
        engine.scheduler.close()
    assert isinstance(out, EngineOutput), out
    assert out.resized_from == (256, 256)
    assert out.vision_tokens is not None and 0 < out.vision_tokens < 8 * 9  # under the full image's 8x(8+1)
    for line in out.lines:  # boxes stay in the pixels of the image handed in
        assert line.box[2] <= 256 and line.box[3] <= 256


def test_a_request_canceled_while_decoding_frees_its_slot(tiny: Path) -> None:
    engine = HunyuanEngine.load(str(tiny), decoder="slots", max_new_tokens=CAP, slots=1, slot_tokens=1024)
    polls = []

    def canceled() -> bool:
        polls.append(1)
        return len(polls) > 2  # decoding for a while, then the job is canceled

    image = Image.new("RGB", (120, 60), "white")
    try:
        (out,) = engine.run([EngineRequest(image, TaskSpec(task="text"), cancelled=canceled)])
        assert isinstance(out, EngineError) and out.code == "canceled"
        assert not engine.scheduler._rows  # the slot is free again ...
        (after,) = engine.run([EngineRequest(image, TaskSpec(task="text"))])  # ... and the next request gets it
    finally:
        engine.scheduler.close()
    assert isinstance(after, EngineOutput)


def test_positions_shifted_by_one_change_the_answers(
    tiny: Path, alone: list[tuple[list[int], bool]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The equivalence tests above can fail: the same loop with every decode position one too far.
    real = DecoderStep.load_row

    def shifted(self: DecoderStep, slot: int, keys, values, *, first_token: int, position: int, seen) -> None:  # type: ignore[no-untyped-def]
        real(self, slot, keys, values, first_token=first_token, position=position + 1, seen=seen)

    monkeypatch.setattr(DecoderStep, "load_row", shifted)
    engine = HunyuanEngine.load(str(tiny), decoder="slots", max_new_tokens=CAP, slots=4, slot_tokens=1024)
    try:
        got = engine.generate_ids(requests())
    finally:
        engine.scheduler.close()
    assert sum(g != a for g, a in zip(got, alone, strict=True)) >= 3
