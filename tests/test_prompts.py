"""The task -> official prompt table."""

from __future__ import annotations

import pytest
from PIL import Image

from models.prompts import FIELDS_TEMPLATE, PROMPTS, build_messages, build_prompt
from shared.tasks import DECODER_TASKS, TASK_NAMES, TaskSpec


def spec(task: str, **kw: object) -> TaskSpec:
    return TaskSpec(task=task, **kw)  # type: ignore[arg-type]


def test_every_task_has_a_prompt() -> None:
    examples = {
        "fields": spec("fields", fields=("total",)),
        "translate": spec("translate", target_lang="en"),
        "ask": spec("ask", instruction="What is the total?"),
    }
    for task in set(TASK_NAMES) - DECODER_TASKS:  # the barcodes task never reaches an engine
        prompt = build_prompt(examples.get(task) or spec(task))
        assert prompt.strip(), task


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("spotting", "检测并识别图片中的文字，将文本坐标格式化输出。"),
        ("text", "提取图中的文字。"),
        ("table", "把图中的表格解析为 HTML。"),
        ("formula", "识别图片中的公式，用 LaTeX 格式表示。"),
        ("chart", "解析图中的图表，对于流程图使用 Mermaid 格式表示，其他图表使用 Markdown 格式表示。"),
    ],
)
def test_fixed_prompts_are_the_official_wording(task: str, expected: str) -> None:
    assert build_prompt(spec(task)) == expected


def test_parse_prompt_is_the_full_document_prompt() -> None:
    prompt = build_prompt(spec("parse"))
    assert prompt.startswith("提取文档图片中正文的所有信息用 markdown 格式表示")
    assert "表格用 html 格式表达" in prompt and prompt.endswith("按照阅读顺序组织进行解析。")


def test_fields_prompt_lists_the_callers_names_like_the_model_card() -> None:
    prompt = build_prompt(spec("fields", fields=("单价", "上车时间", "total")))
    assert prompt == "提取图片中的: ['单价', '上车时间', 'total'] 的字段内容，并按照 JSON 格式返回。"
    assert FIELDS_TEMPLATE.count("{fields}") == 1


def test_fields_prompt_escapes_quotes_in_names() -> None:
    prompt = build_prompt(spec("fields", fields=("it's",)))
    assert "[\"it's\"]" in prompt


def test_translate_targets() -> None:
    en = build_prompt(spec("translate", target_lang="en"))
    zh = build_prompt(spec("translate", target_lang="zh"))
    assert en.startswith("先提取文字，再将文字内容翻译为英文。")
    assert zh.startswith("先提取文字，再将文字内容翻译为中文。")
    assert en.replace("英文", "中文") == zh


def test_ask_uses_the_instruction() -> None:
    assert build_prompt(spec("ask", instruction="  What is the VAT number?  ")) == "What is the VAT number?"


def test_messages_follow_the_official_client_layout() -> None:
    image = Image.new("RGB", (8, 8))
    messages = build_messages(image, "提取图中的文字。")
    assert messages[0] == {"role": "system", "content": ""}
    assert messages[1]["role"] == "user"
    assert messages[1]["content"][0] == {"type": "image", "image": image}
    assert messages[1]["content"][1] == {"type": "text", "text": "提取图中的文字。"}


def test_prompt_table_only_names_known_tasks() -> None:
    assert set(PROMPTS) <= set(TASK_NAMES)
