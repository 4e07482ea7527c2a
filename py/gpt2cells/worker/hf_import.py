"""The page's Hugging Face import entry points (`gpt2cells.worker.hf_import.<function>`).

A learner drops (or downloads) a Hugging Face GPT-2 folder. The page reads the files; Python checks them and
converts one tensor at a time (gpt2cells.hf_checkpoint); the page stores each converted tensor in IndexedDB
exactly as it stores a weights zip's, so the model reloads like any other. The active model is not touched:
an import that fails leaves it loaded.

    length = header_length(first8, size, "model.safetensors")          # per .safetensors file
    plan(name, config_text, headers, index_text, tokenizer_texts)       # → manifest + byte ranges to read
    check_head(wte_bytes, head_bytes)                                   # only when the plan has a head
    convert("h.0.attn.c_attn.weight", raw_bytes)                        # → the stored tensor's bytes
    end()                                                               # done or abandoned
"""
from __future__ import annotations

import json

import numpy as np

from gpt2cells import hf_checkpoint as hf
from gpt2cells.errors import TokenizerError, WeightsError

_plan = None  # the import in progress: hf_checkpoint.ImportPlan


def header_length(first8, file_size: int, file_name: str) -> int:
    return hf.header_length(bytes(first8), int(file_size), file_name)


def plan(name: str, config_text: str, headers: list, index_text: str | None, tokenizer: dict) -> dict:
    """Check everything that can be checked before reading tensor data; returns what the page must read.

    headers: [{"file": name, "size": bytes, "header": the JSON header's bytes}] for each .safetensors file;
    index_text: model.safetensors.index.json for a sharded model, else None; tokenizer: the texts of
    "vocab.json" + "merges.txt" or of "tokenizer.json".
    """
    global _plan
    _plan = None
    config = hf.gpt2_config(_json(config_text, "config.json"), "config.json")
    slices, file_of_key = _slices(headers, index_text)
    files = _tokenizer_files(tokenizer)
    import_plan = hf.import_plan(config, slices, file_of_key)
    manifest = hf.manifest(name, config, import_plan, files, {"kind": "huggingface", "path": name,
                                                               "tokenizer": sorted(tokenizer)},
                           tokenizer_source="vocab.json" if "vocab.json" in tokenizer else "tokenizer.json")
    _plan = import_plan
    return {
        "manifest": manifest,
        "files": {path: str(text) for path, text in files.items()},
        "tensors": [_reading(entry) for entry in import_plan.tensors],
        "head": _reading(import_plan.head) if import_plan.head else None,
    }


def check_head(wte_raw, head_raw) -> None:
    """A stored lm_head.weight must equal wte (the engine ties them); both as read from their files."""
    wte_entry = _entry("wte.weight")
    head = _current().head
    wte = hf.stored_tensor(wte_raw, wte_entry)  # [vocab, n_embd]
    hf.check_tied_head(wte, hf.stored_tensor(head_raw, head), f"{head.source_key} in {head.source_file}")


def convert(name: str, raw):
    """One tensor's bytes, exactly as in its file → the stored tensor's bytes (a uint8 array for the page)."""
    array = hf.stored_tensor(raw, _entry(name))  # [*stored shape]
    return array.reshape(-1).view(np.uint8)  # [nbytes] the page receives a Uint8Array copy


def end() -> None:
    global _plan
    _plan = None


def _current() -> hf.ImportPlan:
    if _plan is None:
        raise RuntimeError("no Hugging Face import in progress here (the Python runtime was restarted during "
                           "the import, or it had ended); nothing was stored: import the files again")
    return _plan


def _entry(name: str) -> hf.PlanEntry:
    for entry in _current().tensors:
        if entry.name == name:
            return entry
    raise KeyError(f"tensor {name!r} is not in the import plan")


def _reading(entry: hf.PlanEntry) -> dict:
    return {"name": entry.name, "file": entry.source_file, "start": entry.start, "end": entry.end,
            "nbytes": entry.nbytes}


def _json(text: str, file_name: str):
    try:
        return json.loads(text)
    except ValueError as error:
        raise WeightsError(f"{file_name} is not JSON ({error})") from None


def _slices(headers: list, index_text: str | None):
    by_file = {h["file"]: hf.read_header(bytes(h["header"]), int(h["size"]), h["file"]) for h in headers}
    if index_text is None:
        if len(by_file) != 1:
            raise WeightsError(f"{len(by_file)} .safetensors files ({', '.join(sorted(by_file))}) but no "
                               "model.safetensors.index.json saying which tensor is in which")
        (file_name, slices), = by_file.items()
        return slices, file_name
    index_name = "model.safetensors.index.json"
    return hf.merge_shards(by_file, hf.read_index(index_text, index_name), index_name)


def _tokenizer_files(tokenizer: dict) -> dict[str, str]:
    """The stored tokenizer (vocab.json + merges.txt), preferring those files over tokenizer.json."""
    if "vocab.json" in tokenizer and "merges.txt" in tokenizer:
        vocab, merges = tokenizer["vocab.json"], tokenizer["merges.txt"]
        hf.check_merges(merges, "merges.txt")
    elif "tokenizer.json" in tokenizer:
        vocab, merges = hf.bpe_files_from_tokenizer_json(tokenizer["tokenizer.json"], "tokenizer.json")
    else:
        present = ", ".join(sorted(tokenizer)) or "none"
        raise TokenizerError(f"no tokenizer: GPT-2 needs vocab.json + merges.txt or tokenizer.json "
                             f"(tokenizer files given: {present})")
    return {hf.BPE_FILES["vocab"]: vocab, hf.BPE_FILES["merges"]: merges}
