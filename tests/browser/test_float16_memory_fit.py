"""float16 weights end to end in the page, and the memory-fit check before an import.

Oracles: Hugging Face run in float32 on the same float16-rounded weights (logits, greedy tokens); numpy in this
test on the zip's own bytes (a cell's arithmetic on a weight); the runtime itself (its heap maximum, its wasm
memory after a notebook run); parameter counts of Hugging Face's GPT-2 configs (the four sizes' weight bytes);
the real IndexedDB, read with its own API (nothing stored after a refusal).
"""
from __future__ import annotations

import re
import zipfile

import numpy as np
import pytest
import torch
from playwright.sync_api import expect

import weights_pack
from tests import model_factory
from tests.browser.test_notebook import cell, run_and_wait, set_code, wait_notebook
from tests.browser.weights_testkit import (
    READY_TIMEOUT_MS, choose_file, expect_builtin_ready, expect_ready, idb_snapshot, page_logits, wait_idle,
    PackedModel,
)

PROMPT = "Hello, world! The quick brown fox."
RELATIVE = 1e-4  # max |Δlogit| / max |logit| against HF on the same rounded weights
GPT2_SIZES = {"small": (12, 12, 768), "medium": (24, 16, 1024), "large": (36, 20, 1280), "xl": (48, 25, 1600)}


def pack(work, name, seed, dtype="float16", **config) -> PackedModel:
    """A random HF GPT-2 with a trained BPE, its weights rounded to float16 (so HF in float32 runs exactly the
    weights a float16 zip holds), packed by weights_pack."""
    tokenizer_dir = model_factory.train_bpe(work / "tokenizer")
    hf_config = model_factory.gpt2_config(model_factory.vocab_size_of(tokenizer_dir), **config)
    hf_model = model_factory.random_gpt2(hf_config, seed=seed, init_std=0.2)
    with torch.no_grad():
        for parameter in hf_model.parameters():
            parameter.copy_(parameter.half().float())
    folder = model_factory.save_hf_folder(hf_model, tokenizer_dir, work / f"hf-{name}")
    zip_path = weights_pack.convert(folder, work / f"{name}.zip", dtype=dtype, name=name, progress=False).path
    with zipfile.ZipFile(zip_path) as archive:
        import json
        manifest = json.loads(archive.read("manifest.json"))
    return PackedModel(zip_path, name, manifest, hf_model)


@pytest.fixture(scope="module")
def half_model(tmp_path_factory):
    return pack(tmp_path_factory.mktemp("f16"), "tiny-half", seed=5, n_layer=2, n_head=4, n_embd=64, n_ctx=64)


def relative_error(ours, theirs):
    return float(np.abs(ours.astype(np.float64) - theirs).max() / np.abs(theirs).max())


def check_against_hf(page, model):
    ids, logits = page_logits(page, PROMPT)  # [n_seq, vocab]
    with torch.no_grad():
        hf_logits = model.hf_model(torch.tensor([ids])).logits[0].numpy()  # [n_seq, vocab]
        hf_greedy = model.hf_model.generate(torch.tensor([ids]), max_new_tokens=20, do_sample=False,
                                            eos_token_id=None, pad_token_id=0)[0, len(ids):].tolist()
    assert logits.shape == hf_logits.shape
    assert relative_error(logits, hf_logits) <= RELATIVE
    page_greedy = page.evaluate("""async (ids) => (await window.gpt2cells.runtime.exec(
        `import gpt2cells.worker.models as m\\nm.active_model().generate(${JSON.stringify(ids)}, 20)`)).value""", ids)
    assert list(page_greedy) == hf_greedy


def test_float16_zip_imports_runs_and_reloads(page, site_url, half_model):
    assert {t["dtype"] for t in half_model.manifest["tensors"]} == {"float16"}
    page.goto(site_url)
    wait_idle(page)
    choose_file(page, half_model.zip_path)
    expect_ready(page, half_model)
    wait_idle(page)
    check_against_hf(page, half_model)

    page.reload()
    expect_ready(page, half_model)  # from IndexedDB
    wait_idle(page)
    check_against_hf(page, half_model)
    (record,) = idb_snapshot(page)["models"]
    assert record["size"] >= sum(t["nbytes"] for t in half_model.manifest["tensors"])


