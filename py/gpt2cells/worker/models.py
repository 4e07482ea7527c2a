"""The page's model entry points (`gpt2cells.worker.models.<function>`): a stored model from IndexedDB into numpy.

The page sends tensors a few at a time (`put_tensors`), transferring their ArrayBuffers to the worker;
Pyodide copies each once into wasm memory (the memoryviews the call receives) and `np.frombuffer` views that
copy without another. The previous model is dropped before a load starts, so peak memory is one model plus
one call's tensors in flight. The loaded model stays in the module global `model`; gpt2cells.worker.notebook
hands it to the notebook it opens.
"""
from __future__ import annotations

import gc
import json

import numpy as np

import gpt2cells
from gpt2cells.weights_format import expected_shapes

model = None  # the active gpt2cells model; notebook cells use it
manifest = None  # its manifest (dict)
_loading = None  # {"manifest", "tensors", "files"} while a load is in progress


def _release_model() -> None:
    global model, manifest, _loading
    model = manifest = _loading = None
    gc.collect()  # large arrays go back to the allocator before the next model's arrive


def begin_load(manifest_json: str) -> None:
    """Start loading the model described by manifest_json; the current model is released first."""
    global _loading
    _release_model()
    _loading = {"manifest": json.loads(manifest_json), "tensors": {}, "files": {}}


def _tensor_spec(name: str) -> dict:
    if _loading is None:
        raise RuntimeError("put_tensors/put_file called without begin_load")
    for spec in _loading["manifest"]["tensors"]:
        if spec["name"] == name:
            return spec
    raise KeyError(f"tensor {name!r} is not in the manifest being loaded")


def put_tensors(names: list, buffers: list) -> int:
    """Keep these tensors; buffers are the memoryviews Pyodide made from the transferred ArrayBuffers."""
    if len(names) != len(buffers):
        raise ValueError(f"put_tensors: {len(names)} names but {len(buffers)} buffers")
    return sum(_put_tensor(name, data) for name, data in zip(names, buffers))


def _put_tensor(name: str, data) -> int:
    spec = _tensor_spec(name)
    raw = memoryview(data).cast("B")
    if raw.nbytes != spec["nbytes"]:
        raise ValueError(f"tensor {name!r}: got {raw.nbytes} bytes, manifest says {spec['nbytes']}")
    array = np.frombuffer(raw, dtype=np.dtype(spec["dtype"]).newbyteorder("<")).reshape(spec["shape"])  # [*shape]
    _loading["tensors"][name] = array  # [*shape] a float16 matrix stays float16 (gpt2cells.loading widens vectors)
    return raw.nbytes


def put_file(path: str, text: str) -> None:
    """Keep one tokenizer file (its text)."""
    if _loading is None:
        raise RuntimeError("put_file called without begin_load")
    _loading["files"][path] = text


def cancel_load() -> None:
    _release_model()


def finish_load() -> dict:
    """Build the model from everything received; returns a summary for the status line."""
    global model, manifest, _loading
    loading, _loading = _loading, None
    if loading is None:
        raise RuntimeError("finish_load called without begin_load")
    missing = set(expected_shapes(loading["manifest"]["config"])) - set(loading["tensors"])
    if missing:
        raise ValueError(f"load incomplete: {len(missing)} tensor(s) never arrived, e.g. {sorted(missing)[0]!r}")
    manifest = loading["manifest"]
    model = gpt2cells.load({"manifest": manifest, "tensors": loading["tensors"], "files": loading["files"]})
    n_params = sum(int(a.size) for a in loading["tensors"].values())
    n_bytes = sum(int(a.nbytes) for a in loading["tensors"].values())
    return {"name": manifest["name"], "config": manifest["config"], "n_params": n_params, "n_bytes": n_bytes}


def loaded() -> dict | None:
    """Name and config of the model in memory, or None."""
    if model is None:
        return None
    return {"name": manifest["name"], "config": manifest["config"]}


def active_model():
    """The loaded model, for the other entry points (the notebook's)."""
    if model is None:
        raise RuntimeError("no model is loaded: drop a weights zip or pick a stored model")
    return model


def logits_for(text: str) -> dict:
    """Token ids of text and the model's logits for them (tests compare these with native gpt2cells)."""
    active = active_model()
    ids = active.encode(text)
    logits = np.asarray(active.logits(ids), dtype=np.float32)  # [n_seq, vocab_size]
    return {"ids": list(ids), "shape": list(logits.shape), "logits": logits.ravel().tobytes()}
