"""Edit impact (issue #16) on CPython: each traced cell is marked equal to the engine until an edit, then
shows how far it moved; the prediction before → after; the engine's value and the difference as grids.

Oracle: GPT-2's forward pass written here in NumPy from the model's weights (with a switch for each edit the
tests make), not gpt2cells.steps.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

import gpt2cells
from gpt2cells.notebook import Notebook

BLOCK = ["ln_1", "qkv", "heads", "scores", "mask", "softmax", "weighted_values", "merge_project", "residual_1",
         "ln_2", "mlp_up", "gelu", "mlp_down", "residual_2"]
BEFORE_BLOCK = ["token_embeddings", "position_embeddings", "embedding_sum"]
AFTER_BLOCK = ["final_ln", "logits"]
GELU_DEFAULT = "activated = gelu(hidden)                             # [T, 4·n_embd]\nactivated"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    # inside Pyodide (tests/notebook/test_notebook_in_pyodide.py) the host packs the zip and names it here
    packed = os.environ.get("GPT2CELLS_SESSION_ZIP")
    if packed:
        return gpt2cells.load(Path(packed))
    from tests.notebook_session.test_default_notebook_session import pack_session_model
    return gpt2cells.load(pack_session_model(tmp_path_factory.mktemp("reference-model")))


# ---- the oracle --------------------------------------------------------------------------------------------

def ln(x, g, b, eps):
    x = x.astype(np.float64)
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * g + b


def native_probs(model, ids, relu=False, set_hidden=None, ablate=None):
    """Next-token probabilities in float64 NumPy. set_hidden=(layer, row, col, value) sets one activated unit;
    ablate=(layer, head) zeroes that head's weighted values."""
    p, c = {k: v.astype(np.float64) for k, v in model.params.items()}, model.config
    eps, n_head = c.layer_norm_epsilon, c.n_head
    T = len(ids)
    x = p["wte.weight"][ids] + p["wpe.weight"][:T]
    for i in range(c.n_layer):
        h = f"h.{i}."
        a = ln(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"], eps) @ p[h + "attn.c_attn.weight"].T + p[h + "attn.c_attn.bias"]
        q, k, v = (t.reshape(T, n_head, -1).transpose(1, 0, 2) for t in np.split(a, 3, axis=-1))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
        s = np.where(np.triu(np.ones((T, T), bool), 1), -np.inf, s)
        w = np.exp(s - s.max(-1, keepdims=True))
        z = (w / w.sum(-1, keepdims=True)) @ v
        if ablate and ablate[0] == i:
            z[ablate[1]] = 0
        x = x + z.transpose(1, 0, 2).reshape(T, -1) @ p[h + "attn.c_proj.weight"].T + p[h + "attn.c_proj.bias"]
        u = ln(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"], eps) @ p[h + "mlp.c_fc.weight"].T + p[h + "mlp.c_fc.bias"]
        u = np.maximum(u, 0) if relu else 0.5 * u * (1 + np.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u ** 3)))
        if set_hidden and set_hidden[0] == i:
            u[set_hidden[1], set_hidden[2]] = set_hidden[3]
        x = x + u @ p[h + "mlp.c_proj.weight"].T + p[h + "mlp.c_proj.bias"]
    logits = ln(x, p["ln_f.weight"], p["ln_f.bias"], eps)[-1] @ p["wte.weight"].T
    e = np.exp(logits - logits.max())
    return e / e.sum()


# ---- helpers -----------------------------------------------------------------------------------------------

def marks(notebook, layer):
    """cell id -> its mark at `layer` (block cells) or its only mark."""
    result = {}
    for state in notebook.states():
        if state["delta"] is not None:
            passes = state["delta"]["passes"]
            result[state["id"]] = passes[min(layer, len(passes) - 1)]["mark"]
    return result


def with_line(source, line):
    """A line put before the cell's last line, as the page's table edit and head ablation do."""
    lines = source.split("\n")
    return "\n".join(lines[:-1] + [line, lines[-1]])


