"""x @ w.T for float32 x and float32 or float16 w — the contraction that takes most of GPT-2's time — as fast
as the runtime allows. The result is float32 either way: float16 weights are widened to float32 and every
product and sum is float32.

- CPython: NumPy's `@`, which calls BLAS (a float16 w is cast to a float32 copy first).
- Pyodide (the page): NumPy there has no BLAS, and `@` is ~10x slower than `einsum`. build.py assembles
  matmul_nt.wat (wasm SIMD) into matmul_nt.so next to this file; loaded with ctypes, it works on the numpy
  arrays in place and is ~3x faster than einsum. It multiplies-and-adds with relaxed SIMD's fused
  instruction; an engine without relaxed SIMD refuses that module and gets matmul_nt_simd128.so, the same
  kernel with a separate multiply and add. Without either (no wasm SIMD at all), einsum.
  The module has one function per weight dtype: matmul_nt (float32 w) and matmul_nt_f16 (float16 w, widened
  in registers, so a float16 model stays float16 in memory and decode reads half the bytes; it works on x times
  2^56, which it writes into a scratch array we pass, and declines x too large or too small for that (see
  matmul_nt.wat): einsum computes those). Attention's per-head products go through the module too
  (matmul_nt_heads, matmul_heads): every head in one call.

Every backend sums the same products in float32, so results agree to float32 rounding (tests: ≤ 1e-4 on logits
against Hugging Face, and kernel vs einsum directly).
"""
from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np

# (backend name, side module) best first
KERNELS = (("wasm SIMD kernel (fused multiply-add)", Path(__file__).with_name("matmul_nt.so")),
           ("wasm SIMD kernel", Path(__file__).with_name("matmul_nt_simd128.so")))


def load_wasm_kernels(path):
    """{w dtype: the kernel's function} through ctypes, or None where it cannot run."""
    if sys.platform != "emscripten" or not path.exists():
        return None
    try:
        module = ctypes.CDLL(str(path))
    except OSError:  # the engine lacks a wasm feature the module uses, so it does not compile
        return None
    # No argtypes: ctypes passes a Python int as a C int bit for bit (an address past 2 GiB too: wasm32's
    # addresses are 32 bits, read unsigned), where converting through argtypes cost ~4 µs a call in Pyodide
    # (~0.2 ms of a decoded token). Arguments: x, w, out addresses; n, k, m; float16 also the scratch array's
    # address (x · 2^56), and it returns 0 when x is out of its range (out not written).
    module.matmul_nt.restype, module.matmul_nt_f16.restype = None, ctypes.c_int
    # every head of attention in one call: x, w, out addresses; heads, n, k, m; values from one head to the next
    # in x and in w (out is [heads, n, m])
    module.matmul_nt_heads.restype = module.matmul_nn_heads.restype = None
    return {np.dtype(np.float32): module.matmul_nt, np.dtype(np.float16): module.matmul_nt_f16,
            "nt heads": module.matmul_nt_heads, "nn heads": module.matmul_nn_heads}


