"""convert(): checkpoint -> validated weights zip. Every check that can fail runs before the first byte
is written; the zip is written to a temp file, verified by reading it back, then renamed into place."""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from math import prod
from pathlib import Path

import numpy as np

from weights_pack.contract import DTYPES, FORMAT_NAME, FORMAT_VERSION, MANIFEST_ENTRY, expected_shapes, tensor_entry
from weights_pack.errors import PackError
from weights_pack.sources import Checkpoint, SourceTensor, read_source

from gpt2cells import hf_checkpoint  # isort: skip (weights_pack.contract puts py/ on the path)
from gpt2cells.errors import GPT2CellsError  # isort: skip
from weights_pack.tokenizer_files import TokenizerFiles, find_tokenizer
from weights_pack.verifier import short_list, verify
from weights_pack.zipwriter import (ENTRY_OVERHEAD, AlignedZipWriter, atomic_output, check_free_space,
                                    check_output_path, megabytes)

FLOAT_DTYPES = {"F32", "F16", "BF16", "F64", "float32", "float16", "bfloat16", "float64"}
FLOAT16_MAX = float(np.finfo(np.float16).max)
WRITE_CHUNK = 1 << 24  # bytes per write: fine-grained enough for the progress bar
PROGRESS_THRESHOLD = 64 << 20  # show a bar (on a terminal) only when there is something to wait for


@dataclass(frozen=True)
class ConvertResult:
    path: Path
    file_size: int
    tensors: int
    dtype: str
    seconds: float
    config: dict

    def summary(self) -> str:
        return (f"wrote {self.path}: {megabytes(self.file_size)}, {self.tensors} tensors ({self.dtype}), "
                f"n_layer={self.config['n_layer']} n_embd={self.config['n_embd']} "
                f"vocab={self.config['vocab_size']}, in {self.seconds:.1f} s")


def convert(src, out, *, dtype: str = "float32", force: bool = False, name: str | None = None,
            tokenizer=None, trim_vocab: bool = False, progress: bool | None = None,
            free_bytes: int | None = None) -> ConvertResult:
    """Pack `src` (HF folder / Hub id / nanoGPT ckpt.pt) into the zip `out`; raise PackError on bad input.

    tokenizer: a folder or meta.pkl/chars.json to use instead of the files next to the checkpoint.
    trim_vocab: drop embedding rows beyond the tokenizer (nanoGPT pads GPT-2's 50257 to 50304).
    free_bytes: pretend the output folder has this much free space (else $WEIGHTS_PACK_FREE_BYTES).
    """
    started = time.perf_counter()
    if dtype not in DTYPES:
        raise PackError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    out = Path(out)
    check_output_path(out, force)
    checkpoint = read_source(src)
    tokenizer_files = find_tokenizer(Path(tokenizer) if tokenizer is not None else checkpoint.tokenizer_dir)
    check_layout(checkpoint)
    config = matched_vocab(checkpoint, tokenizer_files, trim_vocab)
    shapes = expected_shapes(config)
    tensor_bytes = sum(prod(shape) * DTYPES[dtype] for shape in shapes.values())
    estimate = (tensor_bytes + sum(map(len, tokenizer_files.entries.values()))
                + (len(shapes) + 4) * ENTRY_OVERHEAD * 2 + (64 << 10))  # ×2: the manifest's line per tensor
    check_free_space(out.parent, estimate, free_bytes)
    check_tied_head(checkpoint)
    manifest = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "name": name or checkpoint.default_name,
        "family": "gpt2", "config": config, "tokenizer": tokenizer_files.manifest(), "tensors": [],
        "source": source_record(checkpoint, tokenizer_files, trim_vocab),
    }
    show = progress if progress is not None else (sys.stderr.isatty() and tensor_bytes > PROGRESS_THRESHOLD)
    try:
        with atomic_output(out) as (file, temp):
            write_zip(file, checkpoint, tokenizer_files, manifest, shapes, dtype, show)
            file.flush()
            report = verify(temp, progress=show)
            if not report.ok:  # a writer bug, not bad input: still never ship the file
                raise PackError(f"the written zip failed its read-back check: {'; '.join(report.all_problems())}")
    except OSError as error:
        raise PackError(f"writing {out} failed: {error}") from None
    return ConvertResult(out, out.stat().st_size, len(shapes), dtype, time.perf_counter() - started, config)


def check_layout(checkpoint: Checkpoint) -> None:
    """Names, dtypes and shapes against the config, before reading any data."""
    shapes = expected_shapes(checkpoint.config)
    missing = [name for name in shapes if name not in checkpoint.tensors]
    unexpected = [f"{name} ({checkpoint.tensors[name].source_name})" for name in checkpoint.tensors
                  if name not in shapes]
    if unexpected:
        raise PackError(f"unknown checkpoint layout: {checkpoint.path} has tensors a GPT-2 does not: "
                        f"{short_list(unexpected)}")
    if missing:
        raise PackError(f"unknown checkpoint layout: {checkpoint.path} lacks {len(missing)} GPT-2 tensor(s): "
                        f"{short_list(missing)}")
    for name, expected in shapes.items():
        tensor = checkpoint.tensors[name]
        if tensor.dtype not in FLOAT_DTYPES:
            raise PackError(f"tensor {name!r} ({tensor.source_name}) has dtype {tensor.dtype}; "
                            "expected floating point")
        if tensor.packed_shape != expected:
            raise PackError(shape_mismatch(name, tensor, expected, checkpoint.config))


