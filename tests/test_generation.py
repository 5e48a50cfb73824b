"""Tail-repetition stop and repeated-substring clean-up."""

from __future__ import annotations

import torch

from models.generation import (
    TailRepetitionStop,
    clean_repeated_substrings,
    has_tail_repetition,
    tail_repeats,
)


def test_has_tail_repetition() -> None:
    assert has_tail_repetition("header\n" + "<td></td>" * 8)
    assert not has_tail_repetition("header\n" + "<td></td>" * 7)
    assert not has_tail_repetition("a normal receipt line\nTOTAL 12.00")
    assert not has_tail_repetition("text" + "\n" * 50)  # blank runs are layout
    assert not has_tail_repetition("")


def test_clean_keeps_one_copy_of_a_long_repeated_suffix() -> None:
    body = "x" * 2500
    assert clean_repeated_substrings(body + "abc," * 20) == body + "abc,"


def test_clean_leaves_short_or_non_repeating_text_alone() -> None:
    short = "----------" * 20
    assert clean_repeated_substrings(short) == short
    text = "".join(f"line {i}\n" for i in range(500))
    assert clean_repeated_substrings(text) == text


def test_tail_repeats_per_row() -> None:
    loop = [5, 6, 7] * 50
    normal = list(range(150))
    ids = torch.tensor([loop, normal])
    assert tail_repeats(ids, max_ngram=8, min_repeats=8, min_span=128).tolist() == [True, False]


def test_short_units_must_repeat_longer() -> None:
    # A run of 20 identical tokens (a dotted leader) is not a loop; 140 of them is.
    ids = torch.tensor([list(range(100)) + [9] * 20, list(range(100, 120)) + [9] * 100])
    ids2 = torch.tensor([list(range(100)) + [9] * 140])
    assert tail_repeats(ids, 8, 8, 128).tolist() == [False, False]
    assert tail_repeats(ids2, 8, 8, 128).tolist() == [True]


def test_stop_criterion_only_looks_at_generated_tokens() -> None:
    prompt = [1] * 300  # a prompt that itself "repeats" (image placeholder tokens)
    crit = TailRepetitionStop(prompt_len=300, every=1)
    fresh = torch.tensor([prompt + list(range(130))])
    assert crit(fresh, None).tolist() == [False]
    looping = torch.tensor([prompt + [4, 2] * 70, prompt + list(range(140))])
    crit2 = TailRepetitionStop(prompt_len=300, every=1)
    assert crit2(looping, None).tolist() == [True, False]
    assert crit2.stopped is not None and crit2.stopped.tolist() == [True, False]


def test_stop_criterion_is_sticky_and_checks_every_n_steps() -> None:
    crit = TailRepetitionStop(prompt_len=0, every=8, min_span=16, min_repeats=4)
    looping = torch.tensor([[3] * 16])
    assert crit(looping, None).tolist() == [True]
    later = torch.tensor([[3] * 16 + [1]])  # not a check step, row stays stopped
    assert crit(later, None).tolist() == [True]


def test_stop_criterion_in_a_real_generate_loop() -> None:
    from transformers import StoppingCriteriaList

    crit = StoppingCriteriaList([TailRepetitionStop(prompt_len=2, every=4, min_span=32)])
    ids = torch.tensor([[0, 0]])
    steps = 0
    while not bool(crit(ids, torch.zeros(1, 10)).all()) and steps < 500:
        ids = torch.cat([ids, torch.tensor([[7 + steps % 3]])], dim=1)
        steps += 1
    assert steps < 100  # stopped soon after the loop filled min_span tokens
