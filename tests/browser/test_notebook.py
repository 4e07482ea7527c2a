"""The notebook in a real Chromium: GPT-2's steps as editable cells, checked against gpt2cells run natively.

A tiny random GPT-2 (Hugging Face, BPE vocabulary trained by the test) is packed with weights_pack and
loaded through the page's own file input; the oracles are gpt2cells.Model on CPython and, for edited
cells, the engine's steps with the same edit applied natively.
"""
from __future__ import annotations

import json
import zipfile
import re

import numpy as np
import pytest
from playwright.sync_api import expect

import gpt2cells
import weights_pack
from gpt2cells import steps
from tests import model_factory

LOAD_TIMEOUT_MS = 240_000
RUN_TIMEOUT_MS = 180_000
RELU = "activated = np.maximum(hidden, 0)  # ReLU instead of GELU"
PROMPTS = ["The quick brown fox", "Hello, world! It's a test", "numbers 12345 and 3.14159", "GPT-2 is a transformer",
           "Don't, won't, I'm", "In 1999, 42 people paid", "def f(x): return x", "Unicode: café, naïve"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(zip path, native gpt2cells model, a prompt whose next token differs under GELU and ReLU)."""
    work = tmp_path_factory.mktemp("notebook-model")
    tokenizer_dir = model_factory.train_bpe(work / "tokenizer")
    config = model_factory.gpt2_config(model_factory.vocab_size_of(tokenizer_dir), n_layer=2, n_head=4, n_embd=32)
    # a wide init makes the MLP matter, so swapping its non-linearity moves the prediction
    hf_model = model_factory.random_gpt2(config, seed=7, init_std=0.3)
    folder = model_factory.save_hf_folder(hf_model, tokenizer_dir, work / "hf")
    zip_path = work / "tiny-notebook.zip"
    weights_pack.convert(folder, zip_path, name="tiny-notebook", progress=False)
    model = gpt2cells.load(zip_path)
    for prompt in PROMPTS:
        ids = model.encode(prompt)
        if np.argmax(model.logits(ids)[-1]) != np.argmax(relu_logits(model, ids)[-1]):
            return zip_path, model, prompt
    pytest.fail("no prompt's prediction changes when GELU becomes ReLU; pick another seed")


def relu_logits(model, ids):
    """The oracle for the edited GELU cell: the engine's own forward pass with ReLU in place of GELU."""
    original = steps.gelu
    steps.gelu = lambda x: np.maximum(x, 0)
    try:
        return model.logits(ids)
    finally:
        steps.gelu = original


def top_k(model, logits_last, k=10):
    probs = steps.softmax(logits_last.astype(np.float32))
    top = np.argsort(-probs, kind="stable")[:k]
    return [(model.decode([int(i)]), int(i), float(probs[i])) for i in top]


# ---------------------------------------------------------------- page helpers

def open_with_model(page, site_url, zip_path):
    page.goto(site_url)
    page.get_by_test_id("weights-file").set_input_files(str(zip_path))
    with zipfile.ZipFile(zip_path) as packed:  # the page starts with its built-in model: wait for this one
        name = json.loads(packed.read("manifest.json"))["name"]
    expect(page.get_by_test_id("model-status")).to_contain_text(f"{name} — ", timeout=LOAD_TIMEOUT_MS)
    wait_notebook(page)


def wait_notebook(page):
    expect(page.get_by_test_id("model-status")).to_have_attribute("data-state", "ready", timeout=LOAD_TIMEOUT_MS)
    expect(page.locator("#notebook")).to_have_attribute("data-open", "true", timeout=LOAD_TIMEOUT_MS)
    wait_idle(page)


def wait_idle(page):
    page.wait_for_function("() => document.querySelector('#notebook').dataset.busy !== 'true'", timeout=RUN_TIMEOUT_MS)


def completed_runs(page) -> int:
    return int(page.locator("#notebook").get_attribute("data-completed-runs") or 0)


def run_and_wait(page, action):
    before = completed_runs(page)
    action()
    page.wait_for_function(f"() => Number(document.querySelector('#notebook').dataset.completedRuns || 0) > {before}",
                           timeout=RUN_TIMEOUT_MS)
    wait_idle(page)


def cell(page, step):
    return page.get_by_test_id(f"cell-{step}")


def statuses(page) -> dict:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.nb-cell')]
        .map((node) => [node.dataset.cell, node.dataset.status]))""")


def runs(page) -> dict:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.nb-cell')]
        .map((node) => [node.dataset.cell, Number(node.dataset.runs)]))""")


