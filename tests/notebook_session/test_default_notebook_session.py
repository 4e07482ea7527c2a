"""The default notebook on CPython: its cells show the engine's own intermediates for every layer and head,
and its spreadsheet recalculation gives what a fresh top-to-bottom run gives.

Oracles: gpt2cells.Model.logits / Model.run (the engine, itself tested against Hugging Face) and a fresh
Notebook running every cell in order.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

import gpt2cells
from gpt2cells import steps
from gpt2cells.notebook import Notebook
from gpt2cells.notebook.outputs import SCALE_SAMPLE

ROOT = Path(__file__).resolve().parents[2]
RELU = "activated = np.maximum(hidden, 0)"


def pack_session_model(work: Path) -> Path:
    """A tiny random GPT-2 with a trained BPE vocabulary, packed by weights_pack (needs torch: CPython only)."""
    import weights_pack
    from tests import model_factory

    tokenizer_dir = model_factory.train_bpe(work / "tokenizer")
    config = model_factory.gpt2_config(model_factory.vocab_size_of(tokenizer_dir), n_layer=3, n_head=4, n_embd=32)
    folder = model_factory.save_hf_folder(model_factory.random_gpt2(config, seed=5, init_std=0.2), tokenizer_dir,
                                          work / "hf")
    weights_pack.convert(folder, work / "m.zip", name="session-test", progress=False)
    return work / "m.zip"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    # inside Pyodide (tests/notebook/test_notebook_in_pyodide.py) the host packs the zip and names it here
    packed = os.environ.get("GPT2CELLS_SESSION_ZIP")
    return gpt2cells.load(Path(packed) if packed else pack_session_model(tmp_path_factory.mktemp("session-model")))


def ran_session(model, sources=None) -> Notebook:
    session = Notebook(model, sources)
    session.run("all")
    assert {s["status"] for s in session.states()} == {"ok"}, [(s["id"], s["error"]) for s in session.states()]
    return session


def shown(session, step, layer=0, head=0, tab=""):
    """The 2-D table a cell shows for (layer, head), read back through output_slice like the page does."""
    view = session.arrays[(step, tab)]
    rows, cols = view.shape[-2:]
    data = session.output_slice(step, tab, layer, head, 0, rows, 0, cols)
    return np.frombuffer(data, dtype="<f4").reshape(rows, cols)


def prompt_of(session) -> str:
    return session.final_namespace()["prompt"]


def test_every_layer_and_head_shows_the_engines_intermediates(model):
    session = ran_session(model)
    ids = model.encode(prompt_of(session))
    trace = model.run(ids)
    assert np.array_equal(session.final_namespace()["logits"], model.logits(ids))
    assert np.array_equal(shown(session, "logits"), trace["logits"])
    assert np.array_equal(shown(session, "token_embeddings"), trace["embed"])
    for layer in range(model.config.n_layer):
        block = f"blocks.{layer}."
        assert np.array_equal(shown(session, "ln_1", layer), trace[block + "ln1.out"])
        assert np.array_equal(shown(session, "residual_1", layer), trace[block + "resid_mid"])
        assert np.array_equal(shown(session, "mlp_up", layer), trace[block + "mlp.pre"])
        assert np.array_equal(shown(session, "gelu", layer), trace[block + "mlp.post"])
        assert np.array_equal(shown(session, "residual_2", layer), trace[block + "resid_post"])
        for head in range(model.config.n_head):
            assert np.array_equal(shown(session, "softmax", layer, head), trace[block + "attn.pattern"][head])
            assert np.array_equal(shown(session, "heads", layer, head, tab="q_heads"), trace[block + "attn.q"][head])
            masked = shown(session, "mask", layer, head)
            assert np.array_equal(masked, trace[block + "attn.masked_scores"][head])  # −inf above the diagonal
    # a window, as the page fetches them while scrolling
    window = np.frombuffer(session.output_slice("logits", "", 0, 0, 1, 3, 5, 17), dtype="<f4").reshape(2, 12)
    assert np.array_equal(window, trace["logits"][1:3, 5:17])


def test_each_cell_holds_the_trace_value_it_names(model):
    """A cell's `trace` (docs/naming.md) is what it shows: its value, or its tabs side by side, per layer."""
    session = ran_session(model)
    trace = model.run(model.encode(prompt_of(session)))
    named = [spec for spec in session.specs if spec.trace]
    assert {spec.id for spec in named} >= {"token_embeddings", "scores", "mask", "mlp_up", "gelu", "logits"}
    for spec in named:
        layers = range(model.config.n_layer) if spec.group else [0]
        for layer, value in ((layer, session.cell_value(spec.id, layer)) for layer in layers):
            names = [name.replace("{i}", str(layer)) for name in spec.trace.split(", ")]
            parts = list(value) if isinstance(value, tuple) else [value]
            if len(names) == 1 and len(parts) > 1:  # e.g. qkv shown as its thirds q, k, v
                parts = [np.concatenate(parts, axis=-1)]
            assert len(parts) == len(names), spec.id
            for name, part in zip(names, parts):
                assert np.array_equal(part, trace[name]), f"cell {spec.id} (layer {layer}) is not {name}"


