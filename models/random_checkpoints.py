"""Fabricated HunyuanOCR checkpoints with random weights, for tests and GPU measurements.

``make_tiny`` writes a miniature, randomly initialised checkpoint that goes through exactly the
production loading path (config, tokenizer, image processor, chat template, safetensors) and
generates on a CPU in well under a second; the tests use it. Its weights are drawn so that greedy
decoding "talks": tens of distinct tokens that depend on the whole context, ending with EOS for
some prompts, so a shifted position, a stale cache row or a wrong pad changes the answer.
``make_random`` writes a full-size random checkpoint with the released architecture, to measure
GPU speed and memory where the real weights cannot be fetched. Neither produces meaningful text.
Both pass ``verify`` (models/checkpoints.py), as a real checkpoint must.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from models.recipe import RELEASED_CHAT_TEMPLATE_V1_5

# Special tokens the HunYuanVL processor and chat template need. Image, pad, BOS and turn markers
# carry the released tokenizer's names; the EOS name is our choice (only test weights use it).
PAD = "<｜hy_▁pad▁｜>"
BOS = "<｜hy_begin▁of▁sentence｜>"
EOS = "<｜hy_place▁holder▁no▁2｜>"
SYSTEM_END = "<｜hy_place▁holder▁no▁3｜>"
USER = "<｜hy_User｜>"
ASSISTANT = "<｜hy_Assistant｜>"
IMAGE_START = "<｜hy_place▁holder▁no▁100｜>"
IMAGE_END = "<｜hy_place▁holder▁no▁101｜>"
IMAGE = "<｜hy_place▁holder▁no▁102｜>"

# Test weights carry the released template (models/recipe.py), so prompts render as the real
# checkpoints' do, the system-turn placeholder included.
TINY_CHAT_TEMPLATE = RELEASED_CHAT_TEMPLATE_V1_5


def _build_tokenizer(vocab_size: int | None = None) -> Any:
    """A byte-level tokenizer built locally: any text (CJK included) round-trips through 256 byte symbols.

    Special tokens come first so their ids are small and stable; ``vocab_size`` pads the vocabulary
    with inert filler tokens up to the embedding size of a full-size model.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = [PAD, BOS, EOS, SYSTEM_END, USER, ASSISTANT, IMAGE_START, IMAGE_END, IMAGE]
    vocab = {tok: i for i, tok in enumerate(specials)}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    if vocab_size is not None:
        for i in range(len(vocab), vocab_size):
            vocab[f"<filler_{i}>"] = i
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(specials)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        extra_special_tokens={"image_start_token": IMAGE_START, "image_end_token": IMAGE_END, "image_token": IMAGE},
    )
    tokenizer.padding_side = "left"  # decoder-only batching pads on the left
    return tokenizer


def _processor(tokenizer: Any, min_pixels: int, max_pixels: int) -> Any:
    from transformers.models.hunyuan_vl.image_processing_pil_hunyuan_vl import (
        HunYuanVLImageProcessorPil,
    )
    from transformers.models.hunyuan_vl.processing_hunyuan_vl import HunYuanVLProcessor

    image_processor = HunYuanVLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)
    return HunYuanVLProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=TINY_CHAT_TEMPLATE)


def _save_processor(out: Path, tokenizer: Any, min_pixels: int, max_pixels: int) -> None:
    processor = _processor(tokenizer, min_pixels, max_pixels)
    processor.save_pretrained(out)
    # Released checkpoints carry a standalone preprocessor_config.json; keep the same layout.
    processor.image_processor.save_pretrained(out)


def _rope(head_dim: int) -> dict[str, Any]:
    # The released checkpoints' "xdrope" RoPE: 4 axes (position, width, height, image index),
    # sections summing to head_dim / 2; transformers maps it onto NTK-alpha RoPE.
    q = head_dim // 8
    return {
        "rope_type": "xdrope",
        "type": "xdrope",
        "rope_theta": 10000.0,
        "alpha": 1000.0,
        "factor": 1.0,
        "xdrope_section": [q, q, q, q],
    }


def tiny_config(vocab_size: int) -> Any:
    from transformers import HunYuanVLConfig

    ids = _token_ids()
    return HunYuanVLConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "max_position_embeddings": 4096,
            "pad_token_id": ids[PAD],
            "bos_token_id": ids[BOS],
            "eos_token_id": ids[EOS],
            "eod_token_id": ids[EOS],
            "sep_token_id": ids[SYSTEM_END],
            "rope_parameters": _rope(16),
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "out_hidden_size": 64,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "max_image_size": 256,
            "min_image_size": 32,
        },
        image_token_id=ids[IMAGE],
        im_start_id=ids[IMAGE_START],
        im_end_id=ids[IMAGE_END],
        im_newline_id=ids[IMAGE],
        architectures=["HunYuanVLForConditionalGeneration"],
    )


# The released HunyuanOCR architecture (config.json of tencent/HunyuanOCR): a 24-layer, 1024-wide
# dense decoder (GQA 16/8 heads, head_dim 128) and a 27-layer, 1152-wide ViT; about 1B parameters.
RELEASED_TEXT = {
    "vocab_size": 120818,
    "hidden_size": 1024,
    "intermediate_size": 3584,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5,
    "hidden_act": "silu",
    "attention_bias": False,
    "tie_word_embeddings": True,
}
RELEASED_VISION = {
    "hidden_size": 1152,
    "intermediate_size": 4304,
    "num_hidden_layers": 27,
    "num_attention_heads": 16,
    "num_key_value_heads": 16,
    "out_hidden_size": 1024,
    "patch_size": 16,
    "spatial_merge_size": 2,
    "temporal_patch_size": 1,
    "max_image_size": 2048,
    "min_image_size": 512,
    "img_max_token_num": 16384,
    "max_vit_seq_len": 65536,
    "hidden_act": "gelu",
    "rms_norm_eps": 1e-5,
}
RELEASED_IMAGE_TOKEN_IDS = {
    "image_token_id": 120120,
    "im_start_id": 120118,
    "im_end_id": 120119,
    "im_newline_id": 120121,
}