def set_code(page, step, code):
    """Replace a cell's code the way a learner does: focus its editor, select all, type (paste) the text."""
    content = cell(page, step).locator(".cm-content")
    content.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(code)


def editor_text(page, step) -> str:
    return page.evaluate("(step) => document.querySelector(`[data-testid='cell-${step}'] .nb-editor`).editor.getValue()",
                         step)


def prediction(page) -> tuple[int, str]:
    box = page.get_by_test_id("prediction")
    expect(box).to_have_attribute("data-token-id", re.compile(r"^\d+$"))
    return int(box.get_attribute("data-token-id")), box.get_attribute("data-token-text")


def top_k_rows(page):
    rows = cell(page, "probabilities").locator("table tbody tr")
    result = []
    for i in range(rows.count()):
        token, token_id, prob = rows.nth(i).locator("td").all_text_contents()
        result.append((token, int(token_id), float(prob)))
    return result


def set_prompt(page, prompt):
    box = page.get_by_test_id("prompt")
    box.fill(prompt)
    run_and_wait(page, lambda: box.press("Enter"))


def check_matches(page, model, prompt, logits):
    token_id, token_text = prediction(page)
    expected = top_k(model, logits[-1])
    assert token_id == expected[0][1]
    assert token_text == expected[0][0]
    rows = top_k_rows(page)
    assert [(t, i) for t, i, _ in rows] == [(t, i) for t, i, _ in expected]
    # the page shows probabilities with 4 decimals
    assert np.allclose([p for *_, p in rows], [p for *_, p in expected], atol=6e-5)


# ---------------------------------------------------------------- tests

def test_run_all_matches_native_gpt2cells(page, site_url, tiny):
    zip_path, model, prompt = tiny
    open_with_model(page, site_url, zip_path)
    set_prompt(page, prompt)
    run_and_wait(page, lambda: page.get_by_test_id("run-all").click())
    assert set(statuses(page).values()) == {"ok"}, statuses(page)
    ids = model.encode(prompt)
    logits = model.logits(ids)
    check_matches(page, model, prompt, logits)

    # every step has its cell, each with an editor and an output
    for step in ["prompt", "pretokenize", "bpe", "token_ids", "token_embeddings", "position_embeddings",
                 "embedding_sum", "ln_1", "qkv", "heads", "scores", "mask", "softmax", "weighted_values",
                 "merge_project", "residual_1", "ln_2", "mlp_up", "gelu", "mlp_down", "residual_2", "final_ln",
                 "logits", "probabilities", "generation"]:
        expect(cell(page, step).locator(".cm-editor")).to_have_count(1)
        if step != "prompt":  # an assignment: no value to show
            expect(cell(page, step).get_by_test_id("output")).not_to_be_empty()

    # the logits table: shape badge, rows labelled by tokens, only a window of its cells in the DOM
    logits_cell = cell(page, "logits")
    T, vocab = logits.shape
    expect(logits_cell.get_by_test_id("shape")).to_have_text(f"[{T} × {vocab}]")
    expect(logits_cell.locator(".grid-rowlabel").first).to_have_text(model.decode([ids[0]]).replace(" ", "␣"))
    assert logits_cell.locator(".grid-cell").count() < T * vocab / 2

    # click a value: its row, column and exact float32 value
    viewport = logits_cell.locator(".grid-viewport")
    viewport.evaluate("(v) => { v.scrollLeft = v.scrollWidth; }")
    last = logits_cell.locator(f'.grid-cell[data-row="{T - 1}"][data-col="{vocab - 1}"]')
    expect(last).not_to_have_text("…")
    last.click()
    selection = logits_cell.get_by_test_id("cell-selection")
    expect(selection).to_have_attribute("data-col", str(vocab - 1))
    # Pyodide's NumPy sums in another order than native NumPy: equal to float32 rounding (≤ 1e-4), not bit for bit
    assert np.isclose(float(selection.get_attribute("data-value")), logits[T - 1, vocab - 1], rtol=1e-4, atol=1e-4)

    # the layer and head selectors show another layer's attention pattern without running anything
    before = runs(page)
    page.get_by_test_id("layer-select").first.select_option("1")
    page.get_by_test_id("head-select").first.select_option("2")
    pattern_cell = cell(page, "softmax")
    expect(pattern_cell.get_by_test_id("view-of")).to_have_text("showing layer 1, head 2")
    trace = model.run(ids)
    value = pattern_cell.locator(f'.grid-cell[data-row="{T - 1}"][data-col="0"]')
    expect(value).not_to_have_text("…")
    value.click()
    shown = float(pattern_cell.get_by_test_id("cell-selection").get_attribute("data-value"))
    assert np.isclose(shown, trace["blocks.1.attn.pattern"][2, T - 1, 0], rtol=1e-4, atol=1e-4)
    assert runs(page) == before


