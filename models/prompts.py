"""Task -> HunyuanOCR instruction, per released version: the official prompts, byte for byte.

The model was trained on a fixed set of instructions; rewording them (down to a space) measurably
degrades output, and the official 1.5 clients go as far as refusing free-form prompts for that
reason. So every task maps to the wording Tencent publishes for the checkpoint's version
(models/recipe.py says how a checkpoint's version is detected):

- 1.0, Tencent-Hunyuan/HunyuanOCR at b138959428e7d592d5e832aee39d91aa60ea0f44 (November 2025):
  the "Application-oriented Prompts" table of README.md / README_zh.md (Chinese column), except
  ``parse``, which is taken from the code the release ran, Hunyuan-OCR-master/Hunyuan-OCR-hf/
  run_hy_ocr.py: the table writes the same prompt with spaces around the Latin words ("用 markdown
  格式"), the code without. ``table``, ``formula`` and ``chart`` exist in 1.0 only in that table,
  so they keep its spacing ("解析为 HTML").
- 1.5, the same repository at c55965d3da1e6f41987abec8068f2e70851318bc (July 2026):
  inference/utils/tasks.py ``TASK_PROMPTS``, the prompts every official 1.5 client sends (no
  spaces around Latin words anywhere). Our task -> their task type: text -> structured_parse,
  spotting -> spotting_hunyuan, spotting_json, parse -> doc_parse, layout, layout_parse, table,
  formula, chart -> chart_parse, translate -> trans_other2en / trans_other2zh. doc_trans_en2zh
  (documents, English into Chinese) has no task of ours.

The prompt language does not restrict the document language (the official clients send Chinese
for every document); only ``translate`` chooses the output language.

Three tasks take caller input:
- ``fields``: the 1.0 card's information-extraction template with the caller's field names in
  Python list notation, exactly as its worked example ``['单价', '上车时间', ...]``. 1.5 publishes
  no information-extraction prompt, so 1.5 uses the 1.0 wording (not an official 1.5 prompt);
- ``translate``: the target language is the only word that changes. 1.5 publishes both targets;
  1.0 publishes the into-English prompt only, so 1.0's into-Chinese prompt (英文 -> 中文) is ours;
- ``ask``: the caller's own question (document QA has no fixed prompt in either version).
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from models.base import EngineError
from models.recipe import DEFAULT_VERSION, VERSIONS, check_version, detect_version
from shared.jobs.task_spec import TaskSpec

__all__ = [
    "DEFAULT_VERSION",
    "FIELDS_TEMPLATE",
    "PROMPTS",
    "PROMPTS_BY_VERSION",
    "TRANSLATE_LANG",
    "VERSIONS",
    "build_messages",
    "build_prompt",
    "detect_version",
    "tasks_for_version",
]

# "Information Extraction" (1.0 card): `{fields}` becomes a Python-style list literal of the names.
FIELDS_TEMPLATE = "提取图片中的: {fields} 的字段内容，并按照 JSON 格式返回。"

# `{lang}` in a translate template becomes the target language's Chinese name.
TRANSLATE_LANG: dict[str, str] = {"en": "英文", "zh": "中文"}

# Per version: task -> prompt (``fields`` and ``translate`` are templates, see above). Every string
# is the official one for its version; tests/unit/test_prompts.py holds the same strings as literals.
PROMPTS_BY_VERSION: dict[str, dict[str, str]] = {
    "1.0": {
        # README "General Parsing".
        "text": "提取图中的文字。",
        # README "Spotting": `text(x1,y1),(x2,y2)` per line, coordinates normalised to 0-1000.
        "spotting": "检测并识别图片中的文字，将文本坐标格式化输出。",
        # Hunyuan-OCR-hf/run_hy_ocr.py (the README's copy has spaces around markdown/html/latex).
        "parse": (
            "提取文档图片中正文的所有信息用markdown格式表示，其中页眉、页脚部分忽略，"
            "表格用html格式表达，文档中公式用latex格式表示，按照阅读顺序组织进行解析。"
        ),
        # README "Document Parsing" (their only 1.0 source, spacing included).
        "table": "把图中的表格解析为 HTML。",
        "formula": "识别图片中的公式，用 LaTeX 格式表示。",
        "chart": "解析图中的图表，对于流程图使用 Mermaid 格式表示，其他图表使用 Markdown 格式表示。",
        # README "Information Extraction".
        "fields": FIELDS_TEMPLATE,
        # README "Translation" (into English; into Chinese only swaps the language word).
        "translate": (
            "先提取文字，再将文字内容翻译为{lang}。若是文档，则其中页眉、页脚忽略。"
            "公式用latex格式表示，表格用html格式表示。"
        ),
    },
    "1.5": {
        # inference/utils/tasks.py "structured_parse".
        "text": "提取图中的文字。",
        # "spotting_hunyuan": the same answer format as 1.0's spotting.
        "spotting": "检测并识别图片中的文字，将文本坐标格式化输出。",
        # "spotting_json": a JSON array of {"box": [xmin, ymin, xmax, ymax] in 0-1000, "text": ...}.
        "spotting_json": (
            "检测并识别图中所有的文字行，请按从上到下、从左到右的阅读顺序进行识别。 "
            "输出格式为 JSON 数组，每个元素必须包含："
            '"box": [xmin, ymin, xmax, ymax]（坐标需归一化到 [0, 1000] 范围内）；'
            '"text": "识别出的文字内容"。 '
            "注意：请直接输出 JSON 数组，不要包含任何多余的描述性文字。"
        ),
        # "doc_parse".
        "parse": (
            "提取文档图片中正文的所有信息用markdown格式表示，其中页眉、页脚部分忽略，"
            "表格用html格式表达，文档中公式用latex格式表示，按照阅读顺序组织进行解析。"
        ),
        # "layout": layout regions in reading order (models/parsers.py parse_layout).
        "layout": "按照阅读顺序解析图中的版式信息。",
        # "layout_parse": the full page as markdown plus each block's layout information.
        "layout_parse": (
            "提取文档图片中所有内容用markdown格式表示，表格用html格式表达，"
            "文档中公式用latex格式表示，请按照阅读顺序组织进行全文解析，并输出版式分析信息。"
        ),
        "table": "把图中的表格解析为HTML。",
        "formula": "识别图片中的公式，用LaTeX格式表示。",
        # "chart_parse".
        "chart": "解析图中的图表，对于流程图使用Mermaid格式表示，其他图表使用Markdown格式表示。",
        # No 1.5 information-extraction prompt exists: the 1.0 card's wording.
        "fields": FIELDS_TEMPLATE,
        # "trans_other2en" / "trans_other2zh" (general scenes; they differ only in the last word).
        "translate": (
            "按照阅读顺序，提取图中文字，公式用latex格式表示，表格用markdown格式表示，"
            "再将文字内容翻译为{lang}。"
        ),
    },
}

# The default version's table (1.5), for callers that predate versions (a warm-up's "text" prompt).
PROMPTS: dict[str, str] = PROMPTS_BY_VERSION[DEFAULT_VERSION]

_FREE_FORM = frozenset({"ask"})  # no fixed prompt in any version: the caller's instruction


def tasks_for_version(version: str) -> frozenset[str]:
    """The OCR tasks a checkpoint of ``version`` has a prompt for (``ask`` included, decoder tasks not)."""
    return frozenset(PROMPTS_BY_VERSION[check_version(version)]) | _FREE_FORM


def _fields_literal(fields: tuple[str, ...]) -> str:
    # str(list) gives "['a', 'b']", the notation of the card's example; repr escapes quotes in names.
    return str([f.strip() for f in fields])


def build_prompt(spec: TaskSpec, version: str = DEFAULT_VERSION) -> str:
    """The instruction text for one task on a checkpoint of ``version`` (TaskSpec validated the parameters).

    A task the version has no prompt for (1.5's spotting_json, layout and layout_parse on a 1.0
    checkpoint) raises EngineError("unsupported_task"); an unknown version raises ValueError.
    """
    table = PROMPTS_BY_VERSION[check_version(version)]
    task = spec.task
    if task in _FREE_FORM:
        return (spec.instruction or "").strip()
    if task not in table:
        known_in = [v for v in VERSIONS if task in PROMPTS_BY_VERSION[v]]
        if known_in:
            raise EngineError(
                "unsupported_task",
                f"task '{task}' needs HunyuanOCR {' or '.join(known_in)}; this checkpoint is HunyuanOCR {version}",
            )
        raise ValueError(f"no HunyuanOCR prompt for task '{task}'")
    template = table[task]
    if task == "fields":
        return template.format(fields=_fields_literal(spec.fields or ()))
    if task == "translate":
        return template.format(lang=TRANSLATE_LANG[spec.target_lang or "en"])
    return template


def build_messages(image: Image.Image, prompt: str) -> list[dict[str, Any]]:
    """Chat messages in the layout of the official clients: empty system turn, then image + text.

    Both versions' official clients (1.0's Hunyuan-OCR-vllm/run_hy_ocr.py, 1.5's
    infer_vllm_client.py and infer_hf_8gpu.py) and 1.5's trainer send exactly this. The processor's
    chat template turns it into the model's prompt (and its image placeholders); we never
    hand-build the token string, so a checkpoint's own template always wins.
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
