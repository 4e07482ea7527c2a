"""Read a checkpoint (Hugging Face folder or Hub id, nanoGPT ckpt.pt) into engine-named tensors + a config.

Tensors stay lazy (a `read` callable each) so a 500 MB model is never held twice; the shapes are known
up front from the file headers, so layout and shape errors surface before anything is written.
"""
from __future__ import annotations

import json
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from weights_pack.contract import DEFAULT_LAYER_NORM_EPSILON, check_config, expected_shapes
from weights_pack.errors import PackError

# The Hugging Face rules (config, names, safetensors header) are the page's too: one copy, in gpt2cells.
from gpt2cells import hf_checkpoint  # isort: skip (weights_pack.contract puts py/ on the path)
from gpt2cells.errors import GPT2CellsError  # isort: skip
from gpt2cells.hf_checkpoint import CONV1D_WEIGHTS, HEAD, MASK_BUFFER, engine_name  # isort: skip

HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json",
                   "pytorch_model.bin", "pytorch_model.bin.index.json")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")


@dataclass(frozen=True)
class SourceTensor:
    source_name: str  # the checkpoint's own key, for messages
    shape: tuple[int, ...]  # as stored in the checkpoint
    dtype: str  # as stored in the checkpoint
    read: Callable[[], np.ndarray]  # the checkpoint's array, checkpoint orientation
    transpose: bool = False  # True for HF Conv1D weights ([in, out] in the checkpoint)

    @property
    def packed_shape(self) -> tuple[int, ...]:
        return self.shape[::-1] if self.transpose else self.shape

    def packed(self) -> np.ndarray:
        array = np.asarray(self.read())
        return array.T if self.transpose else array


@dataclass
class Checkpoint:
    kind: str  # "huggingface", "huggingface-hub" or "nanogpt"
    path: str
    config: dict
    tensors: dict[str, SourceTensor]  # engine names (docs/weights-format.md)
    tokenizer_dir: Path
    default_name: str
    head: SourceTensor | None = None  # a stored lm_head.weight; must equal wte (tied)


def read_source(src: str | Path) -> Checkpoint:
    """A local folder / file, or a Hugging Face model id when neither exists."""
    path = Path(src)
    if path.is_dir():
        if (path / "config.json").is_file():
            return read_hf_folder(path)
        if (path / "ckpt.pt").is_file():
            return read_nanogpt(path / "ckpt.pt")
        raise PackError(f"missing files: {path} has neither config.json (Hugging Face model folder) "
                        "nor ckpt.pt (nanoGPT out_dir)")
    if path.is_file():
        if path.name == "config.json":
            return read_hf_folder(path.parent)
        if path.suffix in CHECKPOINT_SUFFIXES:
            return read_nanogpt(path)
        raise PackError(f"unknown checkpoint layout: {path} is not a Hugging Face model folder or a nanoGPT "
                        f"checkpoint ({', '.join(CHECKPOINT_SUFFIXES)})")
    if HUB_ID.fullmatch(str(src)) and not str(src).endswith(CHECKPOINT_SUFFIXES + (".zip",)):
        folder = download_from_hub(str(src))
        checkpoint = read_hf_folder(folder)
        checkpoint.kind, checkpoint.path, checkpoint.default_name = "huggingface-hub", str(src), str(src)
        return checkpoint
    raise PackError(f"missing files: no such file or folder: {src}")


# ---------------------------------------------------------------- Hugging Face

def read_hf_folder(folder: Path) -> Checkpoint:
    config = hf_config(folder / "config.json")
    tensors, head = {}, None
    for key, tensor in hf_state(folder).items():
        name = engine_name(key)
        tensor = SourceTensor(key, tensor.shape, tensor.dtype, tensor.read, name.endswith(CONV1D_WEIGHTS))
        head = file_tensor(name, tensor, tensors, head)
    return Checkpoint("huggingface", str(folder), config, tensors, folder, folder.resolve().name, head)


def hf_config(config_path: Path) -> dict:
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PackError(f"cannot read {config_path}: {error}") from None
    try:
        return hf_checkpoint.gpt2_config(raw, str(config_path))
    except GPT2CellsError as error:
        raise PackError(str(error)) from None


