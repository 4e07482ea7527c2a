"""The Analysis part of the default notebook on CPython: what each analysis cell shows equals Hugging Face's own
modules (with PyTorch hooks where an intervention is needed) or numpy written here on HF's raw weights.

The model: a tiny random GPT-2 (3 layers, 4 heads) with a trained BPE vocabulary. test_analysis_figures.py has
the tests that need no torch (the adder, the pictures), which also run inside Pyodide.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the Hugging Face oracle runs on CPython only")

import gpt2cells  # noqa: E402
from gpt2cells import analysis  # noqa: E402
from gpt2cells.notebook import Notebook  # noqa: E402
from tests import model_factory  # noqa: E402
from tests.engine.hf_zip import hf_zip  # noqa: E402

torch.set_num_threads(1)  # the machine's two cores are shared


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    tokenizer_dir = model_factory.train_bpe(tmp_path_factory.mktemp("bpe"))
    config = model_factory.gpt2_config(model_factory.vocab_size_of(tokenizer_dir), n_layer=3, n_head=4, n_embd=32)
    hf = model_factory.random_gpt2(config, seed=3, init_std=0.2)
    hf.set_attn_implementation("eager")  # the implementation that returns attention patterns
    hf.zip_path = hf_zip(hf, tokenizer_dir, tmp_path_factory.mktemp("zip") / "tiny.zip")
    return hf


@pytest.fixture(scope="module")
def model(hf):
    return gpt2cells.load(hf.zip_path)


@pytest.fixture(scope="module")
def notebook(model):
    notebook = Notebook(model)
    notebook.run("all")
    return notebook


def strict_json(value):
    """What the page receives: JSON without NaN or Infinity."""
    return json.loads(json.dumps(value, allow_nan=False))


def output(notebook, cell_id):
    state = notebook.state(notebook.cells[cell_id])
    assert state["status"] == "ok", state["error"]
    return strict_json(state["output"])


def tab(out, name):
    assert out["kind"] == "tabs"
    return next(item["output"] for item in out["items"] if item["name"] == name)


def hf_run(hf, ids, pre_hooks=(), **kwargs):
    handles = [module.register_forward_pre_hook(hook) for module, hook in pre_hooks]
    try:
        with torch.no_grad():
            return hf(torch.tensor([list(ids)]), **kwargs)
    finally:
        for handle in handles:
            handle.remove()


def capture(store, key):
    def hook(module, args):
        store[key] = args[0][0].numpy().copy()
    return hook


def raw(hf):
    return {name: t.detach().numpy() for name, t in hf.state_dict().items()}


# ---- logit lens ------------------------------------------------------------------------------------------

def test_logit_lens_cell_is_hf_hidden_states_through_ln_f_and_lm_head(notebook, model, hf):
    ids = notebook.final_namespace()["ids"]
    out = hf_run(hf, ids, output_hidden_states=True)
    with torch.no_grad():  # hidden_states[i] enters block i; the last one already went through ln_f
        logits = [hf.lm_head(hf.transformer.ln_f(h))[0] for h in out.hidden_states[:-1]] + [out.logits[0]]
    probs = torch.softmax(torch.stack(logits), dim=-1).numpy()  # [n_layer + 1, T, n_vocab]
    top = tab(output(notebook, "logit_lens"), "top token")
    assert top["kind"] == "heatmap" and (top["rows"], top["cols"]) == (4, len(ids))
    assert top["row_labels"] == ["0_pre", "1_pre", "2_pre", "final_post"]
    assert top["col_labels"] == [model.decode([i]) for i in ids]
    assert top["text"] == [[model.decode([int(i)]) for i in row] for row in probs.argmax(-1)]
    np.testing.assert_allclose(top["values"], probs.max(-1), atol=1e-5, rtol=0)
    final = tab(output(notebook, "logit_lens"), "final prediction")
    prediction = out.logits[0].numpy().argmax(-1)  # [T]
    np.testing.assert_allclose(final["values"], probs[:, np.arange(len(ids)), prediction], atol=1e-5, rtol=0)
    assert final["scale"] == {"kind": "range", "lo": 0.0, "hi": 1.0}


# ---- direct logit attribution ----------------------------------------------------------------------------

def single_tokens(model, count):
    """Texts that are one token each in the test's vocabulary, found by decoding and encoding again."""
    found = []
    for i in range(model.config.vocab_size - 1, 0, -1):
        text = model.decode([i])
        if model.encode(text) == [i]:
            found.append(text)
        if len(found) == count:
            return found
    raise AssertionError("too few single-token texts")


