"""A GPT-2-small-sized weights zip (124M parameters, ~500 MB) through the real page: import, load, reload.

The one place the real size matters: wasm memory after loading (wasm memory never shrinks, so its size
is the peak) stays ≤ 1.5× the weight bytes, and the logits still match gpt2cells run natively.
Durations are printed for the record (run with -s), never asserted.
"""
from __future__ import annotations

import re
import time

import numpy as np
import pytest
from playwright.sync_api import expect

import gpt2cells
from tests.browser.weights_testkit import (
    READY_TIMEOUT_MS, choose_file, expect_ready, idb_snapshot, pack_gpt2_small, page_logits, wait_idle,
)

PROMPT = "Hello, world! GPT-2 in a page."
WASM_MEMORY = "import pyodide_js\npyodide_js._module.HEAPU8.length"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return pack_gpt2_small(tmp_path_factory.mktemp("gpt2-small"))


def wasm_bytes(page, run_python) -> int:
    return int(run_python(page, WASM_MEMORY))


def test_gpt2_small_import_load_memory_and_reload(page, site_url, small, run_python, wait_for_ready):
    weight_bytes = sum(t["nbytes"] for t in small.manifest["tensors"])
    assert weight_bytes > 450e6
    page.set_default_timeout(READY_TIMEOUT_MS)
    page.goto(site_url)
    wait_for_ready(page)
    wait_idle(page)
    before = wasm_bytes(page, run_python)

    started = time.perf_counter()
    choose_file(page, small.zip_path)  # a path: Chromium reads the file itself, no 500 MB over the wire
    page.wait_for_function("() => document.querySelector('[data-testid=\"model-status\"]').dataset.state === 'loading'",
                           timeout=READY_TIMEOUT_MS)
    imported = time.perf_counter()
    expect_ready(page, small)
    loaded = time.perf_counter()
    wait_idle(page)

    after = wasm_bytes(page, run_python)
    print(f"\nGPT-2 small ({weight_bytes / 1e6:.0f} MB): import {imported - started:.1f} s, "
          f"load into Python {loaded - imported:.1f} s; wasm memory {before / 1e6:.0f} MB → {after / 1e6:.0f} MB "
          f"({after / weight_bytes:.2f}× weights)")
    assert after <= 1.5 * weight_bytes

    snapshot = idb_snapshot(page)
    (record,) = snapshot["models"]
    assert record["size"] >= weight_bytes
    assert len(snapshot["blobs"]) == len(small.manifest["tensors"]) + 2

    native = gpt2cells.load(small.zip_path)
    ids, logits = page_logits(page, PROMPT)  # [n_seq, 50257]
    assert ids == native.encode(PROMPT)
    np.testing.assert_allclose(logits, native.logits(ids), atol=1e-4, rtol=0)

    started = time.perf_counter()
    page.reload()
    wait_for_ready(page)
    expect_ready(page, small)
    print(f"reload → ready from IndexedDB in {time.perf_counter() - started:.1f} s (includes Python boot)")
    wait_idle(page)
    after_reload = wasm_bytes(page, run_python)
    print(f"wasm memory after reload: {after_reload / 1e6:.0f} MB ({after_reload / weight_bytes:.2f}× weights)")
    assert after_reload <= 1.5 * weight_bytes
    assert idb_snapshot(page) == snapshot


# ---------------------------------------------------------------- the whole context window (issue #18)

RUN_TIMEOUT_MS = 900_000  # a 1024-token run-all on two shared cores


def text_of_tokens(model, n_tokens: int) -> str:
    """The shortest prefix of a long text that encodes to exactly n_tokens ids."""
    source = " ".join(f"Sentence {i} of a long prompt, to fill GPT-2's whole context window." for i in range(n_tokens))
    low, high = 1, len(source)
    while low < high:
        middle = (low + high) // 2
        low, high = (middle + 1, high) if len(model.encode(source[:middle])) < n_tokens else (low, middle)
    text = next(source[:end] for end in range(low, len(source)) if len(model.encode(source[:end])) == n_tokens)
    return text


def run_prompt(page, text: str) -> None:
    page.get_by_test_id("prompt").fill(text)
    page.get_by_test_id("prompt").press("Enter")
    page.wait_for_function("""() => {
        const state = document.querySelector('[data-testid="run-state"]')?.dataset.state;
        return (state === "ok" || state === "failed") && !document.querySelector('[data-testid="run-all"]').disabled;
    }""", timeout=RUN_TIMEOUT_MS, polling=200)


