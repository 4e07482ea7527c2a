"""The built-in adder zip (site/models/adder.zip) loads with gpt2cells and adds held-out sums.

The true sums are computed here with Python's `+`; the model's answer is read back by the test
(digits up to the end marker, reversed), so the oracle owes nothing to the code under test. The
thresholds are the accuracies documented in docs/adder.md, with room for a 200-problem sample.
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest

import gpt2cells

ZIP = Path(__file__).resolve().parents[2] / "site" / "models" / "adder.zip"
SAMPLE = 200
THREE_DIGIT_FLOOR = 0.95  # docs/adder.md: 2000/2000 on the full held-out 3+3 set

if not hasattr(gpt2cells, "load"):
    pytest.skip("gpt2cells.load does not exist yet", allow_module_level=True)


@pytest.fixture(scope="module")
def model():
    assert ZIP.exists(), f"{ZIP} is missing: train and pack it as docs/adder.md says"
    return gpt2cells.load(str(ZIP))


def held_out(shape):
    pytest.importorskip("torch")  # train_adder imports torch; the held-out list is its fixed set
    from train_adder import held_out_pairs  # docs/adder/train_adder.py, see conftest.py

    pairs = held_out_pairs()[shape]
    return random.Random(7).sample(pairs, min(SAMPLE, len(pairs)))


def answer_of(model, a: int, b: int) -> int | None:
    prompt = f"{a}+{b}="
    new_ids = model.generate(model.encode(prompt), 5, temperature=0.0)
    text = model.decode(new_ids)
    if "\n" not in text:
        return None
    digits = text.split("\n", 1)[0]
    return int(digits[::-1]) if digits.isdigit() else None


def accuracy(model, pairs) -> float:
    return sum(answer_of(model, a, b) == a + b for a, b in pairs) / len(pairs)


def test_zip_is_small_enough_to_ship():
    assert ZIP.stat().st_size < 2 * 1024 * 1024


def test_character_tokenizer_round_trips(model):
    text = "123+456=975\n"
    ids = model.encode(text)
    assert len(ids) == len(text)
    assert model.decode(ids) == text


def test_two_digit_held_out_sums(model):
    assert accuracy(model, held_out((2, 2))) >= 0.95


def test_three_digit_held_out_sums(model):
    assert accuracy(model, held_out((3, 3))) >= THREE_DIGIT_FLOOR


def test_mixed_length_held_out_sums(model):
    pairs = held_out((1, 3))[:50] + held_out((3, 2))[:50] + held_out((2, 1))[:50]
    assert accuracy(model, pairs) >= 0.95


def test_one_digit_sums_all(model):
    pairs = [(a, b) for a in range(10) for b in range(10)]
    assert accuracy(model, pairs) == 1.0
