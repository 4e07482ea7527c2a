"""float16 weights stay float16 in memory and are multiplied in float32: the kernel against float64 einsum of the
widened weights, and a float16 zip made by `weights_pack convert --dtype float16` against Hugging Face run in
float32 on the same float16-rounded weights — on CPython and inside Pyodide (the page's wasm kernel)."""
from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import build
import gpt2cells
import weights_pack
from gpt2cells import steps
from gpt2cells.matmul import matmul_nt
from tests import model_factory
from tests.engine import float16_checks
from tests.engine.test_engine_in_pyodide import ENGINES
from tests.pyodide_host import node_and_wheels

RELATIVE = 1e-4  # max |Δlogit| / max |logit| against HF on the same rounded weights


@pytest.fixture(scope="module")
def rounded_hf(bpe_dir):
    """A random small GPT-2 whose weights are all float16 values (HF then runs them in float32)."""
    config = model_factory.gpt2_config(model_factory.vocab_size_of(bpe_dir), n_layer=2, n_head=4, n_embd=64, n_ctx=64)
    model = model_factory.random_gpt2(config, seed=7, init_std=0.2)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    return model


@pytest.fixture(scope="module")
def f16_zip(rounded_hf, bpe_dir, tmp_path_factory):
    folder = model_factory.save_hf_folder(rounded_hf, bpe_dir, tmp_path_factory.mktemp("hf16") / "rounded")
    return weights_pack.convert(folder, tmp_path_factory.mktemp("zip16") / "f16.zip", dtype="float16").path


def prompt_ids(vocab_size):
    return np.random.default_rng(22).integers(0, vocab_size, 64).tolist()  # n_ctx positions


def hf_reference(model, ids):
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].numpy()  # [n_seq, vocab]
        greedy = model.generate(torch.tensor([ids[:5]]), max_new_tokens=20, do_sample=False,
                                eos_token_id=None, pad_token_id=0)[0, 5:].tolist()
    return logits, greedy


def relative_error(ours, theirs):
    return float(np.abs(ours.astype(np.float64) - theirs).max() / np.abs(theirs).max())


def test_kernel_on_cpython():
    out = float16_checks.results(matmul_nt)
    assert out["widening_mismatches"] == 0
    assert out["worst_relative_error"] < 1e-5  # float32 rounding of sums of up to 3072 products
    assert all(out["odd_inputs_ok"].values()), out["odd_inputs_ok"]


def test_float16_model_stays_float16_and_matches_hf(f16_zip, rounded_hf):
    model = gpt2cells.load(f16_zip, verify_sha256=True)
    # matrices float16; vectors (biases, layer norms) widened to float32 at load, the same values
    assert {(p.ndim, p.dtype) for p in model.params.values()} == {(2, np.dtype(np.float16)), (1, np.dtype(np.float32))}
    hf_wte = rounded_hf.transformer.wte.weight.detach().numpy()
    assert np.array_equal(model.params["wte.weight"].astype(np.float32), hf_wte)  # the packing lost nothing
    hf_gain = rounded_hf.transformer.h[1].ln_2.weight.detach().numpy()
    assert np.array_equal(model.params["h.1.ln_2.weight"], hf_gain)
    ids = prompt_ids(model.config.vocab_size)
    expected, greedy = hf_reference(rounded_hf, ids)
    assert relative_error(model.logits(ids), expected) <= RELATIVE
    assert model.generate(ids[:5], 20) == greedy
    trace = model.run(ids[:9])
    assert {v.dtype for v in trace.values()} == {np.dtype(np.float32)}  # every cell shows float32
    assert np.array_equal(steps.embed(model.params["wte.weight"], [3, 1]), hf_wte[[3, 1]])


SCRIPT = '''
import json, sys
import numpy as np
sys.path.insert(0, WORK_DIR)  # float16_checks.py, copied there by the test
import float16_checks
import gpt2cells
import gpt2cells.matmul

model = gpt2cells.load(f"{WORK_DIR}/f16.zip")
ids = json.load(open(f"{WORK_DIR}/ids.json"))
np.save(f"{WORK_DIR}/logits.npy", model.logits(ids))
json.dump({
    "backend": gpt2cells.matmul.BACKEND,
    "kernel": float16_checks.results(gpt2cells.matmul.matmul_nt),
    "param_dtypes": sorted({(p.ndim, str(p.dtype)) for p in model.params.values()}),
    "trace_dtypes": sorted({str(v.dtype) for v in model.run(ids[:9]).values()}),
    "greedy": model.generate(ids[:5], 20),
}, open(f"{WORK_DIR}/outputs.json", "w"))
'''


@pytest.mark.parametrize("engine", ENGINES)
def test_float16_in_pyodide(engine, f16_zip, rounded_hf, tmp_path):
    v8_flag, expected_backend = ENGINES[engine]
    node, wheels = node_and_wheels()
    build.package_gpt2cells(tmp_path / "gpt2cells.zip")  # as the page gets it, the wasm kernel assembled
    with zipfile.ZipFile(tmp_path / "gpt2cells.zip") as package:
        package.extractall(tmp_path / "py")
    shutil.copy(f16_zip, tmp_path / "f16.zip")
    shutil.copy(Path(float16_checks.__file__), tmp_path / "float16_checks.py")
    ids = prompt_ids(rounded_hf.config.vocab_size)
    (tmp_path / "ids.json").write_text(json.dumps(ids))
    (tmp_path / "script.py").write_text(SCRIPT)
    run = subprocess.run([node, v8_flag, str(Path(__file__).with_name("pyodide_engine.mjs")), str(build.PYODIDE_NPM_DIR),
                          str(tmp_path / "py"), str(tmp_path), str(tmp_path / "script.py"), *wheels],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    out = json.loads((tmp_path / "outputs.json").read_text())
    assert out["backend"] == expected_backend
    assert out["kernel"]["widening_mismatches"] == 0
    assert out["kernel"]["worst_relative_error"] < 1e-5
    assert all(out["kernel"]["odd_inputs_ok"].values()), out["kernel"]["odd_inputs_ok"]
    assert out["kernel"]["rows_alone_mismatches"] == 0  # (BLAS on CPython need not: matmul.ROWS_ALONE_EXACT)
    assert out["param_dtypes"] == [[1, "float32"], [2, "float16"]] and out["trace_dtypes"] == ["float32"]
    expected, greedy = hf_reference(rounded_hf, ids)
    assert relative_error(np.load(tmp_path / "logits.npy"), expected) <= RELATIVE
    assert out["greedy"] == greedy