def shown_window(page, cell_id, layer, head, rows, cols):
    """A window of a cell's grid as the page fetches it (output_slice through the page's worker)."""
    data = page.evaluate("""async (args) => {
        const r = await window.gpt2cells.runtime.call("gpt2cells.worker.notebook.output_slice", args);
        return Array.from(r.value);
    }""", [cell_id, "", layer, head, *rows, *cols])
    return np.frombuffer(bytes(data), dtype="<f4").reshape(rows[1] - rows[0], cols[1] - cols[0])


def test_a_1024_token_prompt_runs_in_the_page_and_any_layer_shows_the_engines_values(page, site_url, small, wait_for_ready):
    page.set_default_timeout(READY_TIMEOUT_MS)
    page.goto(site_url)
    wait_for_ready(page)
    wait_idle(page)
    choose_file(page, small.zip_path)
    page.wait_for_function("() => document.querySelector('[data-testid=\"model-status\"]').dataset.state === 'loading'",
                           timeout=READY_TIMEOUT_MS)
    expect_ready(page, small)
    wait_idle(page)
    native = gpt2cells.load(small.zip_path)
    n_ctx = native.config.n_ctx
    text = text_of_tokens(native, n_ctx)
    ids = native.encode(text)

    run_prompt(page, text)
    assert page.get_by_test_id("run-state").get_attribute("data-state") == "ok"
    expect(page.get_by_test_id("token-count")).to_have_text(f"{n_ctx} tokens")
    import torch
    with torch.no_grad():
        hf_next = int(small.hf_model(torch.tensor([ids])).logits[0, -1].argmax())
    assert int(page.get_by_test_id("prediction").get_attribute("data-token-id")) == hf_next

    # a layer and head picked after the run (the block's cells of that layer are computed again when shown)
    layer, head = 4, 7
    page.get_by_test_id("layer-select").select_option(str(layer))
    page.get_by_test_id("head-select").select_option(str(head))
    expect(page.get_by_test_id("cell-softmax").get_by_test_id("view-of")).to_have_text(f"showing layer {layer}, head {head}")
    trace = native.run(ids, names=[f"blocks.{layer}.attn.pattern", f"blocks.{layer}.mlp.post", "logits"])
    rows = (n_ctx - 40, n_ctx)
    pattern = shown_window(page, "softmax", layer, head, rows, (n_ctx - 60, n_ctx))
    np.testing.assert_allclose(pattern, trace[f"blocks.{layer}.attn.pattern"][head, rows[0]:, n_ctx - 60:], atol=1e-5)
    hidden = shown_window(page, "gelu", layer, 0, rows, (3000, 3072))
    np.testing.assert_allclose(hidden, trace[f"blocks.{layer}.mlp.post"][rows[0]:, 3000:], atol=1e-4)

    # far values of the [T × 50257] logits and of the shown head's [T × T] pattern, reached with "go to"
    row, last_id = n_ctx - 24, native.config.vocab_size - 1
    for cell_id, col, expected in (("logits", last_id, trace["logits"][row, last_id]),
                                   ("softmax", 900, trace[f"blocks.{layer}.attn.pattern"][head, row, 900])):
        view = page.get_by_test_id(f"cell-{cell_id}")
        view.get_by_test_id("grid-goto").fill(f"{row}, {col}")
        view.get_by_test_id("grid-goto").press("Enter")
        selection = view.get_by_test_id("cell-selection")
        expect(selection).to_have_attribute("data-row", str(row))
        expect(selection).to_have_attribute("data-col", str(col))
        expect(selection).to_have_attribute("data-value", re.compile("."))  # set once the value's window arrived
        assert float(selection.get_attribute("data-value")) == pytest.approx(float(expected), rel=1e-4, abs=1e-6)

    # one token more than the context: the token ids say so, no later cell computes on a cut prompt
    longer = text_of_tokens(native, n_ctx + 1)
    run_prompt(page, longer)
    message = f"{n_ctx + 1} tokens; this model reads at most {n_ctx}"
    expect(page.get_by_test_id("token-count")).to_have_text(message)
    token_ids = page.get_by_test_id("cell-token_ids")
    expect(token_ids.get_by_test_id("cell-traceback")).to_contain_text(message)
    for cell_id in ("position_embeddings", "embedding_sum", "softmax", "logits"):
        expect(page.get_by_test_id(f"cell-{cell_id}")).not_to_have_attribute("data-status", "ok")
    assert page.get_by_test_id("prediction").get_attribute("data-token-id") is None
