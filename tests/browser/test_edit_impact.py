"""Edit impact in a real Chromium (issue #16): every traced cell marked equal to the engine until an edit; after
GELU → ReLU, a value typed into a table, or a head ablated with one click, Δ appears where the edit reaches and
the prediction's before → after equals a native run with the same edit.

Oracle: GPT-2's forward pass written in NumPy in tests/notebook/test_reference.py (native_probs), on the weights
of the tiny random GPT-2 the notebook tests pack (tests/browser/test_notebook.py).
"""
from __future__ import annotations

import numpy as np
from playwright.sync_api import expect

from tests.browser.test_notebook import RELU, cell, editor_text, open_with_model, run_and_wait, set_code, set_prompt, tiny  # noqa: F401
from tests.notebook.test_reference import AFTER_BLOCK, BEFORE_BLOCK, BLOCK, native_probs

TRACED = BEFORE_BLOCK + BLOCK + AFTER_BLOCK


def marks(page) -> dict:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.nb-cell')]
        .map((node) => [node.dataset.cell, node.querySelector('[data-testid=delta]:not([hidden])')?.dataset.delta ?? null]))""")


def show_layer(page, layer, head=0):
    """Choose a layer and head; a block cell's Δ there, if it waited for the layer to be shown, arrives."""
    page.get_by_test_id("layer-select").first.select_option(str(layer))
    page.get_by_test_id("head-select").first.select_option(str(head))
    page.wait_for_function("""(ids) => ids.every((id) => !['pending', 'checking'].includes(
        document.querySelector(`[data-cell="${id}"] [data-testid=delta]`)?.dataset.delta))""", arg=BLOCK, timeout=120_000)


def all_engine(page, n_layer):
    for layer in range(n_layer):
        show_layer(page, layer)
        got = marks(page)
        assert {got[c] for c in TRACED} == {"engine"}, (layer, got)
        assert got["probabilities"] is None and got["prompt"] is None  # no engine value to compare with


def check_prediction_change(page, before, after):
    old = page.get_by_test_id("prediction-before")
    old_top = int(np.argmax(before))
    expect(old).to_have_attribute("data-token-id", str(old_top))
    assert np.isclose(float(old.get_attribute("data-before")), before[old_top], rtol=1e-3, atol=1e-6)
    assert np.isclose(float(old.get_attribute("data-after")), after[old_top], rtol=1e-3, atol=1e-6)
    assert int(old.get_attribute("data-rank-after")) == 1 + int(np.sum(after > after[old_top] * (1 + 1e-4)))
    rows = page.get_by_test_id("prediction-top-row")
    assert int(rows.first.get_attribute("data-token-id")) == int(np.argmax(after))
    for i in range(rows.count()):
        token = int(rows.nth(i).get_attribute("data-token-id"))
        assert np.isclose(float(rows.nth(i).get_attribute("data-before")), before[token], rtol=1e-3, atol=1e-6)
        assert np.isclose(float(rows.nth(i).get_attribute("data-after")), after[token], rtol=1e-3, atol=1e-6)