def test_attribution_cell_sums_to_hf_logit_difference_and_each_head_is_its_w_o_slice(model, hf):
    answer, wrong = single_tokens(model, 2)
    source = next(s.source for s in Notebook(model).specs if s.id == "logit_attribution")
    edited = source.replace("answer, wrong = None, None", f"answer, wrong = {answer!r}, {wrong!r}")
    assert edited != source
    notebook = Notebook(model, {"logit_attribution": edited})
    notebook.run("all")
    ids = notebook.final_namespace()["ids"]
    a, b = model.encode(answer)[0], model.encode(wrong)[0]

    seen = {}
    blocks = hf.transformer.h
    pre_hooks = [(block.attn.c_proj, capture(seen, f"z{i}")) for i, block in enumerate(blocks)]
    pre_hooks.append((hf.transformer.ln_f, capture(seen, "final")))
    hf_logits = hf_run(hf, ids, pre_hooks).logits[0, -1].numpy()
    w, eps = raw(hf), hf.config.layer_norm_epsilon
    final = seen["final"][-1]  # [n_embd]: the stream ln_f reads at the last position
    scale = np.sqrt(np.var(final) + eps)
    direction = w["transformer.ln_f.weight"] * (w["transformer.wte.weight"][a] - w["transformer.wte.weight"][b])
    n_head, d_head = hf.config.n_head, hf.config.n_embd // hf.config.n_head
    expected = np.zeros((len(blocks), n_head))
    for layer in range(len(blocks)):
        w_o = w[f"transformer.h.{layer}.attn.c_proj.weight"]  # [n_embd (heads side by side), n_embd] (Conv1D)
        for head in range(n_head):
            rows = slice(head * d_head, (head + 1) * d_head)
            part = seen[f"z{layer}"][-1, rows] @ w_o[rows]  # [n_embd]
            expected[layer, head] = (part - part.mean()) / scale @ direction

    heatmap = output(notebook, "logit_attribution")
    assert heatmap["kind"] == "heatmap" and heatmap["heads"] == n_head
    assert heatmap["col_labels"] == [f"head {h}" for h in range(n_head)] + ["attn bias", "MLP"]
    np.testing.assert_allclose(np.array(heatmap["values"])[:, :n_head], expected, atol=1e-5, rtol=0)
    total = notebook.final_namespace()["total"]
    assert abs(total - (hf_logits[a] - hf_logits[b])) <= 1e-4
    printed = notebook.state(notebook.cells["logit_attribution"])["stdout"]
    shown_total, shown_logit = map(float, re.search(r"= (-?[\d.]+); the logit itself: (-?[\d.]+)", printed).groups())
    assert abs(shown_total - total) <= 5e-5 and abs(shown_logit - total) <= 2e-4


def test_attribution_cell_refuses_a_word_of_several_tokens(model):
    word = next(w for w in (" Paris", " London", " quickly") if len(model.encode(w)) > 1)
    source = next(s.source for s in Notebook(model).specs if s.id == "logit_attribution")
    notebook = Notebook(model, {"logit_attribution": source.replace("answer, wrong = None, None",
                                                                    f"answer, wrong = {word!r}, None")})
    notebook.run("all")
    error = notebook.state(notebook.cells["logit_attribution"])["error"]
    assert error["type"] == "PromptError" and f"{word!r} is {len(model.encode(word))} tokens" in error["traceback"]


# ---- attention overview and head detector ----------------------------------------------------------------