def check_change(change, before, after):
    old_top = int(np.argmax(before))
    assert change["old_top"]["id"] == old_top
    assert change["old_top"]["before"] == pytest.approx(before[old_top], rel=1e-4, abs=1e-7)
    assert change["old_top"]["after"] == pytest.approx(after[old_top], rel=1e-4, abs=1e-7)
    assert change["old_top"]["rank_after"] == 1 + int(np.sum(after > after[old_top] * (1 + 1e-5)))
    assert [t["id"] for t in change["top"]][0] == int(np.argmax(after))
    for token in change["top"]:
        assert token["before"] == pytest.approx(before[token["id"]], rel=1e-4, abs=1e-7)
        assert token["after"] == pytest.approx(after[token["id"]], rel=1e-4, abs=1e-7)


# ---- tests -------------------------------------------------------------------------------------------------

def test_unedited_run_marks_every_traced_cell_equal_to_the_engine(model):
    notebook = Notebook(model)
    notebook.run("all")
    n_layer = model.config.n_layer
    for layer in range(n_layer):
        got = marks(notebook, layer)
        assert set(got) == set(BEFORE_BLOCK + BLOCK + AFTER_BLOCK)
        assert set(got.values()) == {"engine"}, got
    for cell_id in BLOCK:
        assert len(notebook.state(notebook.cells[cell_id])["delta"]["passes"]) == n_layer
    change = notebook.prediction_change()
    assert change["changed"] is False and change["old_top"]["rank_after"] == 1
    ids = notebook.final_namespace()["ids"]
    probs = native_probs(model, ids)
    check_change(change, probs, probs)


@pytest.mark.parametrize("keep_bytes", [None, 0], ids=["every layer kept", "one layer at a time"])
def test_gelu_to_relu_moves_gelu_and_every_later_cell_none_earlier(model, keep_bytes, monkeypatch):
    if keep_bytes is not None:  # as a long prompt's reference does: its layers do not fit in KEEP_BYTES
        monkeypatch.setattr("gpt2cells.notebook.reference.KEEP_BYTES", keep_bytes)
    notebook = Notebook(model)
    notebook.run("all")
    notebook.run("cell", "gelu", {"gelu": "activated = np.maximum(hidden, 0)\nactivated"})
    layer0 = marks(notebook, 0)
    at_gelu = BLOCK.index("gelu")
    for cell_id in BEFORE_BLOCK + BLOCK[:at_gelu]:
        assert layer0[cell_id] == "engine", cell_id
    for cell_id in BLOCK[at_gelu:] + AFTER_BLOCK:
        assert layer0[cell_id] == "differs", cell_id
    layer1 = marks(notebook, 1)
    assert {layer1[c] for c in BLOCK} == {"differs"}  # layer 1 reads what layer 0's GELU changed
    gelu = notebook.state(notebook.cells["gelu"])["delta"]["passes"][0]
    hidden = notebook.session.value_at("mlp_up", 0).astype(np.float64)
    relu_minus_gelu = np.abs(np.maximum(hidden, 0) - 0.5 * hidden * (1 + np.tanh(math.sqrt(2 / math.pi) * (hidden + 0.044715 * hidden ** 3))))
    assert gelu["max_abs"] == pytest.approx(relu_minus_gelu.max(), rel=1e-4)
    ids = notebook.final_namespace()["ids"]
    check_change(notebook.prediction_change(), native_probs(model, ids), native_probs(model, ids, relu=True))
    assert bool(notebook.reference.kept) == (keep_bytes is None)
    logits, unedited = notebook.cell_value("logits"), model.logits(ids)  # [T, n_vocab] each
    got = notebook.state(notebook.cells["logits"])["delta"]["passes"][0]
    assert got["max_abs"] == pytest.approx(float(np.abs(logits - unedited).max()), rel=1e-6)
    window = np.frombuffer(notebook.compare_slice("reference", "logits", "", 0, 0, 1, 3, 5, 9), dtype="<f4")
    np.testing.assert_allclose(window.reshape(2, 4), unedited[1:3, 5:9], rtol=1e-6, atol=1e-6)