def test_the_kernel_contract_names_what_the_default_cells_define():
    """The names the kernel reads (CONTRACT) are defined by the cells it names, for both tokenizer kinds."""
    from gpt2cells.notebook.default_cells import CONTRACT, default_cells
    from gpt2cells.notebook.names import analyze_cell

    for kind in ("bpe", "char"):
        cells = {spec.id: analyze_cell(spec.source).defines for spec in default_cells(kind)}
        defined = set().union(*cells.values())
        assert CONTRACT.prediction in cells[CONTRACT.prediction_cell]
        assert {CONTRACT.generate, CONTRACT.cache_table} <= cells[CONTRACT.generation_cell]
        assert {CONTRACT.token_labels, CONTRACT.prompt_ids} <= defined
        assert CONTRACT.model not in defined  # the kernel binds it before the first cell
        assert CONTRACT.model in analyze_cell(default_cells(kind)[0].source).reads


def test_outputs_describe_shapes_labels_and_the_prediction(model):
    session = ran_session(model)
    states = {s["id"]: s for s in session.states()}
    ids = model.encode(prompt_of(session))
    tokens = [model.decode([i]) for i in ids]
    logits = states["logits"]["output"]
    assert (logits["kind"], logits["shape"], logits["row_labels"]) == ("array", [len(ids), model.config.vocab_size], tokens)
    assert logits["col_kind"] == "vocab"
    pattern = states["softmax"]["output"]
    assert pattern["layered"] and pattern["heads"] == model.config.n_head and pattern["col_labels"] == tokens
    assert [item["name"] for item in states["qkv"]["output"]["items"]] == ["q", "k", "v"]
    probs = steps.softmax(model.logits(ids)[-1])
    top = np.argsort(-probs, kind="stable")[:10]
    table = states["probabilities"]["output"]
    assert table["columns"] == ["token", "id", "probability"]
    assert [row[1] for row in table["rows"]] == top.tolist()
    assert np.allclose([row[2] for row in table["rows"]], probs[top])
    assert session.prediction() == {"id": int(top[0]), "text": model.decode([int(top[0])]), "prob": float(probs[top[0]])}
    json.dumps(session.description())  # everything the page receives is plain JSON


def test_editing_gelu_reruns_the_block_and_its_dependents_only(model):
    session = ran_session(model)
    runs = {cell_id: cell.runs for cell_id, cell in session.cells.items()}
    ran = session.run("cell", "gelu", {"gelu": RELU})
    assert ran[0] == "block_weights" and "gelu" in ran and ran[-1] == "probabilities"
    assert not {"setup", "prompt", "token_ids", "embedding_sum", "generation"} & set(ran)
    assert all(session.cells[c].runs == runs[c] + 1 for c in ran)
    ids = model.encode(prompt_of(session))
    original = steps.gelu
    steps.gelu = lambda x: np.maximum(x, 0)
    try:
        expected = model.logits(ids)
    finally:
        steps.gelu = original
    assert np.array_equal(session.final_namespace()["logits"], expected)
    # the same as a fresh notebook with that code, run top to bottom
    fresh = ran_session(model, {"gelu": RELU})
    assert np.array_equal(fresh.final_namespace()["logits"], session.final_namespace()["logits"])


