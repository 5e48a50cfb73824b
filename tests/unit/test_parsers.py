"""Model answer text -> structured results, on realistic and malformed HunyuanOCR outputs."""

from __future__ import annotations

import json

import pytest

from models.parsers import (
    parse_fields,
    parse_layout,
    parse_spotting,
    parse_spotting_json,
    strip_code_fence,
    to_output,
)

W, H = 500, 1000  # a receipt-shaped image

SPOTTING = (
    "WALMART(312,40),(688,72)\n"
    "Save money. Live better.(280,80),(720,104)\n"
    "TOTAL 23.45(120,640),(860,668)\n"
    "合计 ¥77.10(100,700),(500,730)"
)


def test_spotting_lines_are_scaled_to_pixels() -> None:
    lines = parse_spotting(SPOTTING, W, H)
    assert [line.text for line in lines] == ["WALMART", "Save money. Live better.", "TOTAL 23.45", "合计 ¥77.10"]
    assert lines[0].box == (156, 40, 344, 72)
    assert lines[2].box == (60, 640, 430, 668)
    assert lines[0].polygon == [(156, 40), (344, 40), (344, 72), (156, 72)]
    assert lines[0].confidence is None


def test_spotting_without_newlines_between_entries() -> None:
    lines = parse_spotting("A(0,0),(100,100)B(100,100),(200,200)", W, H)
    assert [line.text for line in lines] == ["A", "B"]


def test_spotting_text_may_contain_parentheses() -> None:
    lines = parse_spotting("Total (USD)(10,20),(90,40)\n(2 items)(10,50),(90,60)", W, H)
    assert [line.text for line in lines] == ["Total (USD)", "(2 items)"]


def test_spotting_tolerates_spaces_inside_coordinates() -> None:
    lines = parse_spotting("Milk ( 10 , 20 ) , ( 300 , 40 )", W, H)
    assert lines[0].box == (5, 20, 150, 40)


def test_spotting_clamps_coordinates_beyond_1000() -> None:
    (line,) = parse_spotting("edge(950,990),(1200,1999)", W, H)
    assert line.box == (475, 990, W - 1, H - 1)


def test_spotting_orders_swapped_corners() -> None:
    (line,) = parse_spotting("x(800,600),(200,100)", W, H)
    assert line.box == (100, 100, 400, 600)


def test_spotting_drops_a_truncated_last_entry() -> None:
    lines = parse_spotting("A(0,0),(10,10)\nB(20,20),(30", W, H)
    assert [line.text for line in lines] == ["A"]


def test_spotting_unbalanced_parens_do_not_break_later_lines() -> None:
    lines = parse_spotting("Qty (2(10,10),(20,20)\nC)(30,30),(40,40)", W, H)
    assert [line.text for line in lines] == ["Qty (2", "C)"]


def test_spotting_empty_and_garbage() -> None:
    assert parse_spotting("", W, H) == []
    assert parse_spotting("no coordinates at all", W, H) == []
    assert parse_spotting("(1,2),(3,4)", W, H) == []  # a box with no text


def test_spotting_on_a_one_pixel_image() -> None:
    (line,) = parse_spotting("a(0,0),(1000,1000)", 1, 1)
    assert line.box == (0, 0, 0, 0)


def test_spotting_output_keeps_raw_only_when_nothing_parsed() -> None:
    ok = to_output("spotting", SPOTTING, W, H)
    assert ok.raw is None and len(ok.lines) == 4
    assert ok.text.splitlines()[0] == "WALMART"
    bad = to_output("spotting", "I cannot see any text.", W, H)
    assert bad.lines == [] and bad.raw == "I cannot see any text."
    empty = to_output("spotting", "", W, H)
    assert empty.lines == [] and empty.raw is None and empty.text == ""


FIELDS_FENCED = """```json
{
    "单价": "3.00",
    "总金额": "￥77.10元",
    "发票号码": "42609332"
}
```"""


def test_fields_from_a_json_code_fence() -> None:
    assert parse_fields(FIELDS_FENCED) == {"单价": "3.00", "总金额": "￥77.10元", "发票号码": "42609332"}


def test_fields_with_stray_text_around() -> None:
    text = 'Here is the result: {"total": "23.45", "date": "2024-01-15"} Hope this helps.'
    assert parse_fields(text) == {"total": "23.45", "date": "2024-01-15"}


def test_fields_fence_inside_prose() -> None:
    text = 'Sure.\n```json\n{"total": "1.00"}\n```\nDone.'
    assert parse_fields(text) == {"total": "1.00"}


def test_fields_bare_json_and_nested_values() -> None:
    assert parse_fields('{"items": [{"name": "milk"}], "total": null}') == {"items": [{"name": "milk"}], "total": None}


@pytest.mark.parametrize(
    "text",
    ['```json\n{"total": "23.4', '{"total": "23.45", "date": ', "", "not json", '["a", "b"]', "{}}{"],
)
def test_fields_invalid_json_gives_none(text: str) -> None:
    assert parse_fields(text) is None


def test_fields_output_keeps_raw_when_invalid() -> None:
    truncated = '```json\n{"total": "23.4'
    out = to_output("fields", truncated, W, H, truncated=True)
    assert out.fields is None and out.raw == truncated and out.truncated
    good = to_output("fields", FIELDS_FENCED, W, H)
    assert good.fields is not None and good.raw is None
    assert json.loads(good.text) == good.fields
    empty = to_output("fields", "", W, H)
    assert empty.fields is None and empty.raw is None


def test_parse_gives_markdown() -> None:
    md = "# Invoice\n\n<table><tr><td>1</td></tr></table>\n\n$$ a^2 $$"
    out = to_output("parse", md, W, H)
    assert out.markdown == md and out.text == md and out.lines == []