def test_at_a_long_prompt_an_edited_logits_cells_delta_comes_with_the_check_after_the_run(model, monkeypatch):
    """The engine's [T × n_vocab] logits are a second unembedding: the page shows the run first, then the Δ."""
    monkeypatch.setattr("gpt2cells.notebook.reference.KEEP_BYTES", 0)  # as at 1024 tokens
    notebook = Notebook(model)
    notebook.check_later = True
    notebook.run("all")
    while not notebook.check(1.0)["done"]:
        pass
    n_seq, n_embd = len(notebook.final_namespace()["ids"]), model.config.n_embd
    assert model.config.vocab_size > n_embd
    monkeypatch.setattr("gpt2cells.notebook.notebook.CHUNK", n_seq * n_embd)  # the logits are more, final_ln not
    notebook.run("cell", "gelu", {"gelu": "activated = np.maximum(hidden, 0)\nactivated"})
    assert marks(notebook, 0)["logits"] == "checking" and marks(notebook, 0)["final_ln"] == "differs"
    assert list(notebook.unchecked) == [("logits", 0)] and notebook.prediction_change() is None
    result = notebook.check(0.0)
    assert result["done"] and [state["id"] for state in result["states"]] == ["logits"]
    ids = notebook.final_namespace()["ids"]
    logits, unedited = notebook.cell_value("logits"), model.logits(ids)  # [T, n_vocab] each
    got = notebook.state(notebook.cells["logits"])["delta"]["passes"][0]
    assert got["mark"] == "differs" and got["max_abs"] == pytest.approx(float(np.abs(logits - unedited).max()), rel=1e-6)
    check_change(result["prediction_change"], native_probs(model, ids), native_probs(model, ids, relu=True))


def test_a_set_value_moves_what_follows_and_removing_it_restores_the_engine_marks(model):
    notebook = Notebook(model)
    notebook.run("all")
    edited = with_line(GELU_DEFAULT, "if layer == 1: activated[2, 5] = 0.5  # set in the table")
    notebook.run("cell", "gelu", {"gelu": edited})
    layer0 = marks(notebook, 0)
    assert {layer0[c] for c in BEFORE_BLOCK + BLOCK[:BLOCK.index("gelu")]} == {"engine"}
    assert {layer0[c] for c in BLOCK[BLOCK.index("gelu"):]} == {"unchanged"}  # the edited cell and after: equal at layer 0
    assert marks(notebook, 1)["gelu"] == "differs" and marks(notebook, 1)["ln_1"] == "unchanged"  # after the edited cell ran
    assert marks(notebook, 2)["ln_1"] == "differs" and marks(notebook, 2)["logits"] == "differs"
    ids = notebook.final_namespace()["ids"]
    before = native_probs(model, ids)
    check_change(notebook.prediction_change(), before,
                 native_probs(model, ids, set_hidden=(1, 2, 5, 0.5)))
    notebook.run("cell", "gelu", {"gelu": notebook.cells["gelu"].spec.source})
    for layer in range(model.config.n_layer):
        assert set(marks(notebook, layer).values()) == {"engine"}


def test_head_ablation_equals_a_native_run_with_that_head_zeroed(model):
    notebook = Notebook(model)
    notebook.run("all")
    source = notebook.cells["weighted_values"].spec.source
    notebook.run("cell", "weighted_values", {"weighted_values": with_line(source, "if layer == 1: z[2] = 0  # ablate head 2 of layer 1")})
    assert marks(notebook, 1)["weighted_values"] == "differs" and marks(notebook, 1)["softmax"] == "unchanged"
    assert marks(notebook, 0)["softmax"] == "engine" and marks(notebook, 0)["weighted_values"] == "unchanged"
    ids = notebook.final_namespace()["ids"]
    check_change(notebook.prediction_change(), native_probs(model, ids), native_probs(model, ids, ablate=(1, 2)))


def test_shape_changes_and_non_finite_values_are_named(model):
    notebook = Notebook(model)
    notebook.run("all")
    n_embd = model.config.n_embd
    notebook.run("cell", "final_ln", {"final_ln": "x_final = layer_norm(x, params['ln_f.weight'], params['ln_f.bias'], eps)[:, :20]\nx_final"})
    final = notebook.state(notebook.cells["final_ln"])["delta"]["passes"][0]
    T = len(notebook.final_namespace()["ids"])
    assert final["mark"] == "shape" and final["shape"] == [[T, n_embd], [T, 20]]
    notebook.run("cell", "gelu", {"gelu": with_line(GELU_DEFAULT, "if layer == 2: activated[0, :3] = [np.nan, np.inf, -np.inf]")})
    gelu = notebook.state(notebook.cells["gelu"])["delta"]["passes"]
    assert gelu[1]["mark"] == "unchanged" and gelu[2]["mark"] == "differs"
    assert (gelu[2]["nan"], gelu[2]["inf"]) == (1, 2)