def random_config() -> Any:
    from transformers import HunYuanVLConfig

    ids = _token_ids()
    text = dict(
        RELEASED_TEXT,
        rope_parameters=_rope(128),
        pad_token_id=ids[PAD],
        bos_token_id=ids[BOS],
        eos_token_id=ids[EOS],
        eod_token_id=ids[EOS],
        sep_token_id=ids[SYSTEM_END],
    )
    return HunYuanVLConfig(
        text_config=text,
        vision_config=dict(RELEASED_VISION),
        # Our tokenizer keeps its image tokens at small ids; the released ids would point at filler.
        image_token_id=ids[IMAGE],
        im_start_id=ids[IMAGE_START],
        im_end_id=ids[IMAGE_END],
        im_newline_id=ids[IMAGE],
        tie_word_embeddings=True,
        architectures=["HunYuanVLForConditionalGeneration"],
    )


def _token_ids() -> dict[str, int]:
    order = [PAD, BOS, EOS, SYSTEM_END, USER, ASSISTANT, IMAGE_START, IMAGE_END, IMAGE]
    return {tok: i for i, tok in enumerate(order)}


# Talking weights (make_tiny): every token embedding shares one large coordinate, so all logits sit
# on a common offset of ~115 with a context-dependent spread of a few units. The repetition
# penalty (x1/1.08) then knocks a seen token ~9 below the rest, so greedy decoding walks through
# tens of distinct tokens in an order set by the whole context (prompt, image, positions, cache)
# instead of repeating one token forever, as default-initialised random weights do. EOS sits a
# little above the offset: it wins once the best unseen tokens run low, after ~40-48 tokens, sooner
# or later depending on the prompt. Random norm gains decorrelate a position's output from its own
# input token.
TALK_OFFSET = 20.0
TALK_SPREAD = 0.3
TALK_EOS_LIFT = 0.5


def _talking_weights(model: Any, seed: int) -> None:
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and "norm" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            elif p.ndim == 1:
                p.zero_()
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in**0.5)
        emb = model.get_input_embeddings().weight
        emb[:, 1:] *= TALK_SPREAD
        emb[:, 0] = TALK_OFFSET
        ids = _token_ids()
        emb[ids[EOS], 0] += TALK_EOS_LIFT
        emb[ids[PAD]].zero_()  # a pad row of zeros: pad's logit stays 0, far below every other token
        model.model.language_model.norm.weight[0] = 1.0  # keep the shared coordinate's sign


def _save_model(
    out: Path, config: Any, *, dtype: Any, seed: int, max_shard_size: str | None, talking: bool = False
) -> None:
    import torch
    from transformers import HunYuanVLForConditionalGeneration

    torch.manual_seed(seed)
    model = HunYuanVLForConditionalGeneration(config).to(dtype)
    if talking:
        _talking_weights(model, seed)
    ids = _token_ids()
    gen = model.generation_config
    gen.bos_token_id, gen.eos_token_id, gen.pad_token_id = ids[BOS], ids[EOS], ids[PAD]
    kwargs: dict[str, Any] = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(out, **kwargs)


def make_tiny(directory: str | os.PathLike[str], *, seed: int = 0, max_shard_size: str | None = None) -> Path:
    """Write a tiny random HunYuanVL checkpoint (~150k parameters, images capped at 256x256 pixels)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _build_tokenizer()
    _save_processor(out, tokenizer, min_pixels=32 * 32, max_pixels=256 * 256)
    import torch

    _save_model(out, tiny_config(len(tokenizer)), dtype=torch.float32, seed=seed, max_shard_size=max_shard_size,
                talking=True)
    return out


def random_in_memory(*, device: str, dtype: Any, seed: int = 0) -> tuple[Any, Any]:
    """(model, processor) of the released architecture with random weights, built on ``device``
    without touching the disk (bench/engine.py: no 2 GB write before a GPU measurement)."""
    import torch
    from transformers import HunYuanVLForConditionalGeneration

    torch.manual_seed(seed)
    with torch.device(device):
        model = HunYuanVLForConditionalGeneration(random_config()).to(dtype).eval()
    ids = _token_ids()
    gen = model.generation_config
    gen.bos_token_id, gen.eos_token_id, gen.pad_token_id = ids[BOS], ids[EOS], ids[PAD]
    tokenizer = _build_tokenizer(vocab_size=int(str(RELEASED_TEXT["vocab_size"])))
    return model, _processor(tokenizer, min_pixels=512 * 512, max_pixels=2048 * 2048)


def make_random(directory: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Write a full-size random checkpoint (released architecture, bf16, ~2 GB) for speed/memory tests."""
    import torch

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _build_tokenizer(vocab_size=int(str(RELEASED_TEXT["vocab_size"])))
    # The released image processor bounds: 512x512 .. 2048x2048 pixels.
    _save_processor(out, tokenizer, min_pixels=512 * 512, max_pixels=2048 * 2048)
    _save_model(out, random_config(), dtype=torch.bfloat16, seed=seed, max_shard_size="1GB")
    return out


def count_parameters(config: Any) -> int:
    """Parameters of a model built from ``config`` without allocating its weights (meta device)."""
    import torch
    from transformers import HunYuanVLForConditionalGeneration

    with torch.device("meta"):
        model = HunYuanVLForConditionalGeneration(config)
    return sum(p.numel() for p in model.parameters())