def test_prompt_change_reruns_everything_downstream(model):
    session = ran_session(model)
    ran = session.run("cell", "prompt", {"prompt": 'prompt = "Hello, world!"'})
    assert ran[0] == "prompt" and "probabilities" in ran and "setup" not in ran
    assert "generation" not in ran  # it reads only the config until Generate runs
    assert np.array_equal(session.final_namespace()["logits"], model.logits(model.encode("Hello, world!")))


def test_failure_marks_dependents_stale_and_fixing_it_recovers(model):
    session = ran_session(model)
    session.run("cell", "mlp_down", {"mlp_down": "mlp_out = linear(activated,, w)"})
    status = {s["id"]: s["status"] for s in session.states()}
    assert status["mlp_down"] == "failed"
    assert [status[c] for c in ("residual_2", "final_ln", "logits", "probabilities")] == ["stale"] * 4
    assert [status[c] for c in ("ln_1", "gelu", "token_ids", "generation")] == ["ok"] * 4
    error = session.cells["mlp_down"].run.error
    assert error["type"] == "SyntaxError" and error["line"] == 1
    assert session.prediction() is None

    session.run("cell", "mlp_down", {"mlp_down": "scale = 2\nmlp_out = missing_name * scale"})
    error = session.cells["mlp_down"].run.error
    assert error["type"] == "NameError" and error["line"] == 2
    assert 'File "<cell mlp_down>", line 2' in error["traceback"] and "gpt2cells/notebook/" not in error["traceback"]
    assert "layer = 0" in error["traceback"]

    session.run("cell", "mlp_down", {"mlp_down": session.cells["mlp_down"].spec.source})
    assert {s["status"] for s in session.states()} == {"ok"}
    assert np.array_equal(session.final_namespace()["logits"], model.logits(model.encode(prompt_of(session))))


def test_run_to_runs_what_is_missing_and_no_further(model):
    session = Notebook(model)
    ran = session.run("to", "embedding_sum")
    assert ran == ["setup", "prompt", "pretokenize", "bpe", "token_ids", "token_embeddings",
                   "position_embeddings", "embedding_sum"]
    assert session.cells["ln_1"].status == "idle"
    assert session.run("to", "embedding_sum") == ["embedding_sum"]


def test_prints_go_to_their_cell_per_layer(model):
    session = Notebook(model, {"ln_2": "print(layer, x.shape)\nx_norm2 = layer_norm(x, w['ln_2.weight'], w['ln_2.bias'], eps)"})
    session.run("all")
    stdout = session.state(session.cells["ln_2"])["stdout"]
    T, n_embd = len(model.encode(prompt_of(session))), model.config.n_embd
    assert stdout == "".join(f"[layer {i}] {i} ({T}, {n_embd})\n" for i in range(model.config.n_layer))


def test_export_import_round_trip(model):
    session = ran_session(model)
    session.update_sources({"gelu": RELU})
    ipynb = json.loads(session.export("ipynb"))
    assert [c["id"] for c in ipynb["cells"]] == [spec.id for spec in session.specs]
    other = Notebook(model)
    result = other.import_(json.dumps(ipynb), "x.ipynb")
    assert result["sources"]["gelu"] == RELU and result["skipped"] == 0
    assert other.import_(session.export("py"), "x.py")["sources"] == {c: session.cells[c].source for c in session.cells}
    with pytest.raises(ValueError, match="no cell named"):
        other.import_("# %% [unrelated]\nx = 1\n", "other.py")


