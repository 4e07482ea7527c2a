"""Buffers between the page and Python once wasm memory passes 2 GiB (the worker calls these; Pyodide only).

Pyodide 314.0.3 copies a buffer between JavaScript and wasm memory at a signed 32-bit address. Past 2 GiB of
heap (GPT-2 large, GPT-2 XL in float16) a JavaScript buffer cannot be copied in ("RangeError: offset is out
of bounds") and a Python buffer lying above 2 GiB comes out with the wrong bytes, read from elsewhere. When
the heap may hold such addresses, site/worker.js moves buffers through these functions, which copy at the
unsigned address (Python ints reach JavaScript as positive numbers).

Strings have the same flaw: Pyodide decodes an ASCII str of 64 characters or more from a signed address (shorter
ones, and others, character by character from the right one), so past 2 GiB a long str lying above it comes out
as other text. buffers_out hands such a str to the worker's text_at(address, length), which decodes its UTF-8
bytes at the unsigned address into a JavaScript String object (an object, so it reaches JavaScript as it is;
the worker turns it back into a plain string). A str returned by itself is decoded before the worker sees it,
so past 2 GiB the worker runs code and calls through exec_out and call_out, and routes a call's progress reports
through buffers_out. A dict key is a str too: a dict with a long key above 2 GiB is made a JavaScript object here.
"""
from __future__ import annotations

import ctypes
import inspect
import sys

import numpy as np
import pyodide_js
from pyodide.code import eval_code_async
from pyodide.ffi import to_js
from js import Object, BigInt64Array, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Uint16Array, Uint32Array

SIGNED_LIMIT = 2 ** 31  # the first address Pyodide's own copies get wrong
SHORTEST_MISREAD_STR = 64  # shorter ones Pyodide copies character by character, at the right address
# memoryview format → the typed array Pyodide's own conversion gives ("B" and others: Uint8Array)
TYPED_ARRAYS = {"b": Int8Array, "h": Int16Array, "H": Uint16Array, "i": Int32Array, "I": Uint32Array,
                "l": Int32Array, "L": Uint32Array, "q": BigInt64Array, "f": Float32Array, "d": Float64Array}


def buffer_in(view, format: str = "B"):
    """A JavaScript Uint8Array (over the bytes of any typed array) → a memoryview of a fresh Python copy."""
    target = bytearray(view.byteLength)
    if target:
        pyodide_js._module.HEAPU8.set(view, ctypes.addressof(ctypes.c_char.from_buffer(target)))
    return memoryview(target) if format == "B" else memoryview(target).cast(format)


def buffers_out(value, text_at=None):
    """value with every flat buffer above 2 GiB (bytes, memoryview, 1-d numpy array, in dicts, lists and tuples)
    replaced by a JavaScript typed array copied from its unsigned address, and (given text_at) every long str
    above it by text_at's String object; everything else as it is."""
    if isinstance(value, dict):
        items = [(text_out(key, text_at) if text_at is not None and isinstance(key, str) else key,
                  buffers_out(item, text_at)) for key, item in value.items()]
        if all(routed is key for (routed, _), key in zip(items, value)):
            return dict(items)
        # a key Pyodide would misread is a JavaScript String now, which a dict cannot hold: the object is made here
        return Object.fromEntries(to_js(items, dict_converter=Object.fromEntries, create_pyproxies=False))
    if isinstance(value, (list, tuple)):
        return [buffers_out(item, text_at) for item in value]
    if isinstance(value, str):
        return value if text_at is None else text_out(value, text_at)
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


def text_out(text, text_at):
    """A str Pyodide would decode from the wrong address → text_at(address, length) over its UTF-8 bytes."""
    # a str object holds its characters after its header: id() is its address, getsizeof() its size
    if len(text) < SHORTEST_MISREAD_STR or id(text) + sys.getsizeof(text) <= SIGNED_LIMIT:
        return text
    data = text.encode()
    return text_at(np.frombuffer(data, dtype=np.uint8).ctypes.data, len(data))


async def exec_out(code, namespace, text_at):
    """The value of code's last expression (as Pyodide's runPythonAsync), routed by buffers_out."""
    return buffers_out(await eval_code_async(code, globals=namespace), text_at)


def call_out(fn, args, kwargs, text_at):
    """fn(*args, **kwargs) routed by buffers_out (awaited first when fn is async)."""
    result = fn(*args, **kwargs)
    return awaited_out(result, text_at) if inspect.isawaitable(result) else buffers_out(result, text_at)


async def awaited_out(awaitable, text_at):
    return buffers_out(await awaitable, text_at)