def grid_colours(page, step) -> list:
    """(row, col, text, background) of every value a cell's grid shows, once all are there and coloured."""
    script = """(step) => {
        const cells = [...document.querySelectorAll(`[data-testid='cell-${step}'] .grid-cell`)];
        if (!cells.length || cells.some((c) => c.textContent === "…" || !c.style.background)) return null;
        return cells.map((c) => [Number(c.dataset.row), Number(c.dataset.col), c.textContent, c.style.background]);
    }"""
    page.wait_for_function(script, arg=step, timeout=RUN_TIMEOUT_MS)
    return sorted(page.evaluate(script, step))


def test_another_layer_is_coloured_when_shown_as_if_shown_when_it_ran(page, site_url, tiny):
    """A block cell's colour scale comes with the run for the layer shown, for another when it is shown."""
    zip_path, model, prompt = tiny
    open_with_model(page, site_url, zip_path)
    set_prompt(page, prompt)
    code = ("from gpt2cells.worker import notebook\n"
            "[s['output']['scales'] for s in notebook._current().states() if s['id'] == 'gelu'][0]")
    scales = page.evaluate("async (code) => (await window.gpt2cells.runtime.exec(code)).value", code)
    assert [scale is not None for scale in scales] == [True, False]  # layer 0 shown as it ran
    page.get_by_test_id("layer-select").first.select_option("1")
    expect(cell(page, "gelu").get_by_test_id("view-of")).to_have_text("showing layer 1")
    asked_for = grid_colours(page, "gelu")
    run_and_wait(page, lambda: page.get_by_test_id("run-all").click())  # now layer 1 is the one shown as it runs
    assert grid_colours(page, "gelu") == asked_for
    hidden = model.run(model.encode(prompt))["blocks.1.mlp.post"]  # [T, 4·n_embd]
    assert len({background for *_, background in asked_for}) > len(asked_for) // 4  # coloured by value
    assert [float(text) for _, _, text, _ in asked_for[:3]] == pytest.approx(hidden[0, :3].tolist(), rel=1e-3, abs=1e-3)


def test_edit_gelu_to_relu_reruns_dependents(page, site_url, tiny):
    zip_path, model, prompt = tiny
    open_with_model(page, site_url, zip_path)
    set_prompt(page, prompt)
    ids = model.encode(prompt)
    gelu_prediction = prediction(page)
    before = runs(page)
    set_code(page, "gelu", RELU)
    run_and_wait(page, lambda: page.keyboard.press("ControlOrMeta+Enter"))
    after = runs(page)
    rerun = {step for step in after if after[step] > before[step]}
    # the whole block reruns (every layer), then what reads its output; nothing before it
    assert {"ln_1", "gelu", "mlp_down", "residual_2", "final_ln", "logits", "probabilities"} <= rerun
    assert not rerun & {"setup", "prompt", "token_ids", "token_embeddings", "embedding_sum"}
    assert set(statuses(page).values()) == {"ok"}
    check_matches(page, model, prompt, relu_logits(model, ids))
    assert prediction(page) != gelu_prediction
    expect(cell(page, "gelu").get_by_test_id("cell-edited")).to_be_visible()

    # Reset puts GELU back, and the GELU prediction with it
    run_and_wait(page, lambda: cell(page, "gelu").get_by_test_id("reset-cell").click())
    check_matches(page, model, prompt, model.logits(ids))


