"""The adder's training script: labels, held-out problems, reproducibility, output folder.

The oracles are written here from the problem statement (the text of `a+b=` and of the reversed sum
are rebuilt in the test), not taken from train_adder.
"""
from __future__ import annotations

import json
import pickle
import random

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import train_adder  # noqa: E402 - from docs/adder/, see conftest.py

SHORT = {"steps": 30, "log_every": 5}


def full_text(a: int, b: int) -> str:
    return f"{a}+{b}=" + "".join(reversed(str(a + b))) + "\n"


def some_pairs():
    rng = random.Random(1)
    return [(0, 0), (9, 9), (99, 1), (5, 95), (999, 999), (123, 4)] + [
        (rng.randrange(1000), rng.randrange(1000)) for _ in range(50)]


def test_vocabulary_is_the_characters_the_problems_use():
    meta = train_adder.make_meta()
    assert sorted(meta["itos"].values()) == sorted("0123456789+=\n")
    assert meta["vocab_size"] == 13
    assert all(meta["stoi"][c] == i for i, c in meta["itos"].items())


@pytest.mark.parametrize("a,b", some_pairs())
def test_labels_cover_exactly_the_answer_and_end_marker(a, b):
    stoi = train_adder.make_meta()["stoi"]
    text = full_text(a, b)
    question_length = text.index("=") + 1
    inputs, labels = train_adder.example_tensors(a, b, stoi)
    assert len(inputs) == len(labels) == train_adder.BLOCK_SIZE
    assert inputs[: len(text) - 1] == [stoi[c] for c in text[:-1]]
    for position, label in enumerate(labels):
        predicted = position + 1  # position t is trained to predict character t+1
        if question_length <= predicted < len(text):
            assert label == stoi[text[predicted]], (text, position)
        else:
            assert label == -100, (text, position)  # question characters and padding: no loss


def test_question_positions_get_no_gradient():
    """Behavioural check of the masking: the loss does not depend on the logits at question positions."""
    meta = train_adder.make_meta()
    torch.manual_seed(0)
    config = train_adder.make_config(meta["vocab_size"], meta["stoi"]["\n"], {"n_layer": 1, "n_head": 2, "n_embd": 16})
    model = train_adder.make_model(config)
    captured = {}

    def keep_logits(module, args, output):
        output.retain_grad()
        captured["logits"] = output

    model.lm_head.register_forward_hook(keep_logits)
    pairs = [(12, 35), (7, 993), (450, 61)]
    inputs, labels = zip(*(train_adder.example_tensors(a, b, meta["stoi"]) for a, b in pairs))
    train_adder.masked_loss(model, torch.tensor(inputs), torch.tensor(labels)).backward()
    per_position = captured["logits"].grad.abs().sum(-1)  # [batch, BLOCK_SIZE]
    for row, (a, b) in enumerate(pairs):
        text = full_text(a, b)
        trained = set(range(text.index("="), len(text) - 1))  # positions whose next character is the answer
        for position in range(train_adder.BLOCK_SIZE):
            if position in trained:
                assert per_position[row, position] > 0, (text, position)
            else:
                assert per_position[row, position] == 0, (text, position)


def test_held_out_pairs_are_never_drawn_for_training():
    held = train_adder.held_out_pairs()
    assert held == train_adder.held_out_pairs()  # fixed, whatever the training seed
    assert len(held[(2, 2)]) == 810 and len(held[(3, 3)]) == 2000
    for (da, db), pairs in held.items():
        assert all((len(str(a)), len(str(b))) == (da, db) for a, b in pairs)
    excluded = frozenset(p for pairs in held.values() for p in pairs)
    meta = train_adder.make_meta()
    rng = random.Random(0)
    shapes = set()
    for _ in range(40):
        inputs, labels = train_adder.make_batch(rng, excluded, meta["stoi"], 256)
        for row_inputs, row_labels in zip(inputs.tolist(), labels.tolist()):
            text = "".join(meta["itos"][i] for i in row_inputs)
            question = text[: text.index("=")]
            a, b = (int(x) for x in question.split("+"))
            assert (a, b) not in excluded
            answer = "".join(meta["itos"][i] for i in row_labels if i != -100)
            assert answer == full_text(a, b)[len(question) + 1:]
            shapes.add((len(str(a)), len(str(b))))
    assert shapes == {(da, db) for da in (1, 2, 3) for db in (1, 2, 3)}  # every operand-length mix is trained


def test_same_seed_reproduces_the_loss_curve():
    _, _, first = train_adder.train(seed=0, **SHORT)
    _, _, second = train_adder.train(seed=0, **SHORT)
    _, _, other = train_adder.train(seed=1, **SHORT)
    curve = [e["loss"] for e in first["loss"]]
    assert [e["step"] for e in first["loss"]] == [5, 10, 15, 20, 25, 30]
    assert curve == pytest.approx([e["loss"] for e in second["loss"]], rel=1e-5, abs=1e-6)
    assert curve != pytest.approx([e["loss"] for e in other["loss"]], rel=1e-3)
    assert curve[-1] < curve[0]  # it is learning


def test_command_line_writes_a_folder_the_packer_and_hugging_face_read(tmp_path):
    from transformers import GPT2LMHeadModel

    out = tmp_path / "adder"
    assert train_adder.main(["--out", str(out), "--steps", "20", "--seed", "3"]) == 0
    meta = pickle.loads((out / "meta.pkl").read_bytes())
    assert set(meta) == {"vocab_size", "stoi", "itos"}
    assert meta == train_adder.make_meta()
    model = GPT2LMHeadModel.from_pretrained(out)
    config = model.config
    assert (config.vocab_size, config.n_positions, config.activation_function) == (13, 16, "gelu_new")
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()  # tied head
    assert (out / "model.safetensors").exists()
    log = json.loads((out / "train_log.json").read_text())
    assert log["seed"] == 3 and log["steps"] == 20 and log["loss"][-1]["step"] == 20
    accuracy = json.loads((out / "accuracy.json").read_text())
    assert accuracy["held_out"]["2+2"]["total"] == 810
    assert 0.0 <= accuracy["held_out"]["2+2"]["accuracy"] <= 1.0