def test_reference_and_difference_windows(model):
    notebook = Notebook(model)
    notebook.run("all")
    notebook.run("cell", "gelu", {"gelu": "activated = np.maximum(hidden, 0)\nactivated"})
    T, width = notebook.final_namespace()["T"], 4 * model.config.n_embd

    def window(kind, cell_id, layer=0, head=0, tab="", rows=T, cols=width):
        data = notebook.compare_slice(kind, cell_id, tab, layer, head, 0, rows, 0, cols)
        return np.frombuffer(data, dtype="<f4").reshape(rows, cols)

    hidden = notebook.session.value_at("mlp_up", 0).astype(np.float64)  # layer 0's input is the engine's
    tanh_gelu = 0.5 * hidden * (1 + np.tanh(math.sqrt(2 / math.pi) * (hidden + 0.044715 * hidden ** 3)))
    np.testing.assert_allclose(window("reference", "gelu", 0), tanh_gelu, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(window("difference", "gelu", 0), np.maximum(hidden, 0) - tanh_gelu, rtol=1e-4, atol=1e-5)
    n_embd = model.config.n_embd
    assert np.any(window("difference", "ln_1", 1, cols=n_embd) != 0) and np.all(window("difference", "ln_1", 0, cols=n_embd) == 0)
    # masked scores: −inf in both is no difference; q, k, v tabs take their third of the engine's qkv
    n_head = model.config.n_head
    assert np.all(window("difference", "mask", 0, head=n_head - 1, cols=T) == 0)
    assert np.all(window("difference", "qkv", 0, tab="k", cols=model.config.n_embd) == 0)
    with pytest.raises(KeyError):
        notebook.compare_slice("reference", "probabilities", "", 0, 0, 0, 1, 0, 1)


def test_the_reference_keeps_the_residual_stream_not_every_layers_trace(model):
    notebook = Notebook(model)
    notebook.run("all")
    reference, n_layer = notebook.reference, model.config.n_layer
    T, n_embd = len(notebook.final_namespace()["ids"]), model.config.n_embd
    assert [r.shape for r in reference.resid] == [(T, n_embd)] * (n_layer + 1)
    assert reference.shown is None  # the last layer compared is let go after the run
    ids = notebook.final_namespace()["ids"]
    trace = model.run(ids)
    for i in range(n_layer):  # the stored residual stream is the engine's
        np.testing.assert_array_equal(reference.resid[i], trace[f"blocks.{i}.resid_pre"])
    # a prompt change makes a new reference; a rerun of a later cell keeps it
    notebook.run("cell", "gelu", {"gelu": "activated = np.maximum(hidden, 0)\nactivated"})
    assert notebook.reference is reference
    notebook.run("cell", "prompt", {"prompt": 'prompt = "Hello, world"'})
    assert notebook.reference is not reference and list(notebook.reference.ids) == model.encode("Hello, world")


@pytest.mark.parametrize("keep_bytes", [None, 0])
def test_a_run_that_edits_nothing_is_checked_afterwards_in_slices(model, keep_bytes, monkeypatch):
    if keep_bytes is not None:  # as at 1024 tokens: no layer kept, attention checked a head at a time
        monkeypatch.setattr("gpt2cells.notebook.reference.KEEP_BYTES", keep_bytes)
    notebook = Notebook(model)
    notebook.check_later = True  # as the page's notebook is
    notebook.run("to", "probabilities")
    assert set(marks(notebook, 0).values()) == {"checking"}
    assert notebook.prediction_change() is None  # shown once the values are checked
    slices = []
    while True:
        result = notebook.check(0.0)  # the least a slice does: one cell
        slices.append(result)
        if result["done"]:
            break
    assert len(slices) > 1 and all(r["states"] for r in slices)
    for layer in range(model.config.n_layer):
        assert set(marks(notebook, layer).values()) == {"engine"}
    # the residual stream the cells hold and the engine's are equal: kept once, not twice
    (block,) = [unit for unit in notebook.session.units if unit.group is not None]
    for layer in range(1, model.config.n_layer):
        assert np.shares_memory(notebook.reference.resid[layer], block.pass_inputs[layer]["x"])
    probs = native_probs(model, notebook.final_namespace()["ids"])
    check_change(slices[-1]["prediction_change"], probs, probs)
    # an edit on the same prompt compares at once: the engine's values are known now
    notebook.run("cell", "gelu", {"gelu": "activated = np.maximum(hidden, 0)\nactivated"})
    assert not notebook.unchecked and marks(notebook, 0)["gelu"] == "differs"
    check_change(notebook.prediction_change(), probs, native_probs(model, notebook.final_namespace()["ids"], relu=True))


def test_the_check_after_a_run_says_loudly_when_a_cell_and_the_engine_disagree(model, monkeypatch):
    from gpt2cells import steps

    notebook = Notebook(model)
    notebook.check_later = True
    notebook.run("to", "probabilities")  # the cells imported steps.gelu before the engine's is swapped below
    monkeypatch.setattr(steps, "gelu", lambda x: np.maximum(x, 0))  # the engine's MLP now differs from the cells'
    while not notebook.check(10.0)["done"]:
        pass
    got = marks(notebook, 0)
    assert got["mlp_up"] == "engine" and got["gelu"] == "differs"
    gelu = notebook.state(notebook.cells["gelu"])["delta"]["passes"][0]
    assert gelu["pristine"] is True and gelu["max_abs"] > 0  # a pristine cell that differs: the page shows a bug


def test_fingerprints_tell_equal_arrays_from_different_ones():
    from gpt2cells.notebook.reference import SMALL, fingerprint

    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 100, 300)).astype(np.float32)  # more than SMALL values: projected, not kept
    assert a.size > SMALL
    assert fingerprint(a) == fingerprint(a.copy())
    assert fingerprint(a.transpose(1, 0, 2)) == fingerprint(np.ascontiguousarray(a.transpose(1, 0, 2)))  # views too
    for where in [(0, 0, 0), (2, 99, 299), (1, 17, 128)]:  # first, last, a segment's first value
        b = a.copy()
        b[where] *= 1 + 1e-5
        assert fingerprint(b) != fingerprint(a), where
    swapped = a.copy()
    swapped[0, 0, [3, 4]] = swapped[0, 0, [4, 3]]
    assert fingerprint(swapped) != fingerprint(a)
    n = 300
    scores = rng.standard_normal((n, n)).astype(np.float32)  # [n, n]
    masked = np.where(np.triu(np.ones((n, n), bool), 1), -np.inf, scores)  # [n, n], −inf above the diagonal
    assert masked.size > SMALL
    other = masked.copy()
    other[5, 5] += 1  # a finite value beside the −infs
    assert fingerprint(masked) == fingerprint(masked.copy()) and fingerprint(other) != fingerprint(masked)
    flipped = masked.copy()
    flipped[0, n - 1] = np.inf  # +inf where −inf was
    assert fingerprint(flipped) != fingerprint(masked)
    # beside inf or nan every bit counts: each of 32 flipped in a finite value, a nan's sign, two values swapped
    # (neighbours in one segment of the print and far apart)
    nan = masked.copy()
    nan[7, 8] = np.nan
    assert fingerprint(nan) == fingerprint(nan.copy()) and fingerprint(nan) != fingerprint(masked)
    for row, col in [(3, 1), (n - 1, n - 1), (150, 75)]:
        for bit in range(32):
            changed = masked.copy()
            changed.view(np.uint32)[row, col] ^= np.uint32(1 << bit)
            assert fingerprint(changed) != fingerprint(masked), (row, col, bit)
    negative_nan = nan.copy()
    negative_nan.view(np.uint32)[7, 8] ^= np.uint32(1 << 31)
    assert fingerprint(negative_nan) != fingerprint(nan)
    for (r1, c1), (r2, c2) in [((9, 2), (9, 3)), ((10, 0), (200, 150))]:
        swapped = masked.copy()
        swapped[r1, c1], swapped[r2, c2] = masked[r2, c2], masked[r1, c1]
        assert masked[r1, c1] != masked[r2, c2] and fingerprint(swapped) != fingerprint(masked)
    small = a[0, :2]  # [2, 300]: few enough values to be kept as they are
    assert fingerprint(small) == fingerprint(small.copy()) and fingerprint(small * (1 + 1e-7)) != fingerprint(small)