def test_table_unwraps_an_html_fence_and_fills_markdown() -> None:
    out = to_output("table", "```html\n<table><tr><td>1</td></tr></table>\n```", W, H)
    assert out.text == "<table><tr><td>1</td></tr></table>" and out.markdown == out.text


@pytest.mark.parametrize("task", ["text", "formula", "chart", "translate", "ask"])
def test_plain_text_tasks(task: str) -> None:
    out = to_output(task, "  E = mc^2 \n", W, H, truncated=True)
    assert out.text == "E = mc^2" and out.markdown is None and out.fields is None and out.truncated


def test_strip_code_fence_variants() -> None:
    assert strip_code_fence("```latex\nx^2\n```") == "x^2"
    assert strip_code_fence("```\nabc") == "abc"  # closing fence cut off by the token cap
    assert strip_code_fence("plain ``` inside") == "plain ``` inside"


# --------------------------------------------------------------------------------------------
# HunyuanOCR 1.5's own answers: spotting_json, layout, layout_parse
# --------------------------------------------------------------------------------------------

SPOTTING_JSON = (
    '```json\n[{"box": [312, 40, 688, 72], "text": "WALMART"},\n'
    ' {"box": [120, 640, 860, 668], "text": "TOTAL 23.45"},\n'
    ' {"box": [100, 700, 500, 730], "text": ""}]\n```'
)


def test_spotting_json_lines_are_scaled_to_pixels() -> None:
    out = to_output("spotting_json", SPOTTING_JSON, W, H)
    assert [line.text for line in out.lines] == ["WALMART", "TOTAL 23.45"]  # the empty entry is dropped
    assert out.lines[0].box == (156, 40, 344, 72)
    assert out.lines[0].polygon == [(156, 40), (344, 40), (344, 72), (156, 72)]
    assert out.text == "WALMART\nTOTAL 23.45" and out.raw is None


def test_spotting_json_salvages_a_truncated_array() -> None:
    text = '[{"box": [0, 0, 100, 100], "text": "A"}, {"box": [100, 100, 200, 200], "text": "B"}, {"box": [200, 2'
    assert [line.text for line in parse_spotting_json(text, W, H)] == ["A", "B"]


def test_spotting_json_skips_an_unreadable_entry_and_reads_on() -> None:
    text = '[{"box": [0, 0, 10, 10], "text": "A"}, {"box": [1, 2, 3], "text": "bad box"}, {"text": "say "hi""}, ' \
           '{"box": [20, 20, 30, 30], "text": "C"}]'
    assert [line.text for line in parse_spotting_json(text, W, H)] == ["A", "C"]


def test_spotting_json_that_is_not_json_keeps_raw() -> None:
    out = to_output("spotting_json", "WALMART(312,40),(688,72)", W, H)
    assert out.lines == [] and out.raw == "WALMART(312,40),(688,72)"


LAYOUT_JSON = (
    '[{"layout_type": "title", "bbox": "(100,50),(900,50),(900,90),(100,90)", "text": "# Invoice 42"},'
    ' {"layout_type": "table", "bbox": "(100,100),(900,100),(900,500),(100,500)",'
    ' "text": "<table><tr><td>1</td></tr></table>"},'
    ' {"layout_type": "figure", "bbox": "(100,600),(500,600),(500,900),(100,900)", "text": ""}]'
)


def test_layout_parse_gives_markdown_and_a_line_per_block_with_content() -> None:
    out = to_output("layout_parse", LAYOUT_JSON, W, H)
    assert out.markdown == "# Invoice 42\n\n<table><tr><td>1</td></tr></table>" and out.text == out.markdown
    assert [line.text for line in out.lines] == ["# Invoice 42", "<table><tr><td>1</td></tr></table>"]
    assert out.lines[1].box == (50, 100, 450, 500)
    assert out.lines[1].polygon == [(50, 100), (450, 100), (450, 500), (50, 500)]


def test_layout_gives_a_line_per_region_named_by_its_type() -> None:
    text = '[{"layout_type": "title", "bbox": "[[100,50],[900,50],[900,90],[100,90]]"},' \
           ' {"layout_type": "figure", "bbox": "(100,600),(500,600),(500,900),(100,900)"}]'
    out = to_output("layout", text, W, H)
    assert [(line.text, line.box) for line in out.lines] == [("title", (50, 50, 450, 90)), ("figure", (50, 600, 250, 900))]
    assert out.text == "title\nfigure" and out.markdown is None


def test_layout_parse_reads_the_hy_meta_form() -> None:
    text = (
        "# Invoice<hy-meta><layout>title</layout><poly>(100,50),(900,50),(900,90),(100,90)</poly></hy-meta>\n"
        "Total 12.00<hy-meta><layout>text</layout><quad>(100,100),(900,100),(900,140),(100,140)</quad></hy-meta>"
    )
    blocks = parse_layout(text, W, H)
    assert [(b.type, b.text) for b in blocks] == [("title", "# Invoice"), ("text", "Total 12.00")]
    assert to_output("layout_parse", text, W, H).markdown == "# Invoice\n\nTotal 12.00"


def test_layout_parse_of_plain_markdown_is_still_the_page() -> None:
    out = to_output("layout_parse", "# Title\n\nBody text", W, H)
    assert out.markdown == "# Title\n\nBody text" and out.lines == []


def test_layout_that_cannot_be_read_keeps_raw() -> None:
    out = to_output("layout", "no layout here", W, H)
    assert out.lines == [] and out.raw == "no layout here"