def address(a):
    """Where an array's data starts (its first value). ctypes' own view of a writable buffer is ~3x faster than
    a.ctypes.data in Pyodide (a decoded token takes ~170 of these)."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))
    except (TypeError, ValueError, BufferError):  # read-only, empty, or not contiguous
        return a.ctypes.data


BACKEND, wasm_kernels = next(((name, kernels) for name, path in KERNELS if (kernels := load_wasm_kernels(path))),
                             ("einsum (no BLAS)" if sys.platform == "emscripten" else "numpy @", {}))
# Whether a row of the product is the same sums in the same order whatever rows come with it (two rows or more:
# the kernel's one-row path, decoding's, sums in another order): the wasm kernel's and einsum's are
# (tests/engine/test_engine_in_pyodide.py), BLAS may block a few rows unlike many. Where they are, rows of a
# layer computed alone are those of the whole layer bit for bit (Reference.rows).
ROWS_ALONE_EXACT = BACKEND != "numpy @"
# The float16 kernel's scratch array for x · 2^56, made once for every x up to this size (a decoded token's row,
# a short prompt's rows): a new array and its address each call cost more than the kernel's sums over a
# 768 × 768 float16 weight (decoding a token makes 49 calls).
SCRATCH = np.empty(1 << 16 if wasm_kernels else 0, dtype=np.float32)
SCRATCH_ADDRESS = address(SCRATCH) if wasm_kernels else None


def matmul_nt(x, w):
    """x [n, k] float32 times w [m, k] (float32 or float16) transposed → [n, m] float32."""
    kernel = wasm_kernels.get(w.dtype)
    if kernel is not None and kernel_takes(x, w):
        x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
        (n, k), m = x.shape, w.shape[0]
        out = np.empty((n, m), dtype=np.float32)  # [n, m]
        if w.dtype == np.float32:
            kernel(address(x), address(w), address(out), n, k, m)
            return out
        scratch = None if x.size <= SCRATCH.size else np.empty_like(x)  # [n, k] the kernel's x · 2^56
        if kernel(address(x), address(w), address(out), n, k, m, SCRATCH_ADDRESS if scratch is None else address(scratch)):
            return out
    return np.einsum("...j,kj->...k", x, w) if sys.platform == "emscripten" else x @ w.T  # [n, m]


def kernel_takes(x, w):
    return x.dtype == np.float32 and x.ndim == 2 and w.ndim == 2 and x.shape[1] == w.shape[1] and x.shape[1] % 4 == 0


# ---- attention: each head's product, every head in one call ----

def matmul_nt_heads(x, w):
    """x [h, n, k] times w [h, m, k] transposed, head by head → [h, n, m] (attention's scores): float32, or
    float64 from a cell's float64 arrays."""
    kernel = wasm_kernels.get("nt heads")
    if kernel is not None and heads_take(x, w) and x.shape[2] == w.shape[2] and x.shape[2] % 4 == 0:
        return heads_product(kernel, x, w, w.shape[1])
    return head_by_head(x, w.transpose(0, 2, 1))  # [h, n, m]


def matmul_heads(x, w):
    """x [h, n, k] times w [h, k, m], head by head → [h, n, m] (attention's pattern times the values): float32,
    or float64 from a cell's float64 arrays."""
    kernel = wasm_kernels.get("nn heads")
    if kernel is not None and heads_take(x, w) and x.shape[2] == w.shape[1] and w.shape[2] % 4 == 0:
        return heads_product(kernel, x, w, w.shape[2])
    return head_by_head(x, w)  # [h, n, m]


def head_by_head(x, w):
    """x [h, n, k] @ w [h, k, m] through matmul_nt a head at a time, into one array: each head's product is then
    what matmul_nt gives whether the other heads come with it or not (a record that takes attention a head at a
    time sees the values of the pass over every head; einsum over all heads sums in another order)."""
    out = np.empty((len(x), x.shape[1], w.shape[2]), dtype=np.result_type(x, w, np.float32))  # [h, n, m]
    for h, (x_h, w_h) in enumerate(zip(x, w)):
        out[h] = matmul_nt(x_h, w_h.T)  # [n, m], into place: no list of every head's product beside them
    return out


def heads_take(x, w):
    return x.dtype == w.dtype == np.float32 and x.ndim == w.ndim == 3 and len(x) == len(w)


def heads_product(kernel, x, w, m):
    (x, x_at, x_step), (w, w_at, w_step) = heads_laid_out(x), heads_laid_out(w)
    heads, n, k = x.shape
    out = np.empty((heads, n, m), dtype=np.float32)  # [h, n, m]
    kernel(x_at, w_at, address(out), heads, n, k, m, x_step, w_step)
    return out


def heads_laid_out(a):
    """(a, its address, values from one head's start to the next's), each head a C-contiguous block: a itself
    when it is laid out so (a KV cache's heads, a capacity apart; the heads of one decoded position), else a copy."""
    heads, rows, cols = a.shape
    head_step, row_step, col_step = a.strides
    if (col_step == 4 or cols <= 1) and (row_step == 4 * cols or rows <= 1) and head_step >= 0 and head_step % 4 == 0:
        # head 0's block starts where a does and is C-contiguous, so ctypes takes its buffer (a view with gaps
        # between heads has none to take: a.ctypes.data, twice the time)
        return a, address(a[0] if heads else a), head_step // 4
    a = np.ascontiguousarray(a)
    return a, address(a), rows * cols