def test_head_patterns_are_hf_attentions_and_head_scores_follow_the_detector_formula(notebook, model, hf):
    ids = notebook.final_namespace()["ids"]
    attentions = np.stack([a[0].numpy() for a in hf_run(hf, ids, output_attentions=True).attentions])  # [L, H, T, T]
    n_layer, n_head, n_seq = attentions.shape[:3]
    patterns = output(notebook, "attention_overview")
    assert patterns == {"kind": "head_patterns", "title": "layers top to bottom, heads left to right",
                        "n_layer": n_layer, "n_head": n_head, "n_seq": n_seq, "size": n_seq}
    window = notebook.output_slice("attention_overview", "", 0, 0, 0, n_layer * n_head * n_seq, 0, n_seq)
    shown = np.frombuffer(window, dtype="<f4").reshape(n_layer, n_head, n_seq, n_seq)
    np.testing.assert_allclose(shown, attentions, atol=1e-5, rtol=0)

    scores = output(notebook, "head_scores")
    assert [item["name"] for item in scores["items"]] == ["previous token", "duplicate token", "induction"]
    previous = np.eye(n_seq, k=-1)  # query t looks at key t − 1
    expected = (attentions * previous).sum(axis=(2, 3)) / attentions.sum(axis=(2, 3))
    heatmap = tab(scores, "previous token")
    np.testing.assert_allclose(heatmap["values"], expected, atol=1e-5, rtol=0)
    assert heatmap["heads"] == n_head


def test_a_long_prompt_reads_the_last_16_positions_and_shows_pattern_block_means(model, hf):
    prompt = "Hello, world! It's a test: numbers 12345 and 3.14159, e-mail me@example.com."  # 40-odd tokens
    notebook = Notebook(model, {"prompt": f"prompt = {prompt!r}"})
    notebook.run("all")
    ids = notebook.final_namespace()["ids"]
    n_seq = len(ids)
    assert n_seq > 32
    out = hf_run(hf, ids, output_hidden_states=True, output_attentions=True)
    with torch.no_grad():
        logits = [hf.lm_head(hf.transformer.ln_f(h))[0] for h in out.hidden_states[:-1]] + [out.logits[0]]
    probs = torch.softmax(torch.stack(logits), dim=-1).numpy()[:, -16:]  # [n_layer + 1, 16, n_vocab]
    top = tab(output(notebook, "logit_lens"), "top token")
    assert top["col_labels"] == [model.decode([i]) for i in ids[-16:]]
    np.testing.assert_allclose(top["values"], probs.max(-1), atol=1e-5, rtol=0)

    attentions = np.stack([a[0].numpy() for a in out.attentions])  # [n_layer, n_head, T, T]
    n_layer, n_head = attentions.shape[:2]
    assert output(notebook, "attention_overview")["n_seq"] == n_seq
    edges = np.linspace(0, n_seq, 33).astype(int)  # block i: rows edges[i] … edges[i + 1] − 1
    expected = np.array([[[[attentions[l, h, edges[i]:edges[i + 1], edges[j]:edges[j + 1]].mean() for j in range(32)]
                           for i in range(32)] for h in range(n_head)] for l in range(n_layer)])
    window = notebook.output_slice("attention_overview", "", 0, 0, 0, n_layer * n_head * 32, 0, 32)
    np.testing.assert_allclose(np.frombuffer(window, dtype="<f4").reshape(expected.shape), expected, atol=1e-5)


# ---- patching --------------------------------------------------------------------------------------------

def swap_rows(replacement, positions):
    def hook(module, args):
        x = args[0].clone()
        x[0, positions] = torch.from_numpy(replacement[positions])
        return (x,) + args[1:]
    return hook


def normalised(patched, clean, corrupt, answer, wrong):
    diff = [logits[answer] - logits[wrong] for logits in (patched, clean, corrupt)]
    return (diff[0] - diff[2]) / (diff[1] - diff[2])