def test_errors_show_traceback_and_stale_marks(page, site_url, tiny):
    zip_path, model, prompt = tiny
    open_with_model(page, site_url, zip_path)

    set_code(page, "mlp_down", "mlp_out = linear(activated,, w)")
    run_and_wait(page, lambda: cell(page, "mlp_down").get_by_test_id("run-cell").click())
    state = statuses(page)
    assert state["mlp_down"] == "failed"
    traceback = cell(page, "mlp_down").get_by_test_id("cell-traceback")
    expect(traceback).to_contain_text("SyntaxError")
    expect(traceback).to_contain_text("line 1")
    expect(cell(page, "mlp_down").locator(".cm-error-line")).to_have_count(1)
    for step in ["residual_2", "final_ln", "logits", "probabilities"]:
        assert state[step] == "stale", (step, state)
        expect(cell(page, step).get_by_test_id("stale-note")).to_be_visible()
    for step in ["setup", "prompt", "token_ids", "embedding_sum", "ln_1", "gelu"]:
        assert state[step] == "ok", (step, state)

    # the rest keeps working: another cell runs, and a runtime error points at the user's line
    set_code(page, "token_embeddings", 'token_vectors = embed(params["wte.weight"], ids)\nprint("rows:", len(token_vectors))\ntoken_vectors')
    run_and_wait(page, lambda: cell(page, "token_embeddings").get_by_test_id("run-cell").click())
    expect(cell(page, "token_embeddings").get_by_test_id("cell-stdout")).to_have_text(f"rows: {len(model.encode(editor_prompt(page)))}\n")
    assert statuses(page)["token_embeddings"] == "ok"

    set_code(page, "mlp_down", 'scale = 1\nmlp_out = linear(activated, w["mlp.c_proj.weight"], w["mlp.c_proj.bias"]) * scael')
    run_and_wait(page, lambda: cell(page, "mlp_down").get_by_test_id("run-cell").click())
    traceback = cell(page, "mlp_down").get_by_test_id("cell-traceback")
    expect(traceback).to_contain_text("NameError")
    expect(traceback).to_contain_text('File "<cell mlp_down>", line 2')
    expect(traceback).not_to_contain_text("gpt2cells/notebook")  # the kernel's own frames are not shown

    # fixing the cell brings every dependent back
    run_and_wait(page, lambda: cell(page, "mlp_down").get_by_test_id("reset-cell").click())
    assert set(statuses(page).values()) == {"ok"}


def editor_prompt(page) -> str:
    return page.get_by_test_id("prompt").input_value()


def test_reload_keeps_the_edit(page, site_url, tiny):
    zip_path, model, prompt = tiny
    open_with_model(page, site_url, zip_path)
    set_prompt(page, prompt)
    set_code(page, "gelu", RELU)
    run_and_wait(page, lambda: page.keyboard.press("ControlOrMeta+Enter"))

    page.reload()
    wait_notebook(page)  # the model comes back from IndexedDB, the code from localStorage
    assert editor_text(page, "gelu") == RELU
    assert editor_prompt(page) == prompt
    expect(cell(page, "gelu").get_by_test_id("cell-edited")).to_be_visible()
    run_and_wait(page, lambda: page.get_by_test_id("run-all").click())
    check_matches(page, model, prompt, relu_logits(model, model.encode(prompt)))


