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
  matmul_nt.wat): einsum computes those).

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
    pointers, sizes = [ctypes.c_void_p] * 3, [ctypes.c_int] * 3  # x, w, out; n, k, m
    module.matmul_nt.argtypes, module.matmul_nt.restype = pointers + sizes, None
    # float16: a scratch array for x · 2^56 too; it returns 0 when x is out of its range (out not written)
    module.matmul_nt_f16.argtypes, module.matmul_nt_f16.restype = pointers + sizes + [ctypes.c_void_p], ctypes.c_int
    return {np.dtype(np.float32): module.matmul_nt, np.dtype(np.float16): module.matmul_nt_f16}


BACKEND, wasm_kernels = next(((name, kernels) for name, path in KERNELS if (kernels := load_wasm_kernels(path))),
                             ("einsum (no BLAS)" if sys.platform == "emscripten" else "numpy @", {}))
# Whether a row of the product is the same sums in the same order whatever rows come with it: the wasm kernel's
# and einsum's are (tests/engine/test_engine_in_pyodide.py), BLAS may block a few rows unlike many. Where they
# are, rows of a layer computed alone are those of the whole layer bit for bit (Reference.rows).
ROWS_ALONE_EXACT = BACKEND != "numpy @"


def matmul_nt(x, w):
    """x [n, k] float32 times w [m, k] (float32 or float16) transposed → [n, m] float32."""
    kernel = wasm_kernels.get(w.dtype)
    if kernel is not None and kernel_takes(x, w):
        x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
        out = np.empty((x.shape[0], w.shape[0]), dtype=np.float32)  # [n, m]
        if w.dtype == np.float32:
            kernel(address(x), address(w), address(out), x.shape[0], x.shape[1], w.shape[0])
            return out
        scaled = np.empty_like(x)  # [n, k] the kernel's x · 2^56
        if kernel(address(x), address(w), address(out), x.shape[0], x.shape[1], w.shape[0], address(scaled)):
            return out
    return np.einsum("...j,kj->...k", x, w) if sys.platform == "emscripten" else x @ w.T  # [n, m]


def address(a):
    """Where a C-contiguous array's data starts. ctypes' own view of a writable buffer is ~3x faster than
    a.ctypes.data in Pyodide (a decoded token takes ~200 of these)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(a)) if a.flags.writeable and a.size else a.ctypes.data


def kernel_takes(x, w):
    return x.dtype == np.float32 and x.ndim == 2 and w.ndim == 2 and x.shape[1] == w.shape[1] and x.shape[1] % 4 == 0
