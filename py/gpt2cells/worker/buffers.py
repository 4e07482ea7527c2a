"""Buffers between the page and Python once wasm memory passes 2 GiB (the worker calls these; Pyodide only).

Pyodide 314.0.3 copies a buffer between JavaScript and wasm memory at a signed 32-bit address. Past 2 GiB of
heap (GPT-2 large, GPT-2 XL in float16) a JavaScript buffer cannot be copied in ("RangeError: offset is out
of bounds") and a Python buffer lying above 2 GiB comes out with the wrong bytes, read from elsewhere. When
the heap may hold such addresses, site/worker.js moves buffers through these two functions, which copy at the
unsigned address (Python ints reach JavaScript as positive numbers).
"""
from __future__ import annotations

import ctypes

import numpy as np
import pyodide_js
from js import BigInt64Array, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Uint16Array, Uint32Array

SIGNED_LIMIT = 2 ** 31  # the first address Pyodide's own copies get wrong
# memoryview format → the typed array Pyodide's own conversion gives ("B" and others: Uint8Array)
TYPED_ARRAYS = {"b": Int8Array, "h": Int16Array, "H": Uint16Array, "i": Int32Array, "I": Uint32Array,
                "l": Int32Array, "L": Uint32Array, "q": BigInt64Array, "f": Float32Array, "d": Float64Array}


def buffer_in(view, format: str = "B"):
    """A JavaScript Uint8Array (over the bytes of any typed array) → a memoryview of a fresh Python copy."""
    target = bytearray(view.byteLength)
    if target:
        pyodide_js._module.HEAPU8.set(view, ctypes.addressof(ctypes.c_char.from_buffer(target)))
    return memoryview(target) if format == "B" else memoryview(target).cast(format)


def buffers_out(value):
    """value with every flat buffer above 2 GiB (bytes, memoryview, 1-d numpy array, in dicts, lists and tuples)
    replaced by a JavaScript typed array copied from its unsigned address; everything else as it is."""
    if isinstance(value, dict):
        return {key: buffers_out(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [buffers_out(item) for item in value]
    if not isinstance(value, (bytes, bytearray, memoryview, np.ndarray)):
        return value
    view = memoryview(value)
    if view.ndim > 1 or not view.c_contiguous or not view.nbytes:
        return value
    address = np.frombuffer(view.cast("B"), dtype=np.uint8).ctypes.data
    if address + view.nbytes <= SIGNED_LIMIT:
        return value
    copy = pyodide_js._module.HEAPU8.slice(address, address + view.nbytes)  # a Uint8Array of its own
    typed = TYPED_ARRAYS.get(view.format.lstrip("<=@"))
    return typed.new(copy.buffer) if typed is not None else copy