def test_a_value_set_in_the_heads_table_leaves_the_qkv_cell_as_it_was(model):
    """q_heads is q split into heads; setting one of its values must not reach into the Q, K, V cell's table."""
    last = model.config.n_layer - 1
    notebook = Notebook(model)
    notebook.run("all")
    heads = notebook.cells["heads"].spec.source
    notebook.run("cell", "heads", {"heads": with_line(heads, f"if layer == {last}: q_heads[1, 2, 3] = 0.5  # set in the table")})
    ids = notebook.final_namespace()["ids"]
    engine_qkv = model.run(ids)[f"blocks.{last}.attn.qkv"]  # [T, 3 · n_embd]
    q, k, v = notebook.cell_value("qkv", last)
    np.testing.assert_array_equal(np.concatenate([q, k, v], axis=-1), engine_qkv)
    assert notebook.cell_value("heads", last)[0][1, 2, 3] == np.float32(0.5)


def test_at_a_long_prompt_another_layers_delta_is_computed_when_that_layer_is_shown(model, monkeypatch):
    monkeypatch.setattr("gpt2cells.notebook.reference.KEEP_BYTES", 0)  # as at 1024 tokens: no layer kept
    relu = {"gelu": "activated = np.maximum(hidden, 0)\nactivated"}
    at_once = Notebook(model)  # compares every layer in the run
    at_once.run("all")
    at_once.run("cell", "gelu", relu)
    page = Notebook(model)
    page.check_later = True
    page.run("all", layer=0)
    while not page.check(10.0)["done"]:
        pass
    page.run("cell", "gelu", relu, layer=0)
    assert marks(page, 0)["gelu"] == "differs" and marks(page, 0)["ln_1"] == "engine"
    assert {marks(page, 1)[c] for c in BLOCK} == {"pending"}
    shown = page.deltas_at(1)
    assert {state["id"] for state in shown["states"]} == set(BLOCK)
    assert marks(page, 1) == marks(at_once, 1)
    for cell_id in BLOCK:
        got = page.state(page.cells[cell_id])["delta"]["passes"][1]
        want = at_once.state(at_once.cells[cell_id])["delta"]["passes"][1]
        assert got["max_abs"] == pytest.approx(want["max_abs"], rel=1e-6, abs=1e-12), cell_id
    check_change(page.prediction_change(), native_probs(model, page.final_namespace()["ids"]),
                 native_probs(model, page.final_namespace()["ids"], relu=True))