def checked_config(config: dict, where) -> dict:
    try:
        check_config(config)
    except ValueError as error:
        raise PackError(f"{where}: {error}") from None
    return config


def hf_state(folder: Path) -> dict[str, SourceTensor]:
    """Every tensor in the folder's weight files (single or sharded, safetensors preferred over .bin)."""
    for name in HF_WEIGHT_FILES:
        path = folder / name
        if not path.is_file():
            continue
        files = sharded_files(path) if name.endswith(".index.json") else [path]
        reader = safetensors_state if ".safetensors" in name else torch_state
        state = {}
        for file in files:
            state |= reader(file)
        return state
    others = sorted(p.name for p in folder.iterdir() if p.suffix in (".h5", ".msgpack", ".onnx", ".gguf"))
    hint = f" (found {', '.join(others)}: load it with transformers and save_pretrained first)" if others else ""
    raise PackError(f"missing files: no weights in {folder}: expected model.safetensors or "
                    f"pytorch_model.bin{hint}")


def sharded_files(index_path: Path) -> list[Path]:
    try:
        weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PackError(f"cannot read shard index {index_path}: {error}") from None
    files = [index_path.parent / name for name in sorted(set(weight_map.values()))]
    for file in files:
        if not file.is_file():
            raise PackError(f"missing files: {file} (listed in {index_path.name})")
    return files


def safetensors_state(path: Path) -> dict[str, SourceTensor]:
    """The tensors of one .safetensors file, read by the header rules the page uses (gpt2cells.hf_checkpoint)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            length = hf_checkpoint.header_length(f.read(8), size, path.name)
            slices = hf_checkpoint.read_header(f.read(length), size, path.name)
    except (OSError, GPT2CellsError) as error:
        raise PackError(f"cannot read {path} as safetensors: {error}") from None
    return {key: SourceTensor(key, piece.shape, piece.dtype, lambda piece=piece: read_slice(path, piece))
            for key, piece in slices.items()}


def read_slice(path: Path, piece: hf_checkpoint.TensorSlice) -> np.ndarray:
    """One tensor's bytes, in the checkpoint's orientation (bfloat16 widened exactly to float32)."""
    with open(path, "rb") as f:
        f.seek(piece.start)
        raw = f.read(piece.end - piece.start)
    return hf_checkpoint.source_array(raw, piece.dtype, piece.shape)


def torch_state(path: Path) -> dict[str, SourceTensor]:
    state = torch_load(path)
    if not isinstance(state, dict):
        raise PackError(f"unknown checkpoint layout: {path} holds a {type(state).__name__}, not a state dict")
    return tensors_from_torch(state, path)


def torch_load(path: Path):
    """torch.load with weights_only=True: a checkpoint is data, and unpickling must never run its code."""
    try:
        import torch
    except ImportError:
        raise PackError(f"reading {path.name} needs PyTorch (pip install torch); safetensors folders "
                        "do not") from None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # legacy (non-zip) torch.save files cannot be memory-mapped
        pass
    except pickle.UnpicklingError as error:
        raise PackError(unsafe_pickle_message(path, error)) from None
    except Exception as error:
        raise PackError(f"cannot read {path} with torch.load: {error}") from None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise PackError(unsafe_pickle_message(path, error)) from None
    except Exception as error:
        raise PackError(f"cannot read {path} with torch.load: {error}") from None


def unsafe_pickle_message(path: Path, error: Exception) -> str:
    found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
    what = f" ({found.group(1)})" if found else ""
    return (f"{path} holds pickled Python objects beyond tensors and plain data{what}; weights_pack loads "
            "checkpoints with torch.load(weights_only=True) and will not run pickled code. If you trust the "
            "file, re-save just the weights: c = torch.load(path, weights_only=False); "
            "torch.save({'model': c['model'], 'model_args': c['model_args']}, 'clean.pt')")


def tensors_from_torch(state: dict, path: Path) -> dict[str, SourceTensor]:
    import torch

    tensors = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise PackError(f"unknown checkpoint layout: {path}: {key!r} is a {type(value).__name__}, "
                            "not a tensor")
        tensors[key] = SourceTensor(key, tuple(value.shape), str(value.dtype).removeprefix("torch."),
                                    lambda value=value: torch_to_numpy(value))
    return tensors


def torch_to_numpy(tensor) -> np.ndarray:
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:  # NumPy has no bfloat16
        tensor = tensor.float()
    return tensor.numpy()


# ---------------------------------------------------------------- nanoGPT

def read_nanogpt(path: Path) -> Checkpoint:
    checkpoint = torch_load(path)
    if not (isinstance(checkpoint, dict) and isinstance(checkpoint.get("model"), dict)
            and isinstance(checkpoint.get("model_args"), dict)):
        keys = sorted(map(str, checkpoint))[:8] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise PackError(f"unknown checkpoint layout: {path} is not a nanoGPT checkpoint (a dict with 'model' "
                        f"and 'model_args'); found {keys}. For Hugging Face weights pass the model folder "
                        "(config.json + weights)")
    config = nanogpt_config(checkpoint["model_args"], path)
    tensors, head = {}, None
    for key, tensor in tensors_from_torch(checkpoint["model"], path).items():
        head = file_tensor(engine_name(key), tensor, tensors, head)
    if not checkpoint["model_args"].get("bias", True):
        add_zero_biases(tensors, config)
    name = path.resolve().parent.name if path.name == "ckpt.pt" else path.stem
    return Checkpoint("nanogpt", str(path), config, tensors, path.parent, name, head)


def nanogpt_config(model_args: dict, path: Path) -> dict:
    renamed = {"n_layer": "n_layer", "n_head": "n_head", "n_embd": "n_embd", "n_ctx": "block_size",
               "vocab_size": "vocab_size"}
    for key in renamed.values():
        if key not in model_args:
            raise PackError(f"unknown checkpoint layout: {path}: model_args has no {key!r}")
    config = {ours: model_args[theirs] for ours, theirs in renamed.items()}
    config["layer_norm_epsilon"] = DEFAULT_LAYER_NORM_EPSILON  # nanoGPT's F.layer_norm uses 1e-5
    return checked_config(config, f"{path} model_args")


def add_zero_biases(tensors: dict[str, SourceTensor], config: dict) -> None:
    """nanoGPT with bias=False has no bias tensors; the engine's x @ W.T + b then needs zeros."""
    for name, shape in expected_shapes(config).items():
        if name.endswith(".bias") and name not in tensors:
            tensors[name] = SourceTensor("(zeros: nanoGPT bias=False)", shape, "float32",
                                         lambda shape=shape: np.zeros(shape, dtype=np.float32))