def test_greedy_generation_equals_model_generate(model):
    session = ran_session(model)
    ids = model.encode(prompt_of(session))
    session.generate_begin({"max_new_tokens": 5, "temperature": 0})
    new = [session.generate_next() for _ in range(5)]
    assert session.generate_next()["done"]
    assert [step["id"] for step in new] == model.generate(ids, 5)
    end = session.generate_end()
    assert end["text"] == model.decode(ids + model.generate(ids, 5))
    assert end["state"]["output"]["rows"][0][1] == f"[{model.config.n_head} × {len(ids) + 4} × {model.config.d_head}]"


def test_generate_for_streams_stretches_of_the_same_tokens(model):
    session = ran_session(model)
    ids = model.encode(prompt_of(session))
    session.generate_begin({"max_new_tokens": 7, "temperature": 0})
    streamed = []
    assert session.generate_for(0.0, streamed.append) == {"done": False}  # no time left: exactly one token
    assert len(streamed) == 1
    assert session.generate_for(60.0, streamed.append)["done"]  # time enough for the other six
    assert [step["id"] for step in streamed] == model.generate(ids, 7)
    assert session.generate_end()["text"] == model.decode(ids + model.generate(ids, 7))


@pytest.mark.skipif(not (ROOT / "site/models/adder.zip").exists(), reason="the built-in adder model is not built")
def test_saved_cells_with_the_import_paths_of_earlier_versions_still_run(model):
    """Edits saved in the page and exported notebooks import from where the default cells used to
    (`gpt2cells.notebook_output.Table`; `gpt2cells.steps` and `from gpt2cells import KVCache` are still the
    default cells' own)."""
    saved = {"setup": 'import numpy as np\nfrom gpt2cells.steps import layer_norm, softmax, unembed, gelu, embed\n'
                      "from gpt2cells.steps import pos_embed, linear, split_qkv, split_heads, attention_scores\n"
                      "from gpt2cells.steps import scale_scores, causal_mask, apply_mask, weighted_values\n"
                      "from gpt2cells.steps import merge_heads, block_params\n"
                      "from gpt2cells.notebook_output import Table\n"
                      "params, config, tokenizer = model.params, model.config, model.tokenizer\n"
                      "n_head, d_head, eps = config.n_head, config.d_head, config.layer_norm_epsilon"}
    session = ran_session(model, saved)
    assert np.array_equal(session.final_namespace()["logits"], model.logits(model.encode(prompt_of(session))))


def test_char_model_runs_the_same_notebook():
    adder = gpt2cells.load(ROOT / "site/models/adder.zip")
    session = ran_session(adder)
    cells = [spec.id for spec in session.specs]
    assert "chars" in cells and "bpe" not in cells and "pretokenize" not in cells
    ids = adder.encode(prompt_of(session))
    assert session.prediction()["id"] == int(np.argmax(adder.logits(ids)[-1]))


def test_error_inside_a_function_from_another_cell_shows_both_cells(model):
    helper = "def squash(v):\n    return v * missing_factor\n\nx = token_vectors + position_vectors\nx"
    session = Notebook(model, {"embedding_sum": helper, "gelu": "activated = squash(hidden)"})
    session.run("all")
    error = session.cells["gelu"].run.error
    trace = error["traceback"]
    assert (error["type"], error["line"]) == ("NameError", 1)
    assert 'File "<cell gelu>", line 1, in <module>' in trace
    assert 'File "<cell embedding_sum>", line 2, in squash' in trace and "return v * missing_factor" in trace
    assert trace.index("<cell gelu>") < trace.index("<cell embedding_sum>")
    assert "gpt2cells/notebook/" not in trace
    assert session.cells["embedding_sum"].status == "ok" and session.cells["logits"].status != "ok"


def test_in_place_change_in_a_later_cell_leaves_earlier_outputs_alone(model):
    final_ln = "x += 1000.0\n" + session_source(model, "final_ln")
    session = ran_session(model, {"final_ln": final_ln})
    first = session.final_namespace()["logits"].copy()
    session.run("cell", "final_ln")  # a second run must not add 1000 twice
    assert np.array_equal(session.final_namespace()["logits"], first)
    last = model.config.n_layer - 1
    trace = model.run(model.encode(prompt_of(session)))
    assert np.array_equal(shown(session, "residual_2", last), trace[f"blocks.{last}.resid_post"])


