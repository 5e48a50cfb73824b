"""The official repetition defences: the tail-repetition early stop (its schedule and detector) and the clean-up.

Thresholds from Tencent-Hunyuan/HunyuanOCR inference/utils/output_utils.py (1.5): checks start at
4,000 decoded characters, then every 1,000; the detector looks at the last 8,000 characters for a
unit of 1..256 characters repeated 8 times; the final clean-up trims a suffix repeated 10 times in
texts of at least 2,000 characters (8,000 in 1.0's utils.py).
"""

from __future__ import annotations

import torch

from models.generation import (
    CHECK_START_CHARS,
    CHECK_STEP_CHARS,
    CLEANUP_MIN_LENGTH,
    TOKEN_PROBE_STEP,
    TailRepetitionStop,
    TailStop,
    clean_repeated_substrings,
    has_tail_repetition,
)

ROW = "<tr><td></td><td></td><td></td></tr>\n"  # a table row that legitimately repeats (empty cells)


def test_official_thresholds() -> None:
    assert (CHECK_START_CHARS, CHECK_STEP_CHARS, TOKEN_PROBE_STEP) == (4000, 1000, 64)
    assert CLEANUP_MIN_LENGTH == {"1.0": 8000, "1.5": 2000}


def test_has_tail_repetition() -> None:
    assert has_tail_repetition("header\n" + "<td></td>" * 8)
    assert not has_tail_repetition("header\n" + "<td></td>" * 7)
    assert not has_tail_repetition("a normal receipt line\nTOTAL 12.00")
    assert not has_tail_repetition("text" + "\n" * 50)  # blank runs are layout
    assert not has_tail_repetition("")
    assert has_tail_repetition("x" + "u" * 255 + "v" + ("u" * 255 + "v") * 7)  # a 256-char unit, the largest
    assert not has_tail_repetition("x" + "u" * 256 + "v" + ("u" * 256 + "v") * 7)  # 257 chars: too long a unit


def test_clean_keeps_one_copy_of_a_long_repeated_suffix() -> None:
    body = "x" * 2500
    assert clean_repeated_substrings(body + "abc," * 20) == body + "abc,"


def test_clean_leaves_short_or_non_repeating_text_alone() -> None:
    short = "----------" * 20
    assert clean_repeated_substrings(short) == short
    text = "".join(f"line {i}\n" for i in range(500))
    assert clean_repeated_substrings(text) == text


def test_clean_floor_per_version() -> None:
    looping = "x" * 1000 + "abc," * 1000  # 5,000 characters
    assert clean_repeated_substrings(looping, min_length=CLEANUP_MIN_LENGTH["1.5"]) == "x" * 1000 + "abc,"
    assert clean_repeated_substrings(looping, min_length=CLEANUP_MIN_LENGTH["1.0"]) == looping


def test_a_table_with_repeating_rows_below_4000_chars_is_not_cut() -> None:
    stop = TailStop()
    table = "<table>\n" + ROW * 100  # 3,708 characters ending in 100 identical rows
    assert len(table) < 4000 and has_tail_repetition(table)  # the detector alone would call it a loop
    for n in range(1, len(table) + 1):  # the decode loop may ask after every character
        assert not stop.should_stop(table[:n])
    assert stop.last_checked_at is None  # never checked at all
    page = table + "</table>\n" + "".join(f"note {i}: see page {i + 1}\n" for i in range(15))
    assert len(page) >= 4000 and not stop.should_stop(page)  # the first check sees the table ended: no loop
    assert stop.last_checked_at == len(page)


def test_a_loop_is_cut_at_the_first_check_after_4000_chars() -> None:
    stop = TailStop()
    loop = "Heading\n" + "the same words again " * 400  # ~8,400 characters of a 21-character unit
    first_true = None
    for n in range(0, len(loop), 7):  # tokens of ~7 characters
        if stop.should_stop(loop[:n]):
            first_true = n
            break
    assert first_true is not None and 4000 <= first_true < 4007
    assert stop.last_checked_at == first_true
    assert stop.should_stop("anything")  # sticky


def test_checks_run_every_1000_chars_after_the_first() -> None:
    stop = TailStop()
    text = "".join(f"line {i}: {i * i}\n" for i in range(2000))  # varied, never a loop
    assert not stop.should_stop(text[:3999]) and stop.last_checked_at is None
    assert not stop.should_stop(text[:4010]) and stop.last_checked_at == 4010
    assert not stop.should_stop(text[:5009]) and stop.last_checked_at == 4010  # next check at 5,010
    assert not stop.should_stop(text[:5010]) and stop.last_checked_at == 5010
    # A loop that starts after a check is caught at the next one, not before.
    looping = text[:5010] + "spam " * 400
    assert not stop.should_stop(looping[:6009])
    assert stop.should_stop(looping[:6010])


def test_stop_criterion_decodes_each_row_on_the_official_schedule() -> None:
    vocab = {1: "<td></td>", 2: "alpha ", 3: "beta ", 4: "gamma\n"}

    def decode(ids: list[int]) -> str:
        return "".join(vocab.get(i, "?") for i in ids)

    prompt = [9] * 50  # prompt tokens ("?" repeated) never count
    crit = TailRepetitionStop(prompt_len=50, decode=decode)
    loop_row = [1] * 500  # 9 characters a token: 4,000 characters after 445 tokens
    varied_row = ([2, 3, 4] * 200)[:500]
    assert varied_row != loop_row
    at_384 = torch.tensor([prompt + loop_row[:384], prompt + varied_row[:384]])
    assert crit(at_384, None).tolist() == [False, False]  # 3,456 characters: not checked yet
    at_440 = torch.tensor([prompt + loop_row[:440], prompt + varied_row[:440]])
    assert crit(at_440, None).tolist() == [False, False]  # not a probe step (last probe at 384)
    at_448 = torch.tensor([prompt + loop_row[:448], prompt + varied_row[:448]])
    assert crit(at_448, None).tolist() == [True, False]  # 4,032 characters of a loop: cut
    assert crit.stopped is not None and crit.stopped.tolist() == [True, False]


def test_stop_criterion_without_a_decoder_counts_tokens_as_characters() -> None:
    prompt = [1] * 300  # a prompt that itself "repeats" (image placeholder tokens)
    crit = TailRepetitionStop(300)  # the pre-version call: TailRepetitionStop(prompt_len)
    looping = [4, 2] * 2100
    varied = list(range(4200))
    batch = torch.tensor([prompt + looping[:3968], prompt + varied[:3968]])
    assert crit(batch, None).tolist() == [False, False]  # 3,968 "characters": too early
    batch = torch.tensor([prompt + looping[:4032], prompt + varied[:4032]])
    assert crit(batch, None).tolist() == [True, False]
    later = torch.tensor([prompt + looping[:4033], prompt + varied[:4033]])
    assert crit(later, None).tolist() == [True, False]  # sticky between probes


def test_stop_criterion_in_a_real_generate_loop() -> None:
    from transformers import StoppingCriteriaList

    crit = StoppingCriteriaList([TailRepetitionStop(prompt_len=2, decode=lambda ids: "".join(f"w{i % 3} " for i in ids))])
    ids = torch.tensor([[0, 0]])
    steps = 0
    while not bool(crit(ids, torch.zeros(1, 10)).all()) and steps < 3000:
        ids = torch.cat([ids, torch.tensor([[7 + steps % 3]])], dim=1)
        steps += 1
    # 3 characters a token: 4,000 characters after 1,334 tokens, and the next probe is at 1,344.
    assert steps == 1344