def test_a_cell_reads_a_float16_weight_and_its_numpy_works(page, site_url, half_model):
    page.goto(site_url)
    wait_idle(page)
    choose_file(page, half_model.zip_path)
    expect_ready(page, half_model)
    wait_notebook(page)
    code = ('token_vectors = embed(params["wte.weight"], ids)     # [T, n_embd]\n'
            'wte = params["wte.weight"]\n'
            'own = float((wte[ids].astype(np.float64) ** 2).sum())  # the learner\'s own numpy on the weight\n'
            'f"wte {wte.dtype}, token_vectors {token_vectors.dtype}, own {own:.6f}"\n')
    set_code(page, "token_embeddings", code)
    run_and_wait(page, lambda: page.keyboard.press("ControlOrMeta+Enter"))
    with zipfile.ZipFile(half_model.zip_path) as archive:
        entry = next(t for t in half_model.manifest["tensors"] if t["name"] == "wte.weight")
        wte = np.frombuffer(archive.read(entry["entry"]), dtype="<f2").reshape(entry["shape"])  # [vocab, n_embd]
    ids = page_logits(page, page.get_by_test_id("prompt").input_value())[0]
    expected = float((wte[ids].astype(np.float64) ** 2).sum())
    output = cell(page, "token_embeddings")
    expect(output).to_contain_text("wte float16, token_vectors float32, own ", timeout=READY_TIMEOUT_MS)
    shown = float(re.search(r"own (-?[\d.]+)", output.text_content()).group(1))
    assert shown == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------- the memory-fit check

def gpt2_manifest(n_layer, n_head, n_embd, dtype, vocab_size=50257, n_ctx=1024):
    """A manifest of a GPT-2 of these sizes; tensor bytes from Hugging Face's own module (meta device: no data)."""
    from transformers import GPT2LMHeadModel

    config = model_factory.gpt2_config(vocab_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd, n_ctx=n_ctx)
    with torch.device("meta"):
        hf = GPT2LMHeadModel(config)
    itemsize = {"float32": 4, "float16": 2}[dtype]
    tensors = [{"name": name, "dtype": dtype, "shape": list(p.shape), "nbytes": p.numel() * itemsize}
               for name, p in hf.transformer.named_parameters()]  # the head is wte (tied), stored once
    return {"name": f"gpt2-{n_layer}x{n_embd}-{dtype}", "config": {"n_layer": n_layer, "n_head": n_head,
            "n_embd": n_embd, "n_ctx": n_ctx, "vocab_size": vocab_size}, "tensors": tensors}


_CHECK_JS = """async (manifests) => {
  const budget = await import("./memory-budget.js");
  return manifests.map((manifest) => {
    try {
      return {fits: true, need: budget.checkMemoryFit(manifest)};
    } catch (error) {
      return {fits: false, name: error.name, message: error.message, need: error.need};
    }
  });
}"""


def test_limit_is_the_runtimes_and_the_runtime_overhead_is_covered(ready_page, run_python):
    page = ready_page
    expect_builtin_ready(page)
    wait_notebook(page)  # the built-in model's notebook has run
    heap_max = run_python(page, "__import__('pyodide_js')._module._emscripten_get_heap_max()")
    used = run_python(page, "__import__('pyodide_js')._module.HEAPU8.buffer.byteLength")
    budget = page.evaluate("""async () => { const b = await import("./memory-budget.js");
                                            return {limit: b.WASM_MEMORY_LIMIT, runtime: b.RUNTIME_BYTES}; }""")
    assert budget["limit"] == heap_max
    print(f"wasm memory after boot + built-in model + notebook run: {used / 2**20:.0f} MiB "
          f"(RUNTIME_BYTES {budget['runtime'] / 2**20:.0f} MiB)")
    assert used <= budget["runtime"]


def test_the_four_gpt2_sizes(ready_page):
    manifests = [gpt2_manifest(*GPT2_SIZES[size], dtype) for size in GPT2_SIZES for dtype in ("float32", "float16")]
    results = dict(zip([m["name"] for m in manifests], ready_page.evaluate(_CHECK_JS, manifests)))
    weights = {m["name"]: sum(t["nbytes"] for t in m["tensors"]) for m in manifests}
    assert round(weights["gpt2-48x1600-float32"] / 1e9, 1) == 6.2  # 1.56 B parameters (the paper's 1.5B)
    refused = {name for name, r in results.items() if not r["fits"]}
    assert refused == {"gpt2-48x1600-float32"}
    xl = results["gpt2-48x1600-float32"]
    assert xl["name"] == "MemoryFitError"
    assert xl["need"]["weights"] == weights["gpt2-48x1600-float32"]
    assert f"weights {weights['gpt2-48x1600-float32'] / 1e9:.1f} GB" in xl["message"]
    assert "at most ~4.3 GB" in xl["message"] and "--dtype float16" in xl["message"]
    for name, result in results.items():
        assert result["need"]["weights"] == weights[name]
    # XL in float16 must leave its room to run inside the limit: its weights are 3.1 GB
    assert results["gpt2-48x1600-float16"]["need"]["total"] < 4294901760