@pytest.mark.parametrize("bad, error_type", [("return 5", "SyntaxError"), ("x = 1\n  y = 2", "IndentationError")])
def test_compile_time_errors_point_at_their_line(model, bad, error_type):
    session = Notebook(model, {"probabilities": bad})
    session.run("all")
    error = session.cells["probabilities"].run.error
    assert (error["type"], error["line"]) == (error_type, bad.count("\n") + 1)


def test_a_failed_cell_leaves_no_partial_definitions(model):
    session = ran_session(model)
    session.run("cell", "probabilities", {"probabilities": "probs = 1\nboom = 1 / 0"})
    namespace = session.final_namespace()
    assert "boom" not in namespace and "probs" not in namespace and session.prediction() is None
    assert session.cells["generation"].status == "ok" and "logits" in namespace


def session_source(model, cell_id) -> str:
    return next(spec.source for spec in Notebook(model).specs if spec.id == cell_id)


# Alternative sources per cell, default first: edits that change values downstream (or only the cell itself).
VARIANTS = {
    "prompt": ['prompt = "The quick brown fox jumps over the lazy"', 'prompt = "Hello, world! It\'s a test"'],
    "position_embeddings": [None, 'position_vectors = 0 * pos_embed(params["wpe.weight"], 0, T)\nposition_vectors'],
    "ln_2": [None, "print(layer)\n" + "x_norm2 = layer_norm(x, w['ln_2.weight'], w['ln_2.bias'], eps)"],
    "gelu": [None, RELU],
    "residual_2": [None, "x = x + 0.5 * mlp_out\nx"],
    "probabilities": [None, "probs = softmax(logits[-1] / 2)\nprobs"],
}


@pytest.mark.parametrize("seed", range(3))
def test_random_edits_and_reruns_equal_a_fresh_top_to_bottom_run(model, seed):
    rng = random.Random(seed)
    defaults = {spec.id: spec.source for spec in Notebook(model).specs}
    sources = {}
    session = ran_session(model)
    for _ in range(6):
        cell_id = rng.choice(list(VARIANTS))
        variant = rng.choice(VARIANTS[cell_id])
        sources[cell_id] = defaults[cell_id] if variant is None else variant
        runs = {c: cell.runs for c, cell in session.cells.items()}
        ran = session.run("cell", cell_id, dict(sources))
        assert ran[0] in (cell_id, "block_weights")  # a block cell reruns its whole block
        assert {c for c, cell in session.cells.items() if cell.runs != runs[c]} == set(ran)
        fresh = ran_session(model, dict(sources))
        for name in ("logits", "probs", "x_final"):
            assert np.array_equal(session.final_namespace()[name], fresh.final_namespace()[name]), (cell_id, name)
        assert [s["status"] for s in session.states()] == ["ok"] * len(session.cells)


def test_a_block_cell_keeps_no_layer_and_computes_a_shown_layer_again(model):
    """Every layer's [n_head × T × T] arrays would not fit at 1024 tokens: no layer's values stay; a layer is
    computed again, with the code that ran, when the page asks for it."""
    session = ran_session(model)
    trace = model.run(model.encode(prompt_of(session)))
    last = model.config.n_layer - 1
    for cell_id in ("scores", "softmax", "gelu"):
        assert session.cells[cell_id].values == [None] * model.config.n_layer
    # what a layer is computed again from: its residual stream (and the setup's names), not the previous
    # layer's attention arrays
    (block,) = [unit for unit in session.session.units if unit.group is not None]
    for layer, inputs in enumerate(block.pass_inputs):
        arrays = {name for name, value in inputs.items() if isinstance(value, np.ndarray)}
        assert arrays == {"x"}, arrays
        assert np.array_equal(inputs["x"], trace[f"blocks.{layer}.resid_pre"])
    # an edit saved but not run yet: the grid still shows what ran (GELU), not the edited code (ReLU)
    session.run("cell", "final_ln", {"gelu": RELU})
    assert session.cells["gelu"].status == "ok"
    runs = {cell_id: cell.runs for cell_id, cell in session.cells.items()}
    for layer in (0, 1, 0, last):
        assert np.array_equal(shown(session, "gelu", layer), trace[f"blocks.{layer}.mlp.post"])
        assert np.array_equal(shown(session, "softmax", layer, head=1), trace[f"blocks.{layer}.attn.pattern"][1])
    assert {cell_id: cell.runs for cell_id, cell in session.cells.items()} == runs  # computing again is no run


