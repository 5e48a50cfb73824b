"""The official HunyuanOCR recipe, per released version: what tells 1.0 and 1.5 apart, the image
budget each was trained for, where to download each, and their chat templates.

Pure data and pure functions (no torch, no transformers), so the engines, the CLI and the tests can
all import it. Prompts live in models/prompts.py, the repetition defences in models/generation.py.

Sources (Tencent-Hunyuan/HunyuanOCR on GitHub; the Hugging Face repo is tencent/HunyuanOCR):

- 1.0: the repository as released in November 2025, commit b138959428e7d592d5e832aee39d91aa60ea0f44
  (README.md / README_zh.md, Hunyuan-OCR-master/Hunyuan-OCR-hf/run_hy_ocr.py,
  Hunyuan-OCR-master/Hunyuan-OCR-vllm/run_hy_ocr.py, Hunyuan-OCR-master/utils.py).
- 1.5: the repository since July 2026, commit c55965d3da1e6f41987abec8068f2e70851318bc
  (inference/utils/tasks.py, inference/utils/output_utils.py, inference/transformers/infer_hf_8gpu.py,
  inference/vLLM/infer_vllm_client.py, docs/inference/archive/{vLLM,transformers}.md).

On 2026-07-06 Tencent replaced the Hugging Face repo's root with 1.5 in place: 1.5 weights at the
root, 1.0 archived under ``v1.0/``, the DFlash draft model under ``dflash/``; there is no 1.0 tag
or branch on the Hugging Face side.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

VERSIONS: tuple[str, ...] = ("1.0", "1.5")
DEFAULT_VERSION = "1.5"  # the Hugging Face repo's root since 2026-07-06

# --------------------------------------------------------------------------------------------
# Which version is a checkpoint?
# --------------------------------------------------------------------------------------------


def detect_version(config: Mapping[str, Any]) -> str:
    """``"1.0"`` or ``"1.5"`` for a checkpoint's config.json (as a dict).

    Neither release carries a version field, and both declare ``model_type: hunyuan_vl`` and
    ``architectures: ["HunYuanVLForConditionalGeneration"]`` (the backbone is the same). What
    differs is the schema: 1.0's config.json is flat (the text model's fields at the top level,
    RoPE in ``rope_scaling`` with ``type: xdrope``), while 1.5's nests them in a ``text_config``
    object (transformers' HunYuanVLConfig layout; 1.5 keeps top-level copies for older loaders,
    so a top-level ``hidden_size`` proves nothing). A config saved by transformers'
    HunYuanVLConfig (ours from ``make_tiny``/``make_random`` included) has ``text_config`` too
    and is 1.5-shaped, which is right: such a folder has no 1.0 history.

    The rule is the one GreatV/oar-ocr validated on both real checkpoints
    (oar-ocr-vl/src/models/hunyuanocr/config.rs, ``version()``). Other differences, not needed for
    the decision: third-party copies of 1.5's config give ``vision_config.max_vit_seq_len`` 65,536
    (the ViT takes up to 4K-square images), and 1.5's image processor allows 4096x4096 pixels where
    1.0's allows 2048x2048 (OFFICIAL_MAX_PIXELS).
    """
    if not isinstance(config, Mapping):
        raise ValueError("config must be the parsed config.json (a dict)")
    if isinstance(config.get("text_config"), Mapping):
        return "1.5"
    return "1.0"


def check_version(version: str) -> str:
    """``version`` itself when it is a released version, else ValueError (a typo must not fall back)."""
    if version not in VERSIONS:
        raise ValueError(f"unknown HunyuanOCR version {version!r}; use one of: {', '.join(VERSIONS)}")
    return version


# --------------------------------------------------------------------------------------------
# Image budget (the checkpoint's image processor resizes every image into [min, max] pixels)
# --------------------------------------------------------------------------------------------

# Both releases resize with smart_resize to multiples of 32 (16 px patches, 2x2 merge) so that the
# pixel count falls within the processor's bounds; an image above max_pixels is scaled down,
# aspect ratio kept. The checkpoint's preprocessor_config.json is authoritative; these are what
# the releases document:
# - 1.0: 512x512 .. 2048x2048 (the values transformers' HunYuanVLImageProcessor took as its
#   defaults from the 1.0 release; vision_config.max_image_size is 2048 there).
# - 1.5: max "≈ 4096×4096" (docs/inference/archive/vLLM.md and transformers.md: "Image resolution
#   uses the model default (max_pixels ≈ 4096×4096); no configuration needed"; README_zh.md:
#   the maximum image resolution was extended to 4K). 1.5's min_pixels is not documented in the
#   repository; 512x512 is carried over from 1.0 and is NOT verified.
OFFICIAL_MIN_PIXELS: dict[str, int] = {"1.0": 512 * 512, "1.5": 512 * 512}
OFFICIAL_MAX_PIXELS: dict[str, int] = {"1.0": 2048 * 2048, "1.5": 4096 * 4096}

# --------------------------------------------------------------------------------------------
# Where to get each version
# --------------------------------------------------------------------------------------------

HF_REPO = "tencent/HunyuanOCR"
# The last Hugging Face commit whose root held 1.0 (2026-01-13), as pinned by a third party
# (davanstrien/uv-scripts-for-ai, ocr/hunyuan-ocr.py, DEFAULT_REVISION); not checked against the
# Hub from here. Any later revision also holds 1.0, under v1.0/.
HF_REVISION_1_0 = "f6af82ee007fe6091b29fb3bb287b491ead41c82"
# No 1.5 commit could be verified offline: resolve one (HfApi().model_info(HF_REPO).sha), record it
# and download with --revision so that a later push to the repo cannot change the weights silently.
HF_REVISION_1_5: str | None = None
HF_SUBFOLDER = {"1.0": "v1.0", "1.5": ""}  # where each version's files sit in a post-July-2026 revision

# --------------------------------------------------------------------------------------------
# Chat templates
# --------------------------------------------------------------------------------------------

# NOT VERBATIM. The released templates ship only with the weights on the Hugging Face Hub
# (chat_template in tokenizer_config.json / chat_template.json), which was not reachable from
# where this was written, and no copy of their text was found in the official GitHub repository
# or elsewhere. What follows is a reconstruction of the released layout, rendering what these
# independent sources agree the release renders for the official messages
# ``[{"role": "system", "content": ""}, {"role": "user", "content": [image, text]}]``:
#
#   <｜hy_begin▁of▁sentence｜><｜hy_place▁holder▁no▁3｜><｜hy_place▁holder▁no▁100｜>
#   <｜hy_place▁holder▁no▁102｜><｜hy_place▁holder▁no▁101｜>{instruction}<｜hy_User｜>   (one line)
#
# - vLLM's offline-inference examples for HunyuanOCR (run_hunyuan_vl, load_hunyuan_vl) build
#   ``<bos>{image placeholders}{question}<｜hy_User｜>`` by hand for a user-only message;
# - llama.cpp's built-in HUNYUAN_VL chat format (llama-chat.cpp as vendored downstream, commented
#   "tencent/HunyuanOCR & tencent/HunyuanVL"):
#   BOS, then a first system message as content + <｜hy_place▁holder▁no▁3｜> (also when empty),
#   then user content + <｜hy_User｜>;
# - GreatV/oar-ocr (oar-ocr-vl/src/models/hunyuanocr/model.rs, build_prompt) renders 1.0 with an
#   empty system message as BOS + <｜hy_place▁holder▁no▁3｜> + image + text + <｜hy_User｜>, "matching
#   the tokenizer chat_template in the model repo";
# - README_zh.md's 2025-11-28 news item says the vLLM client's "system prompt" configuration was
#   fixed; the client it links (Hunyuan-OCR-vllm/run_hy_ocr.py) sends the empty system message,
#   which only changes the prompt if the template emits no.3 for it.
#
# An empty system turn therefore yields <｜hy_place▁holder▁no▁3｜> in 1.0. For 1.5 this is open:
# the official 1.5 clients and trainer still send ``{"role": "system", "content": ""}``, but
# oar-ocr renders 1.5 without no.3 ("V1.5's official invocation starts directly with the user
# message"). Both constants below are the same reconstruction. Assistant turns (never rendered
# for inference) close with eos_token here, which is a guess. Engines must keep applying the
# checkpoint's own template (models/prompts.py build_messages); these constants are for test
# weights and for comparing against a real checkpoint's rendering, not for overriding it.
RELEASED_CHAT_TEMPLATES_VERBATIM = False
_SYSTEM_END = "<｜hy_place▁holder▁no▁3｜>"
_USER = "<｜hy_User｜>"
_IMAGE = "<｜hy_place▁holder▁no▁100｜><｜hy_place▁holder▁no▁102｜><｜hy_place▁holder▁no▁101｜>"
RELEASED_CHAT_TEMPLATE_V1_0 = (
    "{{- bos_token }}"
    "{%- set loop_messages = messages %}"
    "{%- if messages and messages[0]['role'] == 'system' %}"
    "{%- set loop_messages = messages[1:] %}"
    "{%- if messages[0]['content'] is string %}{{- messages[0]['content'] }}{%- endif %}"
    "{{- '" + _SYSTEM_END + "' }}"
    "{%- endif %}"
    "{%- for message in loop_messages %}"
    "{%- if message['content'] is string %}{{- message['content'] }}"
    "{%- else %}{%- for item in message['content'] %}"
    "{%- if item['type'] in ('image', 'image_url') %}{{- '" + _IMAGE + "' }}"
    "{%- elif item['type'] == 'text' %}{{- item['text'] }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{%- if message['role'] == 'user' %}{{- '" + _USER + "' }}{%- else %}{{- eos_token }}{%- endif %}"
    "{%- endfor %}"
)
RELEASED_CHAT_TEMPLATE_V1_5 = RELEASED_CHAT_TEMPLATE_V1_0
