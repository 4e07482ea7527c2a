"""A format-v1 weights zip (docs/weights-format.md) from a Hugging Face GPT2LMHeadModel, for engine tests.

Stands in for weights_pack while it is written; deliberately small and independent of gpt2cells.
"""
from __future__ import annotations

import hashlib
import json
import struct
import zipfile
from pathlib import Path

import numpy as np

ALIGN_EXTRA_ID = 0xD935  # an extra-field record that only pads


def hf_tensors(model) -> dict[str, np.ndarray]:
    """Checkpoint names without `transformer.`; Conv1D weights [in, out] transposed to [out, in]; tied head dropped."""
    tensors = {}
    for name, t in model.state_dict().items():
        if not name.startswith("transformer.") or name.endswith((".attn.bias", ".attn.masked_bias")):
            continue
        array = t.detach().cpu().numpy().astype(np.float32)
        if name.startswith("transformer.h.") and array.ndim == 2:
            array = array.T
        tensors[name.removeprefix("transformer.")] = np.ascontiguousarray(array)
    return tensors


def manifest(hf_config, tensors: dict, dtype: str = "float32", tokenizer: dict | None = None) -> dict:
    itemsize = np.dtype(dtype).itemsize
    return {
        "format": "gpt2cells-weights", "format_version": 1, "name": "test", "family": "gpt2",
        "config": {"n_layer": hf_config.n_layer, "n_head": hf_config.n_head, "n_embd": hf_config.n_embd,
                   "n_ctx": hf_config.n_positions, "vocab_size": hf_config.vocab_size,
                   "layer_norm_epsilon": hf_config.layer_norm_epsilon},
        "tokenizer": tokenizer or {"kind": "bpe", "eos_token": "<|endoftext|>",
                                   "files": {"vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt"}},
        "tensors": [{"name": name, "dtype": dtype, "shape": list(a.shape), "entry": f"tensors/{name}.bin",
                     "nbytes": a.size * itemsize, "sha256": hashlib.sha256(a.astype(dtype).tobytes()).hexdigest()}
                    for name, a in tensors.items()],
        "source": {"kind": "test"},
    }


def bpe_files(tokenizer_dir: Path) -> dict[str, bytes]:
    return {f"tokenizer/{n}": (Path(tokenizer_dir) / n).read_bytes() for n in ("vocab.json", "merges.txt")}


def write_zip(path: Path, manifest: dict, tensors: dict, files: dict) -> Path:
    """STORED entries; tensor data padded (local-header extra field) to start at multiples of 64."""
    dtype = {t["name"]: t["dtype"] for t in manifest["tensors"]}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("manifest.json", json.dumps(manifest))
        for name, array in tensors.items():
            info = zipfile.ZipInfo(f"tensors/{name}.bin")
            pad = -(z.fp.tell() + 30 + len(info.filename.encode())) % 64
            pad += 64 if 0 < pad < 4 else 0
            info.extra = struct.pack("<HH", ALIGN_EXTRA_ID, pad - 4) + bytes(pad - 4) if pad else b""
            z.writestr(info, array.astype(dtype[name]).tobytes())
        for entry, data in files.items():
            z.writestr(entry, data)
    return Path(path)


def hf_zip(model, tokenizer_dir: Path, path: Path, dtype: str = "float32") -> Path:
    tensors = hf_tensors(model)
    return write_zip(path, manifest(model.config, tensors, dtype), tensors, bpe_files(tokenizer_dir))