def test_edit_impact_against_native_runs(page, site_url, tiny):  # noqa: F811
    zip_path, model, prompt = tiny
    n_layer = model.config.n_layer
    open_with_model(page, site_url, zip_path)
    set_prompt(page, prompt)
    ids = model.encode(prompt)
    before = native_probs(model, ids)

    # unedited: every traced cell, at every layer, equals the engine
    all_engine(page, n_layer)
    expect(page.get_by_test_id("prediction-change")).to_have_attribute("data-changed", "false")

    # GELU → ReLU: Δ on the GELU cell and every later one at layer 0, none earlier
    set_code(page, "gelu", RELU + "\nactivated")
    run_and_wait(page, lambda: cell(page, "gelu").get_by_test_id("run-cell").click())
    show_layer(page, 0)
    got = marks(page)
    at_gelu = BLOCK.index("gelu")
    assert {got[c] for c in BEFORE_BLOCK + BLOCK[:at_gelu]} == {"engine"}, got
    for step in BLOCK[at_gelu:] + AFTER_BLOCK:
        assert float(got[step]) > 0, (step, got[step])
    show_layer(page, 1)
    assert all(float(marks(page)[c]) > 0 for c in BLOCK)
    check_prediction_change(page, before, native_probs(model, ids, relu=True))
    expect(page.get_by_test_id("edit-gelu")).to_be_visible()

    # the difference as a heatmap on the same grid
    gelu = cell(page, "gelu")
    gelu.get_by_test_id("show-difference").click()
    expect(gelu.get_by_test_id("view-of")).to_contain_text("output − engine")
    gelu.get_by_test_id("show-output").click()

    # reset from the edits list: the engine mark everywhere again
    run_and_wait(page, lambda: page.get_by_test_id("edit-gelu").get_by_test_id("edit-reset").click())
    expect(page.get_by_test_id("edit-gelu")).to_have_count(0)
    expect(page.get_by_test_id("edit-prompt")).to_be_visible()  # the prompt typed above is an edit too
    all_engine(page, n_layer)

    # a value typed into the GELU table at layer 1: refused if not a number; else a visible line, Δ downstream
    show_layer(page, 1)
    gelu.locator('.grid-cell[data-row="2"][data-col="5"]').click()
    form = gelu.get_by_test_id("value-edit")
    expect(form).to_be_visible()
    expect(gelu.get_by_test_id("value-target")).to_have_text("if layer == 1: activated[2, 5]")
    gelu.get_by_test_id("value-input").fill("half")
    gelu.get_by_test_id("value-input").press("Enter")
    expect(gelu.get_by_test_id("value-error")).to_contain_text("not a number")
    assert "# set in the table" not in editor_text(page, "gelu")
    gelu.get_by_test_id("value-input").fill("0.5")
    run_and_wait(page, lambda: gelu.get_by_test_id("value-input").press("Enter"))
    assert "if layer == 1: activated[2, 5] = 0.5  # set in the table" in editor_text(page, "gelu").split("\n")
    got = marks(page)
    assert float(got["gelu"]) > 0 and float(got["logits"]) > 0 and got["ln_1"] == "unchanged"
    show_layer(page, 0)
    assert marks(page)["gelu"] == "unchanged" and marks(page)["ln_1"] == "engine"
    check_prediction_change(page, before, native_probs(model, ids, set_hidden=(1, 2, 5, 0.5)))
    # undo: the line goes, the engine mark comes back everywhere
    run_and_wait(page, lambda: gelu.get_by_test_id("undo-value").click())
    assert "# set in the table" not in editor_text(page, "gelu")
    all_engine(page, n_layer)

    # ablate head 2 of layer 1 with one click beside the head selector
    show_layer(page, 1, head=2)
    run_and_wait(page, lambda: page.get_by_test_id("ablate-head").first.click())
    assert "if layer == 1: z[2] = 0  # ablate head 2 of layer 1" in editor_text(page, "weighted_values").split("\n")
    assert float(marks(page)["weighted_values"]) > 0
    check_prediction_change(page, before, native_probs(model, ids, ablate=(1, 2)))


def test_at_a_long_prompt_another_layers_delta_comes_when_that_layer_is_shown(page, site_url, tiny, run_python):  # noqa: F811
    """A 1024-token prompt's engine values do not all stay in memory, so an edit's Δ is computed in the run for
    the layer shown and for another layer when it is chosen; here the tiny model is made to behave so."""
    zip_path, model, prompt = tiny
    open_with_model(page, site_url, zip_path)
    run_python(page, "import gpt2cells.notebook.reference as reference\nreference.KEEP_BYTES = 0\nreference.KEEP_BYTES")
    set_prompt(page, prompt)
    show_layer(page, 0)
    set_code(page, "gelu", RELU + "\nactivated")
    run_and_wait(page, lambda: cell(page, "gelu").get_by_test_id("run-cell").click())
    assert float(marks(page)["gelu"]) > 0 and marks(page)["ln_1"] == "engine"
    ids = model.encode(prompt)
    check_prediction_change(page, native_probs(model, ids), native_probs(model, ids, relu=True))
    show_layer(page, 1)  # its Δ is computed now ("comparing…" until it arrives)
    assert all(float(marks(page)[c]) > 0 for c in BLOCK)
