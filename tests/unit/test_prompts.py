"""The task -> official prompt tables, per HunyuanOCR version, and version detection.

The expected strings below are literals copied from Tencent-Hunyuan/HunyuanOCR, deliberately not
imported from the code under test:
- 1.0: commit b138959428e7d592d5e832aee39d91aa60ea0f44, README.md / README_zh.md ("Application-oriented
  Prompts", Chinese column) and Hunyuan-OCR-master/Hunyuan-OCR-hf/run_hy_ocr.py (parse);
- 1.5: commit c55965d3da1e6f41987abec8068f2e70851318bc, inference/utils/tasks.py TASK_PROMPTS.
"""

from __future__ import annotations

import jinja2
import pytest
from PIL import Image

from models.base import EngineError
from models.prompts import (
    FIELDS_TEMPLATE,
    PROMPTS,
    PROMPTS_BY_VERSION,
    build_messages,
    build_prompt,
    detect_version,
    tasks_for_version,
)
from models.recipe import (
    OFFICIAL_MAX_PIXELS,
    RELEASED_CHAT_TEMPLATE_V1_0,
    RELEASED_CHAT_TEMPLATE_V1_5,
)
from shared.jobs.task_spec import DECODER_TASKS, HUNYUAN_1_5_TASKS, TASK_NAMES, TaskSpec

OFFICIAL_1_0 = {
    # README.md "General Parsing".
    "text": "提取图中的文字。",
    # README.md "Spotting".
    "spotting": "检测并识别图片中的文字，将文本坐标格式化输出。",
    # Hunyuan-OCR-master/Hunyuan-OCR-hf/run_hy_ocr.py messages1 (the README's copy adds spaces around markdown/html/latex).
    "parse": "提取文档图片中正文的所有信息用markdown格式表示，其中页眉、页脚部分忽略，表格用html格式表达，文档中公式用latex格式表示，按照阅读顺序组织进行解析。",
    # README.md "Document Parsing" (their only 1.0 source).
    "table": "把图中的表格解析为 HTML。",
    "formula": "识别图片中的公式，用 LaTeX 格式表示。",
    "chart": "解析图中的图表，对于流程图使用 Mermaid 格式表示，其他图表使用 Markdown 格式表示。",
    # README.md "Translation".
    "translate:en": "先提取文字，再将文字内容翻译为英文。若是文档，则其中页眉、页脚忽略。公式用latex格式表示，表格用html格式表示。",
}

OFFICIAL_1_5 = {
    "text": "提取图中的文字。",  # structured_parse
    "spotting": "检测并识别图片中的文字，将文本坐标格式化输出。",  # spotting_hunyuan
    "spotting_json": (  # spotting_json
        "检测并识别图中所有的文字行，请按从上到下、从左到右的阅读顺序进行识别。 "
        "输出格式为 JSON 数组，每个元素必须包含："
        '"box": [xmin, ymin, xmax, ymax]（坐标需归一化到 [0, 1000] 范围内）；'
        '"text": "识别出的文字内容"。 '
        "注意：请直接输出 JSON 数组，不要包含任何多余的描述性文字。"
    ),
    "parse": "提取文档图片中正文的所有信息用markdown格式表示，其中页眉、页脚部分忽略，表格用html格式表达，文档中公式用latex格式表示，按照阅读顺序组织进行解析。",  # doc_parse
    "layout": "按照阅读顺序解析图中的版式信息。",  # layout
    "layout_parse": "提取文档图片中所有内容用markdown格式表示，表格用html格式表达，文档中公式用latex格式表示，请按照阅读顺序组织进行全文解析，并输出版式分析信息。",  # layout_parse
    "table": "把图中的表格解析为HTML。",  # table
    "formula": "识别图片中的公式，用LaTeX格式表示。",  # formula
    "chart": "解析图中的图表，对于流程图使用Mermaid格式表示，其他图表使用Markdown格式表示。",  # chart_parse
    "translate:en": "按照阅读顺序，提取图中文字，公式用latex格式表示，表格用markdown格式表示，再将文字内容翻译为英文。",  # trans_other2en
    "translate:zh": "按照阅读顺序，提取图中文字，公式用latex格式表示，表格用markdown格式表示，再将文字内容翻译为中文。",  # trans_other2zh
}

