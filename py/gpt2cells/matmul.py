"""x @ w.T for float32 — the contraction that takes most of GPT-2's time — as fast as the runtime allows.

- CPython: NumPy's `@`, which calls BLAS.
- Pyodide (the page): NumPy there has no BLAS, and `@` is ~10x slower than `einsum`. build.py assembles
  matmul_nt.wat (wasm SIMD) into matmul_nt.so next to this file; loaded with ctypes, it works on the numpy
  arrays in place and is ~3x faster than einsum. It multiplies-and-adds with relaxed SIMD's fused
  instruction; an engine without relaxed SIMD refuses that module and gets matmul_nt_simd128.so, the same
  kernel with a separate multiply and add. Without either (no wasm SIMD at all), einsum.

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


def load_wasm_kernel(path):
    """The kernel's matmul_nt(x, w, out, n, k, m) through ctypes, or None where it cannot run."""
    if sys.platform != "emscripten" or not path.exists():
        return None
    try:
        kernel = ctypes.CDLL(str(path)).matmul_nt
    except OSError:  # the engine lacks a wasm feature the module uses, so it does not compile
        return None
    kernel.restype = None
    kernel.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int] * 3
    return kernel


BACKEND, wasm_kernel = next(((name, kernel) for name, path in KERNELS if (kernel := load_wasm_kernel(path))),
                            ("einsum (no BLAS)" if sys.platform == "emscripten" else "numpy @", None))


def matmul_nt(x, w):
    """x [n, k] times w [m, k] transposed → [n, m]."""
    kernel_fits = x.ndim == 2 and w.ndim == 2 and x.shape[1] == w.shape[1] and x.shape[1] % 4 == 0
    if wasm_kernel is None or not kernel_fits or x.dtype != np.float32 or w.dtype != np.float32:
        return np.einsum("...j,kj->...k", x, w) if sys.platform == "emscripten" else x @ w.T  # [n, m]
    x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
    out = np.empty((x.shape[0], w.shape[0]), dtype=np.float32)  # [n, m]
    wasm_kernel(x.ctypes.data, w.ctypes.data, out.ctypes.data, x.shape[0], x.shape[1], w.shape[0])
    return out
