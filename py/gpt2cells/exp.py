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
    function.argtypes, function.restype = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int], None  # x, out; n
    return function


kernel = load_kernel(Path(__file__).with_name("exp_f32.so"))


def exp(x, out):
    """e^x into out, float32 arrays of one shape (out may be x itself)."""
    if (kernel is not None and x.dtype == out.dtype == np.float32 and x.shape == out.shape
            and x.flags.c_contiguous and out.flags.c_contiguous and out.flags.writeable
            and (out is x or not np.may_share_memory(x, out))):
        kernel(address(x), address(out), x.size)
        return out
    return np.exp(x, out=out)