# ---------------------------------------------------------------- shared

def file_tensor(name: str, tensor: SourceTensor, tensors: dict, head: SourceTensor | None):
    """Put one checkpoint tensor into `tensors` (engine name), or return it as the new output head.

    Mask buffers are dropped; names the engine does not know stay in `tensors` so the layout check
    can name them.
    """
    if MASK_BUFFER.fullmatch(name):
        return head
    if name == HEAD:
        return tensor
    if name in tensors:
        raise PackError(f"unknown checkpoint layout: {tensors[name].source_name!r} and {tensor.source_name!r} "
                        f"both map to {name!r}")
    tensors[name] = tensor
    return head


# ---------------------------------------------------------------- Hugging Face Hub

def download_from_hub(repo_id: str) -> Path:
    """Fetch only what packing needs: config, weights (safetensors, else .bin), tokenizer files."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise PackError(f"{repo_id!r} is not a local file or folder, and fetching it as a Hugging Face model "
                        "id needs huggingface_hub (pip install huggingface_hub)") from None
    wanted = ["config.json", "model.safetensors", "model-*.safetensors", "model.safetensors.index.json",
              "vocab.json", "merges.txt", "tokenizer.json", "encoder.json", "vocab.bpe", "meta.pkl", "chars.json"]
    try:
        folder = Path(snapshot_download(repo_id, allow_patterns=wanted))
        if not any((folder / name).is_file() for name in HF_WEIGHT_FILES):
            folder = Path(snapshot_download(repo_id, allow_patterns=wanted + ["pytorch_model*.bin*"]))
    except Exception as error:  # offline, unknown repo, gated repo: all end the same way for the user
        raise PackError(f"{repo_id!r} is not a local file or folder, and fetching it from the Hugging Face Hub "
                        f"failed ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). "
                        "Offline? Download the model folder on a connected machine and pass its path") from None
    return folder