def test_patching_cells_are_the_normalised_logit_difference_of_hf_hooked_runs(notebook, hf):
    names = notebook.final_namespace()
    clean, corrupt = list(names["clean_ids"]), list(names["corrupt_ids"])
    seen = {}
    blocks = hf.transformer.h
    out = hf_run(hf, clean, [(block.attn.c_proj, capture(seen, f"z{i}")) for i, block in enumerate(blocks)],
                 output_hidden_states=True)
    clean_last, resid_pre = out.logits[0, -1].numpy(), [h[0].numpy() for h in out.hidden_states[:-1]]
    corrupt_last = hf_run(hf, corrupt).logits[0, -1].numpy()
    # the default tokens: the clean run's prediction, and the corrupted run's (or its runner-up)
    answer = int(clean_last.argmax())
    ranked = np.argsort(-corrupt_last, kind="stable")
    wrong = int(ranked[1] if ranked[0] == answer else ranked[0])
    assert (names["answer"], names["wrong"]) == (answer, wrong)

    positions = [t for t in range(len(clean)) if clean[t] != corrupt[t]] + [len(clean) - 1]
    resid = output(notebook, "patch_resid")
    assert resid["col_labels"] == [f"{notebook.model.decode([clean[t]])} ({t})" for t in positions]
    expected = [[normalised(hf_run(hf, corrupt, [(blocks[layer], swap_rows(resid_pre[layer], [t]))]).logits[0, -1].numpy(),
                            clean_last, corrupt_last, answer, wrong) for t in positions] for layer in range(len(blocks))]
    np.testing.assert_allclose(resid["values"], expected, atol=1e-4, rtol=0)

    d_head = hf.config.n_embd // hf.config.n_head

    def head_at_last(layer, head):
        def hook(module, args):  # the head's slice of c_proj's input at the last position only
            merged = args[0].clone()
            cols = slice(head * d_head, (head + 1) * d_head)
            merged[0, -1, cols] = torch.from_numpy(seen[f"z{layer}"][-1, cols])
            return (merged,) + args[1:]
        return hf_run(hf, corrupt, [(blocks[layer].attn.c_proj, hook)]).logits[0, -1].numpy()

    heads = output(notebook, "patch_heads")
    expected = [[normalised(head_at_last(layer, head), clean_last, corrupt_last, answer, wrong)
                 for head in range(hf.config.n_head)] for layer in range(len(blocks))]
    np.testing.assert_allclose(heads["values"], expected, atol=1e-4, rtol=0)
    assert np.abs(np.array(expected)).max() > 0.01  # some head does matter at the last position


def test_prompts_of_different_lengths_are_named_and_the_patching_cells_wait(model):
    notebook = Notebook(model)
    source = notebook.cells["patching_prompts"].source
    clean = "When Mark and John went to the store, John gave a drink to"
    assert clean in source
    longer = clean + " the dog"
    notebook.run("all", sources={"patching_prompts": source.replace(f'clean_prompt = "{clean}"', f'clean_prompt = "{longer}"')})
    n_clean, n_corrupt = len(model.encode(longer)), len(model.encode(clean.replace(", John", ", Mark")))
    assert n_clean > n_corrupt
    failed = [cell_id for cell_id, cell in notebook.cells.items() if notebook.state(cell)["status"] != "ok"]
    assert failed == []
    message = output(notebook, "patching_prompts")
    n_more = n_clean - n_corrupt
    assert f"got {n_clean} and {n_corrupt}: the clean one is {n_more} token{'s' if n_more > 1 else ''} longer" in json.dumps(message)
    for cell_id in ("patch_resid", "patch_heads"):
        assert "Waiting for a clean and a corrupted prompt of the same length" in json.dumps(output(notebook, cell_id))


# ---- steering ---------------------------------------------------------------------------------------------

def test_steering_cell_shows_plain_greedy_generation_and_the_steered_one(notebook, model, hf):
    names = notebook.final_namespace()
    ids, n_new = list(names["ids"]), names["n_new"]
    greedy = []
    for _ in range(n_new):  # HF's forward pass, the most likely token each time
        greedy.append(int(hf_run(hf, ids + greedy).logits[0, -1].argmax()))
    table = output(notebook, "steering")
    assert table["rows"][0] == ["as is", model.decode(greedy)]
    steered = analysis.steer(model, ids, names["a_ids"], names["b_ids"], names["layer"], names["scale"], n_new,
                             pad_id=names["pad"])
    assert table["rows"][1] == [f"steered at layer {names['layer']}", model.decode(steered)]