# README.md "Information Extraction" (1.0; 1.5 publishes no such prompt and reuses it), with its example's keys.
OFFICIAL_FIELDS = "提取图片中的: ['单价', '上车时间', '发票号码'] 的字段内容，并按照 JSON 格式返回。"


def spec(task: str, **kw: object) -> TaskSpec:
    return TaskSpec(task=task, **kw)  # type: ignore[arg-type]


def rendered(key: str, version: str) -> str:
    task, _, lang = key.partition(":")
    return build_prompt(spec(task, target_lang=lang) if lang else spec(task), version)


@pytest.mark.parametrize(("version", "official"), [("1.0", OFFICIAL_1_0), ("1.5", OFFICIAL_1_5)])
def test_every_prompt_is_the_official_string_byte_for_byte(version: str, official: dict[str, str]) -> None:
    for key, expected in official.items():
        got = rendered(key, version)
        assert got.encode("utf-8") == expected.encode("utf-8"), (version, key, got)


@pytest.mark.parametrize("version", ["1.0", "1.5"])
def test_fields_prompt_is_the_model_cards(version: str) -> None:
    assert build_prompt(spec("fields", fields=("单价", "上车时间", "发票号码")), version) == OFFICIAL_FIELDS
    assert FIELDS_TEMPLATE.count("{fields}") == 1


def test_the_1_0_into_chinese_prompt_only_swaps_the_language() -> None:
    en, zh = rendered("translate:en", "1.0"), rendered("translate:zh", "1.0")
    assert en.replace("英文", "中文") == zh


def test_every_prompt_is_covered_by_an_official_literal() -> None:
    for version, official in (("1.0", OFFICIAL_1_0), ("1.5", OFFICIAL_1_5)):
        covered = {key.partition(":")[0] for key in official} | {"fields"}
        assert set(PROMPTS_BY_VERSION[version]) == covered, version


def test_default_version_is_1_5() -> None:
    assert PROMPTS is PROMPTS_BY_VERSION["1.5"]
    assert build_prompt(spec("table")) == OFFICIAL_1_5["table"]


def test_every_task_has_a_prompt_in_1_5() -> None:
    examples = {
        "fields": spec("fields", fields=("total",)),
        "translate": spec("translate", target_lang="en"),
        "ask": spec("ask", instruction="What is the total?"),
    }
    for task in set(TASK_NAMES) - DECODER_TASKS:  # the barcodes task never reaches an engine
        assert build_prompt(examples.get(task) or spec(task), "1.5").strip(), task
    assert tasks_for_version("1.5") == set(TASK_NAMES) - DECODER_TASKS


@pytest.mark.parametrize("task", sorted(HUNYUAN_1_5_TASKS))
def test_a_1_0_checkpoint_refuses_1_5_only_tasks(task: str) -> None:
    with pytest.raises(EngineError) as err:
        build_prompt(spec(task), "1.0")
    assert err.value.code == "unsupported_task" and "1.5" in str(err.value)
    assert task not in tasks_for_version("1.0")


def test_unknown_version_is_an_error() -> None:
    with pytest.raises(ValueError):
        build_prompt(spec("text"), "2.0")


def test_fields_prompt_escapes_quotes_in_names() -> None:
    assert "[\"it's\"]" in build_prompt(spec("fields", fields=("it's",)))


def test_ask_uses_the_instruction() -> None:
    for version in ("1.0", "1.5"):
        assert build_prompt(spec("ask", instruction="  What is the VAT number?  "), version) == "What is the VAT number?"


def test_messages_follow_the_official_client_layout() -> None:
    image = Image.new("RGB", (8, 8))
    messages = build_messages(image, "提取图中的文字。")
    assert messages[0] == {"role": "system", "content": ""}
    assert messages[1]["role"] == "user"
    assert messages[1]["content"][0] == {"type": "image", "image": image}
    assert messages[1]["content"][1] == {"type": "text", "text": "提取图中的文字。"}


