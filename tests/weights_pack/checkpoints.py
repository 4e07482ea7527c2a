"""Checkpoint folders the packer must accept, built from Hugging Face models (the oracle), and an
independent reader of the zip (zipfile + struct, not weights_pack's code) that puts packed weights
back into a Hugging Face model."""
from __future__ import annotations

import json
import pickle
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np

from tests.model_factory import save_hf_folder

CONV1D = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")


def hf_logits(model, ids) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor([list(ids)])).logits[0].numpy()  # [n_seq, vocab]


def bin_folder(model, tokenizer_dir: Path, out_dir: Path, hub_layout: bool = False) -> Path:
    """An HF folder with pytorch_model.bin (what transformers wrote before safetensors).

    hub_layout mimics the original openai-community/gpt2 file: no `transformer.` prefix, the causal-mask
    buffers stored, and OpenAI's encoder.json / vocab.bpe names for the tokenizer.
    """
    import torch

    save_hf_folder(model, tokenizer_dir, out_dir)
    (out_dir / "model.safetensors").unlink()
    state = model.state_dict()  # lm_head.weight shares wte's storage, as in a tied .bin
    if hub_layout:
        n_ctx = model.config.n_positions
        state = {key.removeprefix("transformer."): value for key, value in state.items()}
        for i in range(model.config.n_layer):
            state[f"h.{i}.attn.bias"] = torch.tril(torch.ones(n_ctx, n_ctx)).view(1, 1, n_ctx, n_ctx)
            state[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
        (out_dir / "vocab.json").rename(out_dir / "encoder.json")
        (out_dir / "merges.txt").rename(out_dir / "vocab.bpe")
    torch.save(state, out_dir / "pytorch_model.bin")
    return out_dir


def nanogpt_state(model, bias: bool = True) -> dict:
    """The HF model's weights under nanoGPT's names: nn.Linear [out, in], `_orig_mod.` (torch.compile)
    prefixes, lm_head tied to wte, a causal-mask buffer per block; no bias tensors when bias=False."""
    import torch

    state = {}
    for key, value in model.state_dict().items():
        if key.endswith(CONV1D):
            value = value.t().contiguous()
        if not bias and key.endswith(".bias"):
            continue
        state[f"_orig_mod.{key}"] = value
    state["_orig_mod.lm_head.weight"] = state["_orig_mod.transformer.wte.weight"]
    n_ctx = model.config.n_positions
    for i in range(model.config.n_layer):
        state[f"_orig_mod.transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(n_ctx, n_ctx)).view(1, 1, n_ctx, n_ctx)
    return state


def nanogpt_checkpoint(model, out_dir: Path, bias: bool = True, vocab_size: int | None = None) -> Path:
    """out_dir/ckpt.pt as nanoGPT's train.py saves it."""
    import torch

    config = model.config
    out_dir.mkdir(parents=True, exist_ok=True)
    model_args = {"n_layer": config.n_layer, "n_head": config.n_head, "n_embd": config.n_embd,
                  "block_size": config.n_positions, "bias": bias,
                  "vocab_size": vocab_size or config.vocab_size, "dropout": 0.0}
    checkpoint = {"model": nanogpt_state(model, bias), "optimizer": {"state": {}, "param_groups": []},
                  "model_args": model_args, "iter_num": 250, "best_val_loss": torch.tensor(1.47),
                  "config": {"dataset": "shakespeare_char", "batch_size": 64}}
    torch.save(checkpoint, out_dir / "ckpt.pt")
    return out_dir / "ckpt.pt"


def write_meta_pkl(path: Path, chars: str) -> list[str]:
    itos = sorted(set(chars))
    meta = {"vocab_size": len(itos), "itos": dict(enumerate(itos)), "stoi": {c: i for i, c in enumerate(itos)}}
    path.write_bytes(pickle.dumps(meta))
    return itos


def padded_vocab(tokenizer_dir: Path, out_dir: Path, size: int) -> Path:
    """A trained BPE grown to `size` ids with unreachable filler tokens (GPT-2 small needs 50257 rows)."""
    vocab = json.loads((tokenizer_dir / "vocab.json").read_text(encoding="utf-8"))
    for i in range(size - len(vocab)):
        vocab[f"<filler{i}>"] = len(vocab)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    shutil.copy(tokenizer_dir / "merges.txt", out_dir / "merges.txt")
    return out_dir


# ---------------------------------------------------------------- independent zip reading

def local_data_offset(raw, info: zipfile.ZipInfo) -> tuple[int, int]:
    """(data offset, compression method) from the entry's local file header.

    Parsed here again on purpose, not with gpt2cells.zipdata: the layout tests check the packer and that
    reader against this independent one."""
    raw.seek(info.header_offset)
    signature, _, _, method, _, _, _, _, _, name_length, extra_length = struct.unpack("<IHHHHHIIIHH", raw.read(30))
    assert signature == 0x04034B50, f"{info.filename}: no local header at {info.header_offset}"
    return info.header_offset + 30 + name_length + extra_length, method


def read_zip(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(manifest, name -> float32 array) via zipfile, which also checks every CRC."""
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        tensors = {}
        for record in manifest["tensors"]:
            dtype = {"float32": "<f4", "float16": "<f2"}[record["dtype"]]
            data = archive.read(record["entry"])
            tensors[record["name"]] = np.frombuffer(data, dtype=dtype).reshape(record["shape"]).astype(np.float32)
    return manifest, tensors


def hf_model_from_zip(path: Path, hf_config):
    """A GPT2LMHeadModel holding the zip's weights: Conv1D weights transposed back, head tied to wte."""
    import torch
    from transformers import GPT2LMHeadModel

    _, tensors = read_zip(path)
    state = {f"transformer.{name}": torch.from_numpy(value.T.copy() if name.endswith(CONV1D) else value.copy())
             for name, value in tensors.items()}
    state["lm_head.weight"] = state["transformer.wte.weight"]
    model = GPT2LMHeadModel(hf_config).eval()
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and not [key for key in missing if not key.endswith((".attn.bias", ".attn.masked_bias"))]
    return model


def zero_biases(model):
    """The HF twin of a nanoGPT bias=False model: every bias (linear and layer norm) zero."""
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.zero_()
    return model
