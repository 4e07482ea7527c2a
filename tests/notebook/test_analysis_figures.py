"""The Analysis part's pictures and the built-in adder's Analysis part, on CPython and inside Pyodide (no torch):
oracles are numpy written here and gpt2cells.analysis (itself checked against Hugging Face in
tests/engine/test_analysis.py and tests/notebook/test_analysis_cells.py)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gpt2cells
from gpt2cells import analysis
from gpt2cells.notebook import HeadPatterns, Heatmap, Notebook
from gpt2cells.notebook.figures import block_means
from gpt2cells.notebook.outputs import Outputs

ADDER_ZIP = Path(__file__).resolve().parents[2] / "site" / "models" / "adder.zip"
ANALYSIS_CELLS = ["logit_lens", "logit_attribution", "attention_overview", "head_scores", "patching_prompts",
                  "patch_resid", "patch_heads", "steering"]


def strict_json(value):
    return json.loads(json.dumps(value, allow_nan=False))


def test_a_long_prompt_shows_block_means_of_each_pattern():
    rng = np.random.default_rng(0)
    patterns = rng.random((2, 3, 45, 45)).astype(np.float32)
    figure = HeadPatterns(patterns)
    assert figure.small.shape == (2, 3, 32, 32)
    edges = np.linspace(0, 45, 33).astype(int)  # written out: block i covers rows edges[i] … edges[i + 1] − 1
    expected = np.array([[[[patterns[l, h, edges[i]:edges[i + 1], edges[j]:edges[j + 1]].mean() for j in range(32)]
                           for i in range(32)] for h in range(3)] for l in range(2)])
    np.testing.assert_allclose(figure.small, expected, atol=1e-6)
    np.testing.assert_allclose(block_means(patterns[:, :, :8, :8], 8), patterns[:, :, :8, :8])


def test_heatmap_output_and_bad_input():
    out = Outputs(None).describe_single("c", Heatmap([[0.5, -1.0], [2.0, float("nan")]], ["a", "b"], ["x", "y"], heads=1),
                                        None, None, "")
    assert strict_json(out) == {"kind": "heatmap", "title": None, "rows": 2, "cols": 2, "row_labels": ["a", "b"],
                                "col_labels": ["x", "y"], "text": None, "values": [[0.5, -1.0], [2.0, "nan"]],
                                "heads": 1, "scale": out["scale"]}
    assert out["scale"]["kind"] == "diverging"
    with pytest.raises(ValueError, match=r"expected 2 labels, got 3"):
        Heatmap(np.zeros((2, 2)), col_labels=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"heads must be a number of columns in \[0, 2\], got 3"):
        Heatmap(np.zeros((2, 2)), heads=3)
    with pytest.raises(ValueError, match=r"attention patterns \[n_layer, n_head, n_seq, n_seq\], got shape \[3, 4\]"):
        HeadPatterns(np.zeros((3, 4)))


def test_the_adder_runs_the_analysis_part():
    adder = gpt2cells.load(ADDER_ZIP)
    notebook = Notebook(adder)
    notebook.run("all")
    assert {cell: notebook.cells[cell].status for cell in ANALYSIS_CELLS} == {cell: "ok" for cell in ANALYSIS_CELLS}
    names = notebook.final_namespace()
    assert (adder.decode([names["answer"]]), adder.decode([names["wrong"]])) == ("7", "8")  # 47 and 48, reversed
    values = strict_json(notebook.state(notebook.cells["patch_resid"])["output"])["values"]
    expected = analysis.patch_resid_pre(adder, adder.encode("12+35="), adder.encode("12+36="), names["answer"],
                                        names["wrong"], [4, 5])
    np.testing.assert_allclose(values, expected, atol=1e-6)
    # entering block 0, the changed digit is all the difference: patching it is the clean run, the "=" is the same
    assert abs(values[0][0] - 1) < 1e-5 and abs(values[0][1]) < 1e-5


def random_char_model(n_layer, n_head, tokenizer):
    from gpt2cells.config import Config
    from gpt2cells.model import Model
    from gpt2cells.weights_format import expected_shapes

    shape = dict(n_layer=n_layer, n_head=n_head, n_embd=2 * n_head, n_ctx=16, vocab_size=len(tokenizer.itos))
    rng = np.random.default_rng(n_layer)
    params = {name: rng.standard_normal(dims).astype(np.float32) for name, dims in expected_shapes(shape).items()}
    return Model(Config.from_dict(shape), params, tokenizer)


@pytest.mark.parametrize("n_layer, runs", [(12, True), (13, False)])
def test_head_patching_runs_with_run_all_up_to_gpt2_smalls_144_heads(n_layer, runs):
    model = random_char_model(n_layer, 12, gpt2cells.load(ADDER_ZIP).tokenizer)
    notebook = Notebook(model)
    notebook.run("all")
    out = notebook.state(notebook.cells["patch_heads"])["output"]
    if runs:
        assert out["kind"] == "heatmap" and (out["rows"], out["cols"]) == (n_layer, 12)
    else:
        assert out == {"kind": "text", "text": f"Not run by Run all: {n_layer * 12} heads take minutes on this model. "
                                               "Set run_it = True and Run."}
        assert notebook.final_namespace()["recovered_heads"] is None
