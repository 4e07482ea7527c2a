"""e^x for float32 arrays — softmax's and GELU's exponentials — as fast as the runtime allows.

- CPython: NumPy's exp.
- Pyodide (the page): NumPy there computes exp one value at a time (its SIMD loops are not built for wasm); at
  1024 tokens that was ~60 % of each softmax over a [12 × 1024 × 1024] attention array. build.py assembles
  exp_f32.wat into exp_f32.so next to this file; loaded with ctypes, it works on the arrays in place, four values
  at a time, within 1 unit in the last place of the exact value, as NumPy's exp.
"""
from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np

from .matmul import address


def load_kernel(path):
    """The kernel's function through ctypes, or None where it cannot run."""
    if sys.platform != "emscripten" or not path.exists():
        return None
    try:
        function = ctypes.CDLL(str(path)).exp_f32
    except OSError:  # an engine without wasm SIMD
        return None
    function.restype = None  # arguments: x, out addresses; n (no argtypes, as matmul.load_wasm_kernels says why)
    return function


kernel = load_kernel(Path(__file__).with_name("exp_f32.so"))


def exp(x, out):
    """e^x into out, float32 arrays of one shape (out may be x itself); e^x past float32's range is inf."""
    if kernel is not None and kernel_takes(x, out):
        source = address(x)
        kernel(source, source if out is x else address(out), x.size)
        return out
    with np.errstate(over="ignore"):  # inf where float32 ends, as the kernel gives it, without a warning
        return np.exp(x, out=out)


def kernel_takes(x, out):
    if not (x.dtype == out.dtype == np.float32 and x.flags.c_contiguous):
        return False
    if out is x:  # in place, as the steps call it: the checks below hold or fail for both at once
        return x.flags.writeable
    return (x.shape == out.shape and out.flags.c_contiguous and out.flags.writeable
            and not np.may_share_memory(x, out))