def test_at_a_long_prompt_the_check_prints_attention_a_head_at_a_time_as_the_whole_arrays(model, monkeypatch):
    from gpt2cells import steps
    from gpt2cells.notebook.reference import Reference, fingerprint

    monkeypatch.setattr("gpt2cells.notebook.reference.KEEP_BYTES", 0)  # as at 1024 tokens
    softmax_shapes = []
    softmax = steps.softmax
    monkeypatch.setattr(steps, "softmax", lambda x, out=None: softmax_shapes.append(x.shape) or softmax(x, out=out))
    ids = model.encode("The quick brown fox jumps over the lazy dog, again and again.")
    names = ["ln1.out", "attn.qkv", "attn.q", "attn.scaled_scores", "attn.masked_scores", "attn.pattern", "attn.z",
             "mlp.post", "resid_post"]
    reference = Reference(model, ids, layer_names=names)
    reference.layer(1, ())  # what the check asks for: the fingerprints of layer 1 (layer 0 is computed first)
    T, n_head = len(ids), model.config.n_head
    assert softmax_shapes == [(1, T, T)] * (2 * n_head)  # one head's scores at a time, in both layers
    trace = model.run(ids)  # the engine's whole arrays
    for name in names:
        assert reference.prints[f"blocks.1.{name}"].whole == fingerprint(trace[f"blocks.1.{name}"]), name
        assert reference.prints[f"blocks.1.{name}"].shape == trace[f"blocks.1.{name}"].shape, name


