"""Attention's per-head products (steps.attention_scores, steps.weighted_values) as a cell may call them: any
dtype the learner's arrays have, heads laid out any way. Oracles: einsum in float64 written here. (Inside
Pyodide the wasm kernel's own checks are in test_engine_in_pyodide.py.)"""
from __future__ import annotations

import numpy as np
import pytest

from gpt2cells import steps


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scores_and_weighted_values_per_head_in_the_cells_dtype(dtype):
    rng = np.random.default_rng(8)
    qkv = rng.standard_normal((7, 3, 4, 8)).astype(dtype)  # [T, q/k/v, n_head, d_head]
    q, k, v = (qkv[:, i].transpose(1, 0, 2) for i in range(3))  # 3 × [n_head, T, d_head], views as split_heads makes
    scores = steps.attention_scores(q, k)  # [n_head, T, T]
    pattern = steps.softmax(scores.astype(dtype))  # [n_head, T, T]
    z = steps.weighted_values(pattern, v)  # [n_head, T, d_head]
    assert scores.dtype == z.dtype == dtype  # a float64 cell stays float64 (float32 is the engine's)
    as_f64 = [a.astype(np.float64) for a in (q, k, pattern, v)]
    np.testing.assert_allclose(scores, np.einsum("hid,hjd->hij", as_f64[0], as_f64[1]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(z, np.einsum("hij,hjd->hid", as_f64[2], as_f64[3]), rtol=1e-5, atol=1e-5)