def test_prompt_tables_only_name_known_tasks() -> None:
    for table in PROMPTS_BY_VERSION.values():
        assert set(table) <= set(TASK_NAMES)


# --------------------------------------------------------------------------------------------
# Version detection. The real config.json files live on the Hugging Face Hub, which these tests
# cannot reach; the two below are trimmed reconstructions. 1.0: flat, field names as GreatV/oar-ocr
# deserialises the archived 1.0 file (oar-ocr-vl/src/models/hunyuanocr/config.rs) and rope_scaling as
# transformers' legacy test has it (tests/models/hunyuan_vl, LEGACY_XDROPE_SCALING); values from
# models/random_checkpoints.py RELEASED_*. 1.5: a third-party copy of the nested 1.5 file (mistral.rs'
# HUNYUAN_OCR_1_5 test constant), trimmed, plus a top-level copy of a text field as 1.5 keeps them.
# --------------------------------------------------------------------------------------------

CONFIG_1_0 = {
    "architectures": ["HunYuanVLForConditionalGeneration"],
    "model_type": "hunyuan_vl",
    "hidden_size": 1024,
    "intermediate_size": 3584,
    "num_attention_heads": 16,
    "num_hidden_layers": 24,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 120818,
    "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0,
    "rope_scaling": {"type": "xdrope", "factor": 1.0, "alpha": 1000.0, "xdrope_section": [16, 16, 16, 16]},
    "use_qk_norm": True,
    "image_start_token_id": 120118,
    "image_end_token_id": 120119,
    "image_token_id": 120120,
    "image_newline_token_id": 120121,
    "vision_config": {"hidden_size": 1152, "num_hidden_layers": 27, "patch_size": 16, "spatial_merge_size": 2,
                      "max_image_size": 2048},
}

CONFIG_1_5 = {
    "architectures": ["HunYuanVLForConditionalGeneration"],
    "model_type": "hunyuan_vl",
    "hidden_size": 1024,  # kept at the top level too
    "image_token_id": 120120,
    "text_config": {
        "model_type": "hunyuan_vl_text",
        "hidden_size": 1024,
        "num_hidden_layers": 24,
        "vocab_size": 120818,
        "rope_parameters": {"alpha": 1000.0, "rope_theta": 10000.0, "rope_type": "xdrope", "type": "xdrope",
                            "xdrope_section": [16, 16, 16, 16]},
    },
    "vision_config": {"model_type": "hunyuan_vl_vision", "hidden_size": 1152, "max_image_size": 2048,
                      "max_vit_seq_len": 65536},
}


def test_detect_version() -> None:
    assert detect_version(CONFIG_1_0) == "1.0"
    assert detect_version(CONFIG_1_5) == "1.5"


def test_a_checkpoint_saved_by_transformers_is_1_5_shaped() -> None:
    from transformers import HunYuanVLConfig

    assert detect_version(HunYuanVLConfig().to_dict()) == "1.5"  # as make_tiny / make_random save theirs


def test_detect_version_wants_a_dict() -> None:
    with pytest.raises(ValueError):
        detect_version("config.json")  # type: ignore[arg-type]


def test_official_pixel_caps() -> None:
    assert OFFICIAL_MAX_PIXELS == {"1.0": 2048 * 2048, "1.5": 4096 * 4096}


def test_chat_template_reconstruction_renders_the_documented_layout() -> None:
    image = Image.new("RGB", (8, 8))
    env = jinja2.Environment()
    for template in (RELEASED_CHAT_TEMPLATE_V1_0, RELEASED_CHAT_TEMPLATE_V1_5):
        text = env.from_string(template).render(
            messages=build_messages(image, "提取图中的文字。"), bos_token="<｜hy_begin▁of▁sentence｜>",
            eos_token="<｜hy_place▁holder▁no▁2｜>", add_generation_prompt=True,
        )
        assert text == (
            "<｜hy_begin▁of▁sentence｜><｜hy_place▁holder▁no▁3｜>"
            "<｜hy_place▁holder▁no▁100｜><｜hy_place▁holder▁no▁102｜><｜hy_place▁holder▁no▁101｜>"
            "提取图中的文字。<｜hy_User｜>"
        )
