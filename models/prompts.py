"""Task -> HunyuanOCR instruction: the official prompts, one table, nothing paraphrased.

The model was trained on a fixed set of instructions; rewording them measurably degrades output
(the official repository goes as far as refusing free-form prompts for that reason). So every task
maps to the wording published in the model card's "Application-oriented Prompts" table
(github.com/Tencent-Hunyuan/HunyuanOCR README.md / README_zh.md). We use the Chinese column: it is
the wording the official examples, demo scripts and vLLM client send, and it works for documents
in any language (the prompt language does not set the output language, except for translation).

Only three tasks take caller input:
- ``fields``: the card's template with the caller's field names in Python list notation, exactly
  as its worked example ``['单价', '上车时间', ...]``;
- ``translate``: the card's translation prompt; its target language is the only word that changes;
- ``ask``: the caller's own question (document QA has no fixed prompt).
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from shared.tasks import TaskSpec

# Fixed prompts, verbatim (spacing included) from the model card's prompt table.
PROMPTS: dict[str, str] = {
    # "General Parsing": plain text in reading order.
    "text": "提取图中的文字。",
    # "Spotting": answers `text(x1,y1),(x2,y2)` per line, coordinates normalised to 0-1000.
    "spotting": "检测并识别图片中的文字，将文本坐标格式化输出。",
    # "Document Parsing" (full page): markdown, tables as HTML, formulas as LaTeX.
    "parse": (
        "提取文档图片中正文的所有信息用 markdown 格式表示，其中页眉、页脚部分忽略，"
        "表格用 html 格式表达，文档中公式用 latex 格式表示，按照阅读顺序组织进行解析。"
    ),
    "table": "把图中的表格解析为 HTML。",
    "formula": "识别图片中的公式，用 LaTeX 格式表示。",
    "chart": "解析图中的图表，对于流程图使用 Mermaid 格式表示，其他图表使用 Markdown 格式表示。",
}

# "Information Extraction": `{fields}` is a Python-style list literal of the caller's names.
FIELDS_TEMPLATE = "提取图片中的: {fields} 的字段内容，并按照 JSON 格式返回。"

# "Translation": the card publishes the into-English prompt; into-Chinese changes only the target.
TRANSLATE_TEMPLATE = (
    "先提取文字，再将文字内容翻译为{lang}。若是文档，则其中页眉、页脚忽略。公式用latex格式表示，表格用html格式表示。"
)
TRANSLATE_LANG: dict[str, str] = {"en": "英文", "zh": "中文"}


def _fields_literal(fields: tuple[str, ...]) -> str:
    # str(list) gives "['a', 'b']", the notation of the card's example; repr escapes quotes in names.
    return str([f.strip() for f in fields])


def build_prompt(spec: TaskSpec) -> str:
    """The instruction text for one task (TaskSpec has already validated the parameters)."""
    task = spec.task
    if task in PROMPTS:
        return PROMPTS[task]
    if task == "fields":
        return FIELDS_TEMPLATE.format(fields=_fields_literal(spec.fields or ()))
    if task == "translate":
        return TRANSLATE_TEMPLATE.format(lang=TRANSLATE_LANG[spec.target_lang or "en"])
    if task == "ask":
        return (spec.instruction or "").strip()
    raise ValueError(f"no HunyuanOCR prompt for task '{task}'")


def build_messages(image: Image.Image, prompt: str) -> list[dict[str, Any]]:
    """Chat messages in the layout of the official clients: empty system turn, then image + text.

    The processor's chat template turns these into the model's prompt (and its image placeholders);
    we never hand-build the token string, so a checkpoint's own template always wins.
    """
    return [
        {"role": "system", "content": ""},
        {
            "role": "user",
            "content": [
                {"type": "image", "image": image},
                {"type": "text", "text": prompt},
            ],
        },
    ]