def colour_scale(values):
    """The page's colour scale of a table, in numpy: around 0 at ±min(largest |v|, 3 rms) when the finite
    values have both signs, else from their min to their max."""
    finite = values[np.isfinite(values)].astype(np.float64)
    lo, hi = finite.min(), finite.max()
    if lo < 0 < hi:
        return {"kind": "diverging", "span": pytest.approx(min(max(-lo, hi), 3 * np.sqrt(np.mean(finite ** 2))), rel=1e-5)}
    return {"kind": "range", "lo": pytest.approx(lo), "hi": pytest.approx(hi if hi > lo else lo + 1)}


def test_a_block_cell_colours_the_layer_shown_as_it_runs_and_another_when_shown(model):
    """Colouring every layer as it ran was a tenth of a 10-token run: the layer the page shows gets its colour
    scale with the run, another when the page shows it (output_scale)."""
    session = Notebook(model)
    session.run("all", layer=1)
    trace = model.run(model.encode(prompt_of(session)))
    tabs = {("scores", ""): "attn.scaled_scores", ("mask", ""): "attn.masked_scores", ("gelu", ""): "mlp.post",
            ("qkv", "k"): None, ("residual_2", ""): "resid_post"}
    for (cell_id, tab), name in tabs.items():
        output = session.states()[session.position[cell_id]]["output"]
        if tab:
            output = next(item["output"] for item in output["items"] if item["name"] == tab)
        assert [scale is not None for scale in output["scales"]] == [layer == 1 for layer in range(model.config.n_layer)]
        for layer in range(model.config.n_layer):
            value = (trace[f"blocks.{layer}.{name}"] if name else
                     np.split(trace[f"blocks.{layer}.attn.qkv"], 3, axis=-1)[1])
            assert value.size <= SCALE_SAMPLE  # every value counts (a bigger table's scale reads a sample)
            assert session.output_scale(cell_id, tab, layer) == colour_scale(value), (cell_id, layer)
        assert output["scales"][1] == colour_scale(trace[f"blocks.1.{name}"] if name else
                                                   np.split(trace["blocks.1.attn.qkv"], 3, axis=-1)[1])
    # a block cell whose layers differ in shape shows one output per layer: the same, each its own grid
    session.run("all", sources={"ln_1": session.cells["ln_1"].source + "[: layer + 2]"}, layer=1)
    output = session.states()[session.position["ln_1"]]["output"]
    assert output["kind"] == "layers"
    for layer, item in enumerate(output["items"]):
        expected = colour_scale(trace[f"blocks.{layer}.ln1.out"][: layer + 2])
        assert item["scales"] == ([expected] if layer == 1 else [None])
        assert session.output_scale("ln_1", f"{layer}", 0) == expected