@pytest.fixture(scope="module")
def long_context_model(tmp_path_factory):
    """A real, small model (1 layer × 32, ~2 MB) whose context window is 8192 positions: one forward pass over
    its full context computes 8 heads × 8192 × 8192 attention scores (2.1 GB per array), which a 4 GiB wasm
    memory cannot hold with its softmax and masked copy. Its zip is honest and passes every format check."""
    return pack(tmp_path_factory.mktemp("long"), "long-context", seed=3, dtype="float32",
                n_layer=1, n_head=8, n_embd=32, n_ctx=8192)


def test_a_model_that_cannot_run_is_refused_before_anything_is_stored(page, site_url, long_context_model):
    page.goto(site_url)
    wait_idle(page)
    expect_builtin_ready(page)
    choose_file(page, long_context_model.zip_path)
    error = page.get_by_test_id("weights-error")
    expect(error).to_be_visible(timeout=READY_TIMEOUT_MS)
    expect(error).to_contain_text("long-context")
    expect(error).to_contain_text("KV cache for 8192 positions")
    expect(error).to_contain_text("at most ~4.3 GB")
    expect(error).to_contain_text("Nothing was stored")
    wait_idle(page)
    snapshot = idb_snapshot(page)
    assert snapshot is None or (snapshot["models"] == [] and snapshot["blobs"] == [])
    expect_builtin_ready(page)  # the page goes on with the model it had


# ---------------------------------------------------------------- buffers past 2 GiB of wasm memory

_CROSS_JS = """async () => {
  const runtime = window.gpt2cells.runtime;
  const sent = new Uint8Array(3 * 2 ** 20).map((_, i) => (i * 7 + 3) % 251);
  const expected = sent.reduce((sum, b) => sum + b, 0);
  const inside = await runtime.call("gpt2cells.worker.buffers_check.receive", [sent.buffer, new Float32Array([1.5, -2.25])]);
  const back = (await runtime.exec("import numpy as np\\n(np.arange(2 ** 20, dtype=np.int64) % 251).astype(np.uint8).tobytes()")).value;
  const bytes = new Uint8Array(back.buffer, back.byteOffset, back.byteLength);
  let wrong = 0;
  for (let i = 0; i < bytes.length; i++) wrong += bytes[i] !== i % 251;
  return {expected, inside: inside.value, returned: bytes.length, wrong};
}"""


def test_buffers_cross_between_page_and_python_past_2_gib(ready_page, run_python):
    """Pyodide 314.0.3's own copies fail (page → Python) or return other bytes (Python → page) past 2 GiB;
    the worker copies there itself (gpt2cells.worker.buffers). Checked against sums computed on each side."""
    page = ready_page
    heap = run_python(page, "import builtins, numpy as np, pyodide_js\n"
                            "builtins._ballast = [np.ones(2 ** 27, dtype=np.uint8) for _ in range(18)]  # 2.25 GiB\n"
                            "pyodide_js._module.HEAPU8.buffer.byteLength")
    assert heap > 2 ** 31
    run_python(page, "import sys, types\n"
                     "check = types.ModuleType('gpt2cells.worker.buffers_check')\n"
                     "exec('import numpy as np\\ndef receive(raw, floats):\\n"
                     "    return [int(np.frombuffer(raw, dtype=np.uint8).sum()), list(memoryview(floats).cast(\"B\").cast(\"f\"))]', "
                     "check.__dict__)\n"
                     "sys.modules['gpt2cells.worker.buffers_check'] = check\n")
    result = page.evaluate(_CROSS_JS)
    assert result["inside"] == [result["expected"], [1.5, -2.25]]
    assert result["returned"] == 2 ** 20 and result["wrong"] == 0
    run_python(page, "import builtins\ndel builtins._ballast")
