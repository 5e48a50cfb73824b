"""HunyuanEngine end to end on a tiny random checkpoint: real loading, real batched generate.

The checkpoint's weights are random, so the text is meaningless; what is tested is the plumbing:
loading through the production code, prompts through the chat template, batching, per-item
failures, the OOM split and the result schema.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from PIL import Image

from models.base import EngineError, EngineOutput, EngineRequest
from models.hunyuan import HunyuanEngine
from models.hunyuan_device import sdpa_backends
from models.hunyuan_generate import run_split
from models.hunyuan_inputs import Prepared
from models.random_checkpoints import make_tiny
from models.registry import EngineLoadError
from shared.infra.settings import load_settings
from shared.jobs.task_spec import TaskSpec

RECEIPTS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "receipts"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny(tmp_path_factory.mktemp("hunyuan") / "tiny")


@pytest.fixture(scope="module")
def engine(tiny_checkpoint: Path) -> HunyuanEngine:
    settings = load_settings(engine="hunyuan", model_path=str(tiny_checkpoint), max_new_tokens=16)
    return HunyuanEngine.from_settings(settings)


@pytest.fixture(scope="module")
def generate_engine(tiny_checkpoint: Path) -> HunyuanEngine:
    """The eager-generate decoder: one left-padded batch per run, split in halves on failure."""
    settings = load_settings(engine="hunyuan", model_path=str(tiny_checkpoint), max_new_tokens=16, decoder="generate")
    return HunyuanEngine.from_settings(settings)


Answer = tuple[list[int], bool]


def receipt(n: int) -> Image.Image:
    path = RECEIPTS / f"{n:03d}.jpg"
    if not path.exists():
        pytest.skip(f"receipt scans not present at {RECEIPTS}")
    with Image.open(path) as im:
        return im.convert("RGB")


def corrupt_jpeg() -> Image.Image:
    buf = io.BytesIO()
    Image.effect_noise((200, 200), 64).convert("RGB").save(buf, "JPEG")
    data = buf.getvalue()
    return Image.open(io.BytesIO(data[: len(data) // 2]))  # header parses, pixel data is cut off


def req(image: Image.Image, task: str = "spotting", **kw: object) -> EngineRequest:
    return EngineRequest(image=image, spec=TaskSpec(task=task, **kw))  # type: ignore[arg-type]


def test_loads_through_production_code(engine: HunyuanEngine) -> None:
    # Settings name no device: CUDA when there is one (bf16), else the CPU (fp32).
    on_cuda = torch.cuda.is_available()
    assert engine.device == ("cuda" if on_cuda else "cpu")
    assert next(engine.model.parameters()).dtype == (torch.bfloat16 if on_cuda else torch.float32)
    assert engine.processor.tokenizer.padding_side == "left"
    assert "hunyuanocr:tiny" in engine.version
    engine.warmup()


def test_spotting_on_a_receipt(engine: HunyuanEngine) -> None:
    image = receipt(0)
    (out,) = engine.run([req(image)])
    assert isinstance(out, EngineOutput)
    assert isinstance(out.truncated, bool)
    for line in out.lines:
        x0, y0, x1, y1 = line.box
        assert 0 <= x0 <= x1 < image.width and 0 <= y0 <= y1 < image.height


def test_batch_of_three_returns_three_in_order(generate_engine: HunyuanEngine) -> None:
    engine = generate_engine
    calls: list[int] = []
    real = engine._generate

    def counting(items: Sequence[Prepared], cap: int) -> list[Answer]:
        calls.append(len(items))
        return real(items, cap)

    engine._generate = counting  # type: ignore[method-assign]
    try:
        outs = engine.run(
            [
                req(receipt(1), "spotting"),
                req(receipt(2), "fields", fields=("total", "date")),
                req(receipt(3), "translate", target_lang="en"),
            ]
        )
    finally:
        del engine._generate
    assert calls == [3]  # one batched generate, not three
    assert len(outs) == 3 and all(isinstance(o, EngineOutput) for o in outs)


def test_a_bad_image_fails_alone(engine: HunyuanEngine) -> None:
    outs = engine.run([req(receipt(4), "text"), req(corrupt_jpeg(), "text"), req(Image.new("L", (80, 40)), "parse")])
    assert isinstance(outs[0], EngineOutput)
    assert isinstance(outs[1], EngineError) and outs[1].code == "bad_image"
    assert isinstance(outs[2], EngineOutput)  # greyscale is converted, not rejected


def test_every_task_runs(engine: HunyuanEngine) -> None:
    image = Image.new("RGB", (120, 60), "white")
    specs = [
        TaskSpec(task="text"), TaskSpec(task="spotting"), TaskSpec(task="parse"), TaskSpec(task="table"),
        TaskSpec(task="formula"), TaskSpec(task="chart"), TaskSpec(task="fields", fields=("a",)),
        TaskSpec(task="translate", target_lang="zh"), TaskSpec(task="ask", instruction="What?"),
    ]
    outs = engine.run([EngineRequest(image, s) for s in specs])
    assert [type(o) for o in outs] == [EngineOutput] * len(specs)
    assert outs[2].markdown is not None and outs[3].markdown is not None


def test_oom_splits_the_batch_before_anything_fails(
    generate_engine: HunyuanEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = generate_engine
    sizes: list[int] = []

    def fake_generate(items: Sequence[Prepared], cap: int) -> list[Answer]:
        sizes.append(len(items))
        if len(items) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [(list(b"item%d" % (it.index + 10)), True) for it in items]  # byte-level ids 10.. : see below

    monkeypatch.setattr(engine, "_generate", fake_generate)
    monkeypatch.setattr(engine, "_decode_text", lambda ids: bytes(ids).decode())
    image = Image.new("RGB", (64, 64))
    outs = engine.run([req(image, "text") for _ in range(5)])
    assert [o.text for o in outs if isinstance(o, EngineOutput)] == [f"item{i + 10}" for i in range(5)]
    assert sizes == [5, 2, 3, 1, 2]


def test_oom_on_a_single_image_fails_only_that_one(
    generate_engine: HunyuanEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = generate_engine

    def fake_generate(items: Sequence[Prepared], cap: int) -> list[Answer]:
        if any(it.index == 2 for it in items):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return [([20, 21], True) for _ in items]

    monkeypatch.setattr(engine, "_generate", fake_generate)
    image = Image.new("RGB", (64, 64))
    outs = engine.run([req(image, "text") for _ in range(4)])
    assert [isinstance(o, EngineOutput) for o in outs] == [True, True, False, True]
    assert isinstance(outs[2], EngineError) and outs[2].code == "out_of_memory"


def test_run_split_recursion_and_other_errors() -> None:
    def fn(items: Sequence[int]) -> list[EngineOutput | EngineError]:
        if 7 in items:
            raise RuntimeError("boom")
        return [EngineOutput(text=str(i)) for i in items]

    frees: list[int] = []
    outs = run_split(list(range(10)), fn, on_split=lambda: frees.append(1))
    assert [o.text if isinstance(o, EngineOutput) else o.code for o in outs] == [
        "0", "1", "2", "3", "4", "5", "6", "inference_failed", "8", "9"
    ]
    assert frees  # the cache is freed before retrying


def test_generate_keeps_cudnn_attention_off_on_cuda() -> None:
    # cuDNN attention builds a plan per new shape, i.e. per decode step (docs/hunyuan.md, "Measured").
    with sdpa_backends("cuda"):
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.flash_sdp_enabled() and torch.backends.cuda.mem_efficient_sdp_enabled()
    with sdpa_backends("cpu"):
        assert torch.backends.cuda.cudnn_sdp_enabled()  # the CPU path changes nothing


def test_missing_folder_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(EngineLoadError) as info:
        HunyuanEngine.load(str(tmp_path / "nowhere"))
    msg = str(info.value)
    assert "\n" not in msg and "weights folder not found" in msg


def test_incomplete_folder_names_what_is_missing(tiny_checkpoint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, broken)
    (broken / "tokenizer.json").unlink()
    (broken / "model.safetensors").unlink()
    with pytest.raises(EngineLoadError) as info:
        HunyuanEngine.load(str(broken))
    msg = str(info.value)
    assert "\n" not in msg and "tokenizer" in msg and "model.safetensors" in msg


def test_vllm_engine_without_vllm_says_what_to_install(tiny_checkpoint: Path) -> None:
    pytest.importorskip("transformers")
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vllm is installed here")
    from models.hunyuan_vllm import HunyuanVllmEngine

    settings = load_settings(engine="hunyuan-vllm", model_path=str(tiny_checkpoint))
    with pytest.raises(EngineLoadError, match=r"install ocrq\[vllm\]"):
        HunyuanVllmEngine.from_settings(settings)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")


def _vllm_available() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


needs_vllm = pytest.mark.skipif(not _vllm_available(), reason="needs the vllm package and a CUDA GPU")


@pytest.mark.gpu
@needs_cuda
def test_gpu_bf16_batch(tiny_checkpoint: Path) -> None:
    eng = HunyuanEngine.load(str(tiny_checkpoint), max_new_tokens=16)
    assert eng.device == "cuda" and next(eng.model.parameters()).dtype == torch.bfloat16
    eng.warmup()
    outs = eng.run([req(receipt(i)) for i in range(4)])
    assert len(outs) == 4 and all(isinstance(o, EngineOutput) for o in outs)


@pytest.mark.vllm
@needs_vllm
def test_vllm_engine_batch(tiny_checkpoint: Path) -> None:
    from models.hunyuan_vllm import HunyuanVllmEngine

    eng = HunyuanVllmEngine.load(
        str(tiny_checkpoint), max_new_tokens=16, gpu_memory_utilization=0.3, max_model_len=4096
    )
    outs = eng.run([req(receipt(0)), req(corrupt_jpeg()), req(receipt(1), "fields", fields=("total",))])
    assert isinstance(outs[0], EngineOutput) and isinstance(outs[2], EngineOutput)
    assert isinstance(outs[1], EngineError) and outs[1].code == "bad_image"