def shape_mismatch(name: str, tensor: SourceTensor, expected: tuple, config: dict) -> str:
    """Both shapes in the checkpoint's own orientation, so the user can find the numbers in their file."""
    wanted = expected[::-1] if tensor.transpose else expected
    return hf_checkpoint.shape_mismatch(name, tensor.source_name, wanted, tensor.shape, tensor.transpose, config)


def matched_vocab(checkpoint: Checkpoint, tokenizer: TokenizerFiles, trim_vocab: bool) -> dict:
    """The config to pack: vocab_size must equal the tokenizer's size (after an optional trim)."""
    rows = checkpoint.config["vocab_size"]
    if tokenizer.vocab_size == rows:
        return dict(checkpoint.config)
    if trim_vocab and tokenizer.vocab_size < rows:
        return checkpoint.config | {"vocab_size": tokenizer.vocab_size}
    hint = (" (pass --trim-vocab / trim_vocab=True to drop the extra rows, e.g. nanoGPT's padding to 50304)"
            if tokenizer.vocab_size < rows else "")
    try:
        hf_checkpoint.check_vocab_size(tokenizer.vocab_size, checkpoint.config, tokenizer.origin)
    except GPT2CellsError as error:
        raise PackError(f"{error}{hint}") from None


def check_tied_head(checkpoint: Checkpoint) -> None:
    """The engine reuses wte as the output head; a checkpoint with a different head cannot be packed."""
    head = checkpoint.head
    if head is None:
        return
    wte = checkpoint.tensors["wte.weight"]
    try:
        hf_checkpoint.check_tied_head(np.asarray(wte.read()), np.asarray(head.read()), head.source_name)
    except GPT2CellsError as error:
        raise PackError(str(error)) from None


def packed_array(name: str, tensor: SourceTensor, shape: tuple, dtype: str) -> np.ndarray:
    """The tensor as the zip stores it: [out, in], `shape` (wte may be trimmed), little-endian `dtype`."""
    source = tensor.packed()[: shape[0]]  # [*shape]
    finite = np.isfinite(source)  # [*shape]
    if not finite.all():
        nan = int(np.count_nonzero(np.isnan(source)))
        raise PackError(f"tensor {name!r} ({tensor.source_name}) contains {nan} NaN and "
                        f"{finite.size - int(np.count_nonzero(finite)) - nan} Inf value(s); refusing to pack it")
    with np.errstate(over="ignore"):  # float16 overflow is reported below, by name
        packed = np.ascontiguousarray(source, dtype=np.dtype(dtype).newbyteorder("<"))  # [*shape]
    if dtype == "float16" and not np.isfinite(packed).all():
        raise PackError(f"tensor {name!r} has values beyond the float16 range (max |value| "
                        f"{float(np.max(np.abs(source))):.4g} > {FLOAT16_MAX:g}); pack with --dtype float32")
    return packed


def write_zip(file, checkpoint, tokenizer: TokenizerFiles, manifest: dict, shapes: dict, dtype: str,
              show_progress: bool) -> None:
    from tqdm import tqdm

    total = sum(prod(shape) * DTYPES[dtype] for shape in shapes.values())
    with AlignedZipWriter(file) as writer, tqdm(total=total, unit="B", unit_scale=True,
                                                desc="packing", leave=False, disable=not show_progress) as bar:
        for entry, content in tokenizer.entries.items():
            writer.add(entry, [content], len(content))
        for name, shape in shapes.items():
            array = packed_array(name, checkpoint.tensors[name], shape, dtype)
            data = memoryview(array).cast("B")
            chunks = [data[start:start + WRITE_CHUNK] for start in range(0, len(data), WRITE_CHUNK)]
            writer.add(tensor_entry(name), with_progress(chunks, bar), len(data), align=True)
            manifest["tensors"].append({
                "name": name, "dtype": dtype, "shape": list(shape), "entry": tensor_entry(name),
                "nbytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            })
        content = json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8")
        writer.add(MANIFEST_ENTRY, [content], len(content))


def with_progress(chunks, bar):
    for chunk in chunks:
        yield chunk
        bar.update(len(chunk))


def source_record(checkpoint: Checkpoint, tokenizer: TokenizerFiles, trim_vocab: bool) -> dict:
    from weights_pack import __version__

    # names, not paths: a zip is meant to be shared, and the same checkpoint should pack to the same bytes
    where = checkpoint.path if checkpoint.kind == "huggingface-hub" else Path(checkpoint.path).name
    record = {"kind": checkpoint.kind, "path": where, "tokenizer": list(tokenizer.source_names),
              "checkpoint_dtype": checkpoint.tensors["wte.weight"].dtype, "packed_by": f"weights_pack {__version__}"}
    if trim_vocab and tokenizer.vocab_size != checkpoint.config["vocab_size"]:
        record["trimmed_vocab_from"] = checkpoint.config["vocab_size"]
    return record