def test_the_block_lets_go_of_arrays_no_later_cell_reads_and_an_edit_that_reads_one_gets_it_back(model):
    """After the block, the last layer's scores, pattern, MLP activations… are not kept (200 MB at 1024 tokens);
    x, which the final layer norm reads, is. A later cell edited to read one finds the last layer's."""
    session = ran_session(model)
    trace = model.run(model.encode(prompt_of(session)))
    last = model.config.n_layer - 1
    namespace = session.final_namespace()
    assert "pattern" not in namespace and "activated" not in namespace
    assert np.array_equal(namespace["x"], trace[f"blocks.{last}.resid_post"])
    edited = session.cells["final_ln"].source.rstrip() + "\npattern[1], activated\n"
    session.run("cell", "final_ln", {"final_ln": edited})
    assert session.cells["final_ln"].status == "ok", session.cells["final_ln"].run.error
    pattern, activated = session.cells["final_ln"].values[0]
    assert np.array_equal(pattern, trace[f"blocks.{last}.attn.pattern"][1])
    assert np.array_equal(activated, trace[f"blocks.{last}.mlp.post"])
    assert session.cells["final_ln"].status == "ok" and session.cells["logits"].status == "ok"
    # the block runs again: now a later cell reads pattern, so it is kept
    session.run("all")
    assert np.array_equal(session.final_namespace()["pattern"], trace[f"blocks.{last}.attn.pattern"])


def test_a_pass_begins_without_the_last_passs_arrays_but_with_its_residual_stream(model):
    """What the last layer bound and this one binds again (scores, pattern…) is let go before it is made anew:
    at 1024 tokens two layers' attention arrays would be in memory at once."""
    probe = 'print(sorted(name for name in ("x", "pattern", "activated", "scores") if name in globals()))\n'
    session = ran_session(model, {"ln_1": probe + Notebook(model).cells["ln_1"].source})
    lines = session.cells["ln_1"].run.stdout.splitlines()
    assert lines == [f"[layer {layer}] ['x']" for layer in range(model.config.n_layer)]
    trace = model.run(model.encode(prompt_of(session)))
    assert np.array_equal(session.final_namespace()["x"], trace[f"blocks.{model.config.n_layer - 1}.resid_post"])


def test_a_prompt_longer_than_the_context_stops_at_the_token_ids(model):
    n_ctx = model.config.n_ctx
    prompt = "the quick fox " * n_ctx
    n_tokens = len(model.encode(prompt))
    session = Notebook(model, {"prompt": f"prompt = {prompt!r}"})
    session.run("all")
    error = session.cells["token_ids"].run.error
    assert error["type"] == "PromptTooLongError"
    assert error["traceback"].endswith(f"{n_tokens} tokens; this model reads at most {n_ctx}")
    after = [spec.id for spec in session.specs][[spec.id for spec in session.specs].index("token_ids") + 1:]
    independent = {"generation", "patching_prompts", "patch_resid", "patch_heads"}  # they read no prompt token
    assert all(session.cells[cell_id].runs == 0 for cell_id in after if cell_id not in independent)
    assert session.prediction() is None


def test_a_saved_token_ids_cell_without_the_check_still_computes_nothing_on_a_cut_prompt(model):
    prompt = "the quick fox " * model.config.n_ctx
    old_token_ids = "ids = tokenizer.encode(prompt)\ntokens = [tokenizer.decode([i]) for i in ids]\nT = len(ids)"
    session = Notebook(model, {"prompt": f"prompt = {prompt!r}", "token_ids": old_token_ids})
    session.run("all")
    error = session.cells["position_embeddings"].run.error
    assert error["type"] == "PromptTooLongError"
    assert error["traceback"].endswith(f"{len(model.encode(prompt))} tokens; this model reads at most {model.config.n_ctx}")
    assert session.cells["embedding_sum"].runs == 0 and session.cells["logits"].runs == 0


def test_a_rerun_lets_go_of_the_last_values_before_it_makes_new_ones(model):
    """At 1024 tokens the old [T × 50257] logits beside the new ones would need another 200 MB of the page's
    memory, which never shrinks: when the logits cell runs again, nothing may hold its last value any more."""
    import weakref

    session = ran_session(model)
    last = session.final_namespace()["logits"]
    session.session.base_namespace["last_logits"] = weakref.ref(last)
    del last
    probe = "import gc\ngc.collect()\nlast_alive = last_logits() is not None\n"
    logits_cell = session.cells["logits"]
    session.run("all", None, {"logits": probe + logits_cell.source})
    assert session.final_namespace()["last_alive"] is False
    assert logits_cell.status == "ok" and session.prediction() is not None