def test_at_a_long_prompt_a_grid_takes_the_rows_it_shows_from_the_engine_bit_for_bit_the_whole_layers(model, monkeypatch):
    """At 1024 tokens computing a whole layer again to show it took ~0.5 s: an unedited cell's grid now takes the
    rows it shows from the engine's block run on those positions alone, over every position's keys and values
    (Reference.rows). Oracle: the engine's whole forward pass (Model.run), which these rows must equal bit for
    bit, upper triangle and −inf included; the layer is never computed whole. An edited layer's grids are the
    cells' own values, computed again from their code."""
    from gpt2cells.matmul import ROWS_ALONE_EXACT
    from tests.notebook_session.test_default_notebook_session import colour_scale

    monkeypatch.setattr("gpt2cells.notebook.reference.KEEP_BYTES", 0)  # as at 1024 tokens: no layer kept
    monkeypatch.setattr("gpt2cells.notebook.reference.WINDOW_ROWS", 8)  # windows a fraction of the prompt, as there
    prompt = 'prompt = "The quick brown fox jumps over the lazy dog. It\'s a test: 12345 and 3.14159, me@example.com!"'
    page = Notebook(model, {"prompt": prompt})
    page.check_later = True  # as the page's notebook is
    page.run("all", layer=0)
    ids = page.final_namespace()["ids"]
    T, n_layer, n_head = len(ids), model.config.n_layer, model.config.n_head
    assert T > 3 * 8, T
    trace = model.run(ids)
    (block,) = [unit for unit in page.session.units if unit.group is not None]
    grids = {("ln_1", ""): "ln1.out", ("qkv", "v"): "attn.qkv", ("heads", "k_heads"): "attn.k",
             ("scores", ""): "attn.scaled_scores", ("mask", ""): "attn.masked_scores", ("softmax", ""): "attn.pattern",
             ("weighted_values", ""): "attn.z", ("merge_project", ""): "attn_out", ("gelu", ""): "mlp.post",
             ("residual_2", ""): "resid_post"}
    windows = [(0, 3, 0, T), (5, 13, 2, 9), (9, 10, T - 4, T), (T - 1, T, 0, T), (0, T, 0, 5)]

    def shown(cell_id, tab, layer, head, r0, r1, c0, c1):
        data = page.output_slice(cell_id, tab, layer, head, r0, r1, c0, c1)
        return np.frombuffer(data, dtype="<f4").reshape(r1 - r0, c1 - c0)

    def engine(name, layer, head):
        value = trace[f"blocks.{layer}.{name}"]
        if name == "attn.qkv":
            value = np.split(value, 3, axis=-1)[2]  # the v tab
        return value[head] if value.ndim == 3 else value  # [T, cols]

    for phase in ("checking", "engine"):  # shown right after the run, and again once the check has run
        assert set(marks(page, 1).values()) == {phase}
        for layer in range(n_layer):
            for (cell_id, tab), name in grids.items():
                for head in (0, n_head - 1):
                    for r0, r1, c0, c1 in windows:
                        c1 = min(c1, engine(name, layer, head).shape[1])
                        np.testing.assert_array_equal(shown(cell_id, tab, layer, head, r0, r1, c0, c1),
                                                      engine(name, layer, head)[r0:r1, c0:c1], err_msg=f"{cell_id} {layer}")
        # in the page no layer is computed again whole (on CPython, BLAS computes a few rows unlike many: the
        # cells' own values are computed again, and must show the same)
        assert (block.replay is None) == ROWS_ALONE_EXACT
        while not page.check(10.0)["done"]:
            pass
    # every layer coloured as it ran: showing one needs no scale of the whole layer
    softmax = page.state(page.cells["softmax"])["output"]
    assert softmax["scales"] == [colour_scale(trace[f"blocks.{layer}.attn.pattern"]) for layer in range(n_layer)]
    # GELU edited: its layers' grids from the GELU cell on are the cells' own values (ReLU), computed again
    page.run("cell", "gelu", {"gelu": "activated = np.maximum(hidden, 0)\nactivated"}, layer=0)
    hidden, activated = (shown(cell_id, "", 1, 0, 0, T, 0, 4 * model.config.n_embd) for cell_id in ("mlp_up", "gelu"))
    np.testing.assert_array_equal(activated, np.maximum(hidden, 0))
    assert block.replay is not None and block.replay.pass_index == 1
    np.testing.assert_array_equal(hidden, page.session.value_at("mlp_up", 1))