def test_export_and_import_notebook(page, site_url, tiny, tmp_path):
    zip_path, model, prompt = tiny
    open_with_model(page, site_url, zip_path)
    set_code(page, "gelu", RELU)

    with page.expect_download() as download_info:
        page.get_by_test_id("export-ipynb").click()
    ipynb_path = tmp_path / "exported.ipynb"
    download_info.value.save_as(ipynb_path)
    notebook = json.loads(ipynb_path.read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4
    code = {c["id"]: "".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"}
    steps_in_page = page.evaluate("() => [...document.querySelectorAll('.nb-cell')].map((n) => n.dataset.cell)")
    assert list(code) == steps_in_page
    for step in steps_in_page:
        assert code[step] == editor_text(page, step)
    assert code["gelu"] == RELU

    with page.expect_download() as download_info:
        page.get_by_test_id("export-py").click()
    py_path = tmp_path / "exported.py"
    download_info.value.save_as(py_path)
    text = py_path.read_text(encoding="utf-8")
    assert f"# %% [gelu]\n{RELU}\n" in text
    compile(text, "exported.py", "exec")  # a valid Python file

    # import: an edited .ipynb comes back into the cells and runs
    for c in notebook["cells"]:
        if c["id"] == "prompt":
            c["source"] = [f"prompt = {json.dumps(prompt)}"]
        if c["id"] == "gelu":
            c["source"] = ["activated = gelu(hidden)"]
    edited = tmp_path / "edited.ipynb"
    edited.write_text(json.dumps(notebook), encoding="utf-8")
    run_and_wait(page, lambda: page.get_by_test_id("import-file").set_input_files(str(edited)))
    assert editor_text(page, "gelu") == "activated = gelu(hidden)"
    check_matches(page, model, prompt, model.logits(model.encode(prompt)))


def test_infinite_loop_is_interrupted_and_page_recovers(page, site_url, tiny):
    zip_path, model, prompt = tiny
    open_with_model(page, site_url, zip_path)
    opened = int(page.locator("#notebook").get_attribute("data-opened"))
    set_code(page, "gelu", "while True:\n    pass")
    cell(page, "gelu").get_by_test_id("run-cell").click()
    expect(cell(page, "gelu")).to_have_attribute("data-status", "running")
    # the page stays responsive while Python spins: typing in another cell works
    set_code(page, "prompt", f"prompt = {json.dumps(prompt)}")
    assert editor_text(page, "prompt") == f"prompt = {json.dumps(prompt)}"

    page.get_by_test_id("interrupt").click()
    expect(page.locator("#notebook")).to_have_attribute("data-opened", str(opened + 1), timeout=LOAD_TIMEOUT_MS)
    wait_notebook(page)
    expect(page.get_by_test_id("model-status")).to_contain_text("ready")
    assert editor_text(page, "gelu") == "while True:\n    pass"  # the code is kept

    run_and_wait(page, lambda: cell(page, "gelu").get_by_test_id("reset-cell").click())
    run_and_wait(page, lambda: page.get_by_test_id("run-all").click())
    assert set(statuses(page).values()) == {"ok"}
    check_matches(page, model, prompt, model.logits(model.encode(prompt)))


def test_generation_streams_tokens_with_kv_cache(page, site_url, tiny):
    zip_path, model, prompt = tiny
    open_with_model(page, site_url, zip_path)
    set_prompt(page, prompt)
    ids = model.encode(prompt)
    n_new = 6
    page.get_by_test_id("gen-n").fill(str(n_new))
    page.get_by_test_id("gen-temperature").fill("0")  # greedy: comparable with the engine
    run_and_wait(page, lambda: page.get_by_test_id("generate").click())
    text = page.get_by_test_id("generated-text")
    expected = model.generate(ids, n_new)
    assert [int(i) for i in text.get_attribute("data-ids").split(",")] == expected
    assert text.get_attribute("data-text") == model.decode(ids + expected)
    expect(page.get_by_test_id("generate-state")).to_contain_text("done")
    # the KV cache after the last step: every layer holds keys and values of prompt + fed-back tokens
    n_head, d_head = model.config.n_head, model.config.d_head
    cache_rows = cell(page, "generation").locator("table tbody tr")
    expect(cache_rows).to_have_count(model.config.n_layer)
    shape = f"[{n_head} × {len(ids) + n_new - 1} × {d_head}]"
    assert cache_rows.first.locator("td").all_text_contents() == ["layer 0", shape, shape]

    # more tokens asked for than the context window holds: Generate stops at its end and says so
    limit = model.config.n_ctx - len(ids) + 1  # the last new token needs no position
    page.get_by_test_id("gen-n").fill(str(limit + 5))
    run_and_wait(page, lambda: page.get_by_test_id("generate").click())
    assert [int(i) for i in text.get_attribute("data-ids").split(",")] == model.generate(ids, limit)
    expect(page.get_by_test_id("generate-state")).to_contain_text(
        f"done: the context window (n_ctx = {model.config.n_ctx}) is full")

    # sampling with a seed, stopped early: fewer tokens, and the page carries on. The tiny model makes a token in
    # about a millisecond, all of them before a click could land; a learner's edit slows each one down to 20 ms.
    slowed = editor_text(page, "generation").replace("    return choose_next_token(",
                                                     "    time.sleep(0.02)\n    return choose_next_token(")
    assert "time.sleep" in slowed
    set_code(page, "generation", "import time\n" + slowed)
    page.get_by_test_id("gen-n").fill(str(limit))
    page.get_by_test_id("gen-temperature").fill("1")
    page.get_by_test_id("generate").click()
    expect(page.get_by_test_id("generate-state")).to_have_attribute("data-state", "running")  # not the last run's "done"
    page.wait_for_function("() => (document.querySelector('[data-testid=generated-text]').dataset.ids || '').length > 0")
    page.get_by_test_id("stop-generate").click()
    expect(page.get_by_test_id("generate-state")).to_contain_text("stopped", timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_test_id("generate-state")).to_have_attribute("data-state", "done")
    generated = text.get_attribute("data-ids").split(",")
    assert 1 <= len(generated) < limit
    run_and_wait(page, lambda: page.get_by_test_id("run-all").click())
    assert set(statuses(page).values()) == {"ok"}
