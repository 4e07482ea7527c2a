"""A GPT-2-small-sized weights zip (124M parameters, ~500 MB) through the real page: import, load, reload.

The one place the real size matters: wasm memory after loading (wasm memory never shrinks, so its size
is the peak) stays ≤ 1.5× the weight bytes, and the logits still match gpt2cells run natively.
Durations are printed for the record (run with -s), never asserted.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

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
