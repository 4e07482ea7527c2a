"""The engine inside Pyodide (Python 3.14, NumPy 2.x) under Node, the page's runtime, vs Hugging Face."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import build
from tests.engine.test_engine_tokenizer import SAMPLES
from tests.model_factory import hf_tokenizer
from tests.pyodide_host import node_and_wheels

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = '''
import json, sys, zipfile
import numpy as np
import gpt2cells
import gpt2cells.exp
import gpt2cells.matmul


def kernel_vs_einsum():
    """Largest relative difference of matmul_nt from einsum, over shapes that hit every path of the kernel."""
    rng = np.random.default_rng(3)
    worst = 0.0
    # one row of x; groups of six rows of w (m // 6 apart under 16 rows of x, side by side from 16) by two rows of
    # x and by one; the m % 6 rows of w left
    for n, k, m in [(1, 768, 3072), (10, 3072, 768), (3, 32, 7), (5, 8, 1), (2, 36, 5), (4, 6, 9), (1, 768, 50257),
                    (1, 32, 13), (1, 8, 3), (1, 36, 5), (2, 36, 7), (2, 40, 13), (5, 20, 26), (17, 20, 14)]:
        x = rng.standard_normal((n, k)).astype(np.float32)
        w = rng.standard_normal((m, k)).astype(np.float32)
        expected = np.einsum("ij,kj->ik", x.astype(np.float64), w.astype(np.float64))
        got = gpt2cells.matmul.matmul_nt(x, w)
        assert got.shape == (n, m) and got.dtype == np.float32
        worst = max(worst, float(np.abs(got - expected).max() / np.abs(expected).max()))
    strided = rng.standard_normal((6, 64)).astype(np.float32)[::2, ::2]  # not contiguous
    w = rng.standard_normal((12, 32)).astype(np.float32)
    assert np.allclose(gpt2cells.matmul.matmul_nt(strided, w), strided @ w.T, atol=1e-5)
    return worst


def heads_vs_float64():
    """Attention's per-head products through the kernel (every head in one call) against float64, over shapes that
    hit every path (one row, pairs of rows, an odd last row; 16- and 32-column blocks, 4-column tails), with the
    heads as a KV cache holds them (a view with gaps between heads), as split_heads makes them (copied), and one
    head alone; also whether each head's scores are matmul_nt's on that head, bit for bit, and each row of the
    pattern times the values is the same alone as with the others."""
    from gpt2cells.matmul import matmul_heads, matmul_nt, matmul_nt_heads
    rng = np.random.default_rng(4)
    worst, nt_as_matmul_nt, rows_alone = 0.0, True, True
    for heads, n, d, t in [(12, 1, 64, 10), (12, 2, 64, 33), (3, 7, 8, 12), (1, 5, 12, 3), (2, 3, 20, 36),
                           (4, 9, 36, 68), (2, 4, 4, 1), (12, 1, 64, 1024)]:
        cache = rng.standard_normal((2, heads, t + 3, d)).astype(np.float32)
        keys, values = cache[0, :, :t], cache[1, :, :t]  # [heads, t, d], heads t + 3 rows apart
        qkv = rng.standard_normal((n, 3, heads, d)).astype(np.float32)
        q = qkv[:, 0].transpose(1, 0, 2)  # [heads, n, d], as split_heads: not contiguous
        scores = matmul_nt_heads(q, keys)  # [heads, n, t]
        pattern = rng.random((heads, n, t)).astype(np.float32)
        z = matmul_heads(pattern, values)  # [heads, n, d]
        for got, expected in ((scores, np.einsum("hid,hjd->hij", q.astype(np.float64), keys.astype(np.float64))),
                              (z, np.einsum("hij,hjd->hid", pattern.astype(np.float64), values.astype(np.float64))),
                              (matmul_heads(pattern[-1:], values[-1:]), None)):
            assert got.dtype == np.float32
            if expected is not None:
                worst = max(worst, float(np.abs(got - expected).max() / np.abs(expected).max()))
        nt_as_matmul_nt &= all(np.array_equal(scores[h], matmul_nt(np.ascontiguousarray(q[h]), keys[h])) for h in range(heads))
        rows_alone &= all(np.array_equal(matmul_heads(pattern[:, i:i + 1], values)[:, 0], z[:, i]) for i in range(n))
        rows_alone &= bool(np.array_equal(matmul_heads(pattern[-1:], values[-1:]), z[-1:]))
    return {"worst": worst, "nt_as_matmul_nt": bool(nt_as_matmul_nt), "rows_alone": bool(rows_alone)}


def exp_vs_float64():
    """gpt2cells.exp against float64 exp rounded to float32: the largest distance in units in the last place over
    the range where e^x is a positive float32 (NumPy's own exp's beside it), and whether every other value —
    0 and inf past the range, nan, e^-inf = 0 — came out as NumPy's, on arrays of every length mod 4, in place
    (a strided array is NumPy's exp's)."""
    rng = np.random.default_rng(5)
    x = np.concatenate([np.linspace(-110, 95, 400_001, dtype=np.float32), rng.uniform(-20, 20, 200_003).astype(np.float32),
                        np.array([0, -0.0, 1e-30, 88.72283935546875, 88.7228394, 89, -87.34, -103.97208, -103.98, -104,
                                  np.inf, -np.inf, np.nan, 3e38, -3e38], dtype=np.float32)])
    got = gpt2cells.exp.exp(x, np.empty_like(x))
    exact = np.exp(x.astype(np.float64)).astype(np.float32)
    inside = np.isfinite(exact) & (exact > 0)
    def ulps(values):
        return int(np.abs(values[inside].view(np.int32).astype(np.int64) - exact[inside].view(np.int32).astype(np.int64)).max())
    in_place = x.copy()
    gpt2cells.exp.exp(in_place, in_place)
    return {"ulps": ulps(got), "numpy_ulps": ulps(np.exp(x)),
            "outside_as_numpy": bool(np.array_equal(got[~inside], np.exp(x[~inside]), equal_nan=True)),
            "in_place": bool(np.array_equal(in_place, got, equal_nan=True)),
            "every_length": all(np.array_equal(gpt2cells.exp.exp(x[-n:], np.empty(n, np.float32)), got[-n:], equal_nan=True)
                                for n in range(1, 10)),
            "strided": bool(np.array_equal(gpt2cells.exp.exp(x[::3], np.empty(len(x[::3]), np.float32)), np.exp(x[::3]),
                                           equal_nan=True))}  # not contiguous: NumPy's exp


def windows_differing(model, ids, trace):
    """Rows of a layer computed alone (the notebook's grids: Reference.rows, windows of 8 positions here) that
    differ in a bit from the whole pass's, through the SIMD kernel."""
    from gpt2cells.notebook import reference
    reference.WINDOW_ROWS = 8
    names = ["ln1.out", "attn.qkv", "attn.q", "attn.k", "attn.v", "attn.scaled_scores", "attn.masked_scores",
             "attn.pattern", "attn.z", "attn_out", "resid_mid", "ln2.out", "mlp.pre", "mlp.post", "mlp_out"]
    engine = reference.Reference(model, ids, names)
    differing, T = [], len(ids)
    for layer in range(model.config.n_layer):
        for r0, r1 in ((0, 3), (5, 13), (30, 47), (T - 9, T - 1), (T - 1, T)):
            first, values = engine.rows(layer, r0, r1, trace[f"blocks.{layer}.resid_pre"])
            assert first <= r0 and r1 <= first + values["ln1.out"].shape[0]
            for name in [*names, "resid_post"]:
                whole = trace[f"blocks.{layer}.{name}"][..., first:first + values[name].shape[-2], :]
                if not np.array_equal(values[name], whole):
                    differing.append(f"layer {layer}, rows {r0}:{r1}, {name}")
    return differing


work = WORK_DIR  # set by pyodide_engine.mjs
inputs = json.load(open(f"{work}/inputs.json"))
from_path = gpt2cells.load(f"{work}/tiny.zip")
data = open(f"{work}/tiny.zip", "rb").read()
with zipfile.ZipFile(f"{work}/tiny.zip") as z:  # the page's way: manifest, raw tensor buffers, tokenizer files
    manifest = json.loads(z.read("manifest.json"))
    files = {n: z.read(n) for n in z.namelist() if n.startswith("tokenizer/")}
    tensors = {t["name"]: memoryview(z.read(t["entry"])) for t in manifest["tensors"]}
from_mapping = gpt2cells.load({"manifest": manifest, "tensors": tensors, "files": files})
from_bytes = gpt2cells.load(memoryview(data))
ids = inputs["ids"]
logits = from_path.logits(ids)
trace = from_mapping.run(ids)
np.save(f"{work}/logits.npy", logits)
json.dump({
    "python": sys.version.split()[0], "numpy": np.__version__,
    "same_logits": [bool(np.array_equal(m.logits(ids), logits)) for m in (from_mapping, from_bytes)],
    "trace_dtypes": sorted({str(v.dtype) for v in trace.values()}),
    "trace_logits_equal": bool(np.array_equal(trace["logits"], logits)),
    "greedy": from_path.generate(ids[:5], 20),
    "sampled": [from_path.generate(ids[:5], 10, temperature=1.0, top_k=20, seed=s) for s in (1, 1, 2)],
    "encoded": [from_path.encode(s) for s in inputs["texts"]],
    "round_trip": all(from_path.decode(from_path.encode(s)) == s for s in inputs["texts"]),
    "matmul_backend": gpt2cells.matmul.BACKEND,
    "kernel_vs_einsum": kernel_vs_einsum(),
    "heads_vs_float64": heads_vs_float64(),
    "exp_kernel": gpt2cells.exp.kernel is not None,
    "exp_vs_float64": exp_vs_float64(),
    "windows_differing": windows_differing(from_mapping, ids, trace),
}, open(f"{work}/outputs.json", "w"))
'''


# Chromium runs the fused multiply-add kernel; an engine without relaxed SIMD (Safari, older Node) the plain one.
ENGINES = {"relaxed SIMD": ("--experimental-wasm-relaxed-simd", "wasm SIMD kernel (fused multiply-add)"),
           "no relaxed SIMD": ("--no-experimental-wasm-relaxed-simd", "wasm SIMD kernel")}


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_in_pyodide_matches_hf(engine, tiny_zip, tiny_hf, bpe_dir, tmp_path):
    v8_flag, expected_backend = ENGINES[engine]
    # the page's runtime, as build.py assembles it: Pyodide core from npm, verified numpy + regex wheels
    node, wheels = node_and_wheels()
    shutil.copy(tiny_zip, tmp_path / "tiny.zip")
    # gpt2cells as the page gets it: build.py's package, with the wasm SIMD kernel assembled
    build.package_gpt2cells(tmp_path / "gpt2cells.zip")
    with zipfile.ZipFile(tmp_path / "gpt2cells.zip") as package:
        package.extractall(tmp_path / "py")
    ids = np.random.default_rng(21).integers(0, tiny_hf.config.vocab_size, tiny_hf.config.n_positions).tolist()
    texts = SAMPLES + ["Hello, world! Don't panic: 42 日本語 🙂"]
    (tmp_path / "inputs.json").write_text(json.dumps({"ids": ids, "texts": texts}))
    (tmp_path / "script.py").write_text(SCRIPT)
    run = subprocess.run([node, v8_flag, str(Path(__file__).with_name("pyodide_engine.mjs")), str(build.PYODIDE_NPM_DIR),
                          str(tmp_path / "py"), str(tmp_path), str(tmp_path / "script.py"), *wheels],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    out = json.loads((tmp_path / "outputs.json").read_text())
    print(out["python"], out["numpy"], file=sys.stderr)
    assert out["python"].startswith("3.14") and out["numpy"].startswith("2.")
    assert out["matmul_backend"] == expected_backend
    assert out["kernel_vs_einsum"] < 1e-5  # float32 rounding of sums of up to 3072 products
    assert out["heads_vs_float64"] == {"worst": pytest.approx(0, abs=1e-5), "nt_as_matmul_nt": True, "rows_alone": True}
    # the wasm SIMD exp (softmax's, GELU's): within 1 unit in the last place, as NumPy's; the rest as NumPy
    exp = out["exp_vs_float64"]
    assert out["exp_kernel"] and exp.pop("ulps") <= max(1, exp.pop("numpy_ulps"))
    assert exp == {"outside_as_numpy": True, "in_place": True, "every_length": True, "strided": True}
    assert out["windows_differing"] == []  # a window of a layer (what a grid shows) is the whole pass's, bit for bit
    with torch.no_grad():
        expected = tiny_hf(torch.tensor([ids])).logits[0].numpy()
        greedy = tiny_hf.generate(torch.tensor([ids[:5]]), max_new_tokens=20, do_sample=False,
                                  eos_token_id=None, pad_token_id=0)[0, 5:].tolist()
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), expected, atol=1e-4, rtol=0)
    assert out["same_logits"] == [True, True] and out["trace_logits_equal"] and out["trace_dtypes"] == ["float32"]
    assert out["greedy"] == greedy
    assert out["sampled"][0] == out["sampled"][1] != out["sampled"][2]
    hf = hf_tokenizer(bpe_dir)
    assert out["encoded"] == [hf.encode(s) for s in texts] and out["round_trip"]


PAST_2GIB = '''
import json
import numpy as np
from gpt2cells import exp, matmul

rng = np.random.default_rng(6)
x = rng.standard_normal((3, 768)).astype(np.float32)
w = rng.standard_normal((2, 50, 768)).astype(np.float32) * 0.05
cache = rng.standard_normal((2, 12, 40, 64)).astype(np.float32)
arrays = {"x": x, "w32": w[0], "w16": w[1].astype(np.float16), "q": x[:1].reshape(12, 1, 64), "cache": cache,
          "pattern": rng.random((12, 3, 33)).astype(np.float32), "e": rng.uniform(-5, 5, 1001).astype(np.float32)}


def results(a):
    keys, values = a["cache"][0, :, :33], a["cache"][1, :, :33]  # views with gaps between heads
    e = a["e"].copy()
    exp.exp(e, e)
    return [matmul.matmul_nt(a["x"], a["w32"]), matmul.matmul_nt(a["x"][:1], a["w16"]), matmul.matmul_nt(a["x"], a["w16"]),
            matmul.matmul_nt_heads(a["q"], keys), matmul.matmul_heads(a["pattern"], values), e]


low = results(arrays)


def above_2gib(a):
    """A copy of a past 2 GiB (copies made until one lands there: a freed block below may be reused first)."""
    below = []
    while matmul.address(copy := a.copy()) < 2 ** 31 and len(below) < 100_000:
        below.append(copy)
    return copy


filler = [bytearray(2 ** 30) for _ in range(2)]  # with the runtime's own memory, the heap past 2 GiB
high_arrays = {name: above_2gib(a) for name, a in arrays.items()}
json.dump({"backend": matmul.BACKEND, "exp_kernel": exp.kernel is not None,
           "low": max(matmul.address(a) for a in arrays.values()) < 2 ** 31,
           "high": min(matmul.address(a) for a in high_arrays.values()) > 2 ** 31,
           "same": [bool(np.array_equal(a, b)) for a, b in zip(low, results(high_arrays))]},
          open(f"{WORK_DIR}/outputs.json", "w"))
'''


def test_the_kernels_read_and_write_arrays_past_2gib(tmp_path):
    """The kernels get addresses as plain ints (no ctypes argtypes: ~4 µs a call less): an array past 2 GiB of wasm
    memory (GPT-2 large's and XL's weights lie there) must reach them as the same 32 bits, read unsigned. The same
    products and e^x on arrays below and above 2 GiB, bit for bit."""
    node, wheels = node_and_wheels()
    build.package_gpt2cells(tmp_path / "gpt2cells.zip")
    with zipfile.ZipFile(tmp_path / "gpt2cells.zip") as package:
        package.extractall(tmp_path / "py")
    (tmp_path / "script.py").write_text(PAST_2GIB)
    run = subprocess.run([node, ENGINES["relaxed SIMD"][0], str(Path(__file__).with_name("pyodide_engine.mjs")),
                          str(build.PYODIDE_NPM_DIR), str(tmp_path / "py"), str(tmp_path), str(tmp_path / "script.py"),
                          *wheels], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    out = json.loads((tmp_path / "outputs.json").read_text())
    assert out == {"backend": ENGINES["relaxed SIMD"][1], "exp_kernel": True, "low": True, "high": True, "same": [True] * 6}
