"""matmul_nt with float16 weights against oracles written here; run on CPython by test_engine_float16.py and
inside Pyodide (the wasm kernel) by the same test, which copies this file next to its script.

numpy only, so it runs in both. The oracle for widening is numpy's own float16 → float64 conversion.
"""
from __future__ import annotations

import numpy as np

# (n, k, m): n from 2 to 5 (or m = 1) the tile of 6 rows of w and 2 of x (k % 8 == 4 takes its 16-byte tail),
# an odd n its last single row, m % 6 != 0 the rows left over after the tile; n ≥ 6 the tiles of 2 rows of w
# and 6 of x, then 4 (n % 6 from 1 to 5: the last six or four rows overlapping; m odd: the last two rows of w)
# one row (decoding): two rows of w a turn, m / 2 apart (m odd: the middle row in two pairs; m = 1: the row
# paired with itself), 64 bytes of each a turn, then 32, 16 and 8 left (k = 92: all four; 100: the 64s and 8)
SHAPES = [(1, 768, 3072), (1, 92, 5), (1, 100, 3), (1, 32, 13), (1, 8, 3), (1, 36, 5), (1, 44, 6), (1, 40, 7),
          (1, 24, 3), (1, 4, 2), (1, 28, 1),
          (2, 36, 7), (2, 40, 12), (4, 24, 13), (3, 32, 7), (5, 8, 1), (9, 20, 1),
          (6, 12, 6), (10, 3072, 768), (7, 772, 19), (8, 20, 3), (9, 16, 2), (11, 36, 5), (16, 8, 4),
          (4, 6, 9)]  # k = 6: not a multiple of 4, the fallback


def every_finite_half() -> np.ndarray:
    """All 63488 finite float16 values (both zeros, subnormals, ±65504) as w [496, 128]."""
    bits = np.arange(1 << 16, dtype=np.uint16)  # [65536]
    halves = bits.view(np.float16)  # [65536]
    return halves[np.isfinite(halves)].reshape(496, 128)  # [496, 128]


def widening_mismatches(matmul_nt) -> int:
    """x = rows of the identity, so out = w.T exactly, whatever the order of the sums: count the wrong values."""
    w = every_finite_half()  # [496, 128]
    expected = w.astype(np.float64).T  # [128, 496]
    eye = np.eye(128, dtype=np.float32)  # [128, 128]
    prompt = matmul_nt(eye[:127], w)  # [127, 496] (odd: the tile's pairs, then its single last row)
    decode = np.concatenate([matmul_nt(eye[p:p + 1], w) for p in range(128)])  # [128, 496] one row at a time
    assert prompt.dtype == decode.dtype == np.float32
    return int((prompt != expected[:127]).sum() + (decode != expected).sum())


def random_half_weights(rng, m, k) -> np.ndarray:
    # GPT-2-like magnitudes, with some subnormal and some large halves mixed in
    w = rng.standard_normal((m, k)) * 0.05  # [m, k]
    w[rng.random((m, k)) < 0.05] *= 1e-4  # many of these are subnormal in float16
    w[rng.random((m, k)) < 0.01] *= 1e4
    return w.astype(np.float16)  # [m, k]


def worst_relative_error(matmul_nt) -> float:
    """Largest |got − exact| / max |exact| over SHAPES, exact = float64 einsum of the widened weights."""
    rng = np.random.default_rng(4)
    worst = 0.0
    for n, k, m in SHAPES:
        x = rng.standard_normal((n, k)).astype(np.float32)  # [n, k]
        w = random_half_weights(rng, m, k)  # [m, k]
        expected = np.einsum("ij,kj->ik", x.astype(np.float64), w.astype(np.float64))  # [n, m]
        got = matmul_nt(x, w)  # [n, m]
        assert got.shape == (n, m) and got.dtype == np.float32, (n, k, m, got.shape, got.dtype)
        worst = max(worst, float(np.abs(got - expected).max() / np.abs(expected).max()))
    return worst


def odd_inputs_ok(matmul_nt) -> dict:
    """Layouts and magnitudes the kernel must not get wrong: strided and transposed x, huge and tiny x, nan.
    (Pyodide's matmul_nt hands x with max |x| outside [2^-40, 2^72) to einsum: there x · 2^56 would overflow or
    the products underflow.)"""
    rng = np.random.default_rng(5)
    w = random_half_weights(rng, 26, 64)  # [26, 64]
    x = rng.standard_normal((64, 12)).astype(np.float32)  # [64, 12]
    strided = rng.standard_normal((8, 64)).astype(np.float32)[:, ::2]  # [8, 32] not contiguous
    cases = {"strided": (strided, w[::2, ::2]),  # [13, 32] not contiguous
             "transposed": (x.T, w),  # [12, 64] in Fortran order
             "huge": (x.T * np.float32(1e21), w),  # near where x · 2^56 would overflow
             "huger": (x.T * np.float32(1e30), w),  # beyond it
             "small": (x.T * np.float32(1e-11), w),  # near where products would underflow
             "tiny": (x.T * np.float32(1e-30), w),  # beyond it
             "one row huger": (x.T[:1] * np.float32(1e30), w),  # the decode path checks x too
             "one row tiny": (x.T[:1] * np.float32(1e-30), w)}
    ok = {}
    for name, (a, b) in cases.items():
        expected = a.astype(np.float64) @ b.astype(np.float64).T  # [n, m]
        got = matmul_nt(a, b)  # [n, m]
        ok[name] = bool(got.dtype == np.float32 and np.all(np.abs(got - expected) <= 1e-5 * np.abs(expected).max()))
    with_nan = x.T.copy()  # [12, 64]
    with_nan[3, 2] = np.nan
    got = matmul_nt(with_nan, w)  # [12, 26]
    ok["nan"] = bool(np.isnan(got[3]).all() and np.isfinite(np.delete(got, 3, axis=0)).all())
    ok["one row nan"] = bool(np.isnan(matmul_nt(with_nan[3:4], w)).all())  # [1, 26]
    return ok


def rows_alone_mismatches(matmul_nt) -> int:
    """Rows of the product that differ in a bit when computed two at a time (another loop of the kernel) from the
    same rows among all of SHAPES' (the notebook shows a window of a layer's rows as the whole pass's: where the
    wasm kernel runs, each value must be the same sums in the same order whichever loop made it)."""
    rng = np.random.default_rng(6)
    mismatches = 0
    for n, k, m in SHAPES:
        if n >= 3 and k % 4 == 0:
            x = rng.standard_normal((n, k)).astype(np.float32)  # [n, k]
            w = random_half_weights(rng, m, k)  # [m, k]
            whole = matmul_nt(x, w)  # [n, m]
            mismatches += sum(int((matmul_nt(x[i:i + 2], w) != whole[i:i + 2]).sum()) for i in range(n - 1))
    return mismatches


def results(matmul_nt) -> dict:
    return {"widening_mismatches": widening_mismatches(matmul_nt), "worst_relative_error": worst_relative_error(matmul_nt),
            "odd_inputs_ok": odd_inputs_ok(matmul_nt), "rows_alone_mismatches": rows_alone_mismatches(matmul_nt)}
