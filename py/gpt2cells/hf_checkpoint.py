"""Hugging Face GPT-2 files → the stored model of docs/weights-format.md, from bytes, one tensor at a time.

The page hands over bytes (never paths): the first 8 bytes and the header of each .safetensors file, the
config.json and tokenizer texts, then each tensor's byte range in turn. This module checks them and says
what to store; weights_pack uses the same rules for folders on disk.

    length = header_length(first8, file_size, "model.safetensors")
    slices = read_header(header_bytes, file_size, "model.safetensors")      # key -> TensorSlice
    config = gpt2_config(json.loads(config_text), "config.json")
    plan = import_plan(config, slices, "model.safetensors")                 # ImportPlan: tensors (+ head)
    array = stored_tensor(file_bytes[entry.start:entry.end], entry)         # for entry in plan.tensors
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from math import prod

import numpy as np

from .errors import (
    ConfigError, MissingTensorError, TensorShapeError, TokenizerError, UnexpectedTensorError, WeightsError,
)
from .tokenizer import BYTE_TO_CHAR, EOT
from .weights_format import (
    DEFAULT_LAYER_NORM_EPSILON, DTYPES, FORMAT_NAME, FORMAT_VERSION, check_config, expected_shapes, tensor_entry,
)

# ---- names ----------------------------------------------------------------------------------------------

# HF's Conv1D keeps these as [in, out]; the stored model keeps every linear weight as [out, in].
CONV1D_WEIGHTS = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")
# The causal-mask buffers some checkpoints carry: not parameters, the engine builds its own mask.
MASK_BUFFER = re.compile(r"h\.\d+\.attn\.(bias|masked_bias)")
NAME_PREFIXES = ("_orig_mod.", "module.", "transformer.")  # torch.compile, DDP, GPT2LMHeadModel
HEAD = "lm_head.weight"  # the output head; the engine ties it to wte, so a stored one must equal wte


def engine_name(key: str) -> str:
    """A checkpoint key without the wrappers' prefixes: 'transformer.h.0.ln_1.weight' -> 'h.0.ln_1.weight'."""
    for prefix in NAME_PREFIXES:
        key = key.removeprefix(prefix)
    return key


# ---- config ---------------------------------------------------------------------------------------------

TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu")  # within ~1e-3 of the engine's tanh GELU
PLAIN_GPT2 = "plain GPT-2: n_inner = 4·n_embd, tanh GELU, 1/sqrt(head_dim) attention, no cross-attention"


def gpt2_config(hf_config: dict, where: str) -> dict:
    """A Hugging Face config.json (parsed) → the manifest's config; ConfigError for anything not plain GPT-2."""
    if not isinstance(hf_config, dict):
        raise ConfigError(f"{where} must hold a JSON object, got {type(hf_config).__name__}")
    if hf_config.get("model_type") != "gpt2":
        raise ConfigError(f"{where} has model_type {hf_config.get('model_type')!r}; only GPT-2 ('gpt2') "
                          "models can be used")
    epsilon = hf_config.get("layer_norm_epsilon", DEFAULT_LAYER_NORM_EPSILON)
    if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not 0 < epsilon < 1:
        raise ConfigError(f"{where}: layer_norm_epsilon must be a small positive number, got {epsilon!r}")
    config = {
        "n_layer": hf_config.get("n_layer"), "n_head": hf_config.get("n_head"), "n_embd": hf_config.get("n_embd"),
        "n_ctx": hf_config.get("n_positions", hf_config.get("n_ctx")), "vocab_size": hf_config.get("vocab_size"),
        "layer_norm_epsilon": float(epsilon),
    }
    try:
        check_config(config)
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None
    unsupported = {
        "n_inner": hf_config.get("n_inner") not in (None, 4 * config["n_embd"]),
        "activation_function": hf_config.get("activation_function", "gelu_new") not in TANH_GELUS,
        "scale_attn_weights": hf_config.get("scale_attn_weights", True) is not True,
        "scale_attn_by_inverse_layer_idx": hf_config.get("scale_attn_by_inverse_layer_idx", False) is not False,
        "add_cross_attention": hf_config.get("add_cross_attention", False) is not False,
    }  # reorder_and_upcast_attn only changes the precision of a half-precision run, not the math: accepted
    for key, bad in unsupported.items():
        if bad:
            raise ConfigError(f"{where}: {key}={hf_config[key]!r} is not supported by the engine ({PLAIN_GPT2})")
    return config


# ---- safetensors ----------------------------------------------------------------------------------------

# Every dtype the safetensors format defines, with its size in bytes; only SOURCE_DTYPES can be imported.
SAFETENSORS_ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
                        "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
# source dtype -> stored dtype: float16 stays float16 (half the storage); bfloat16 widens exactly to float32
SOURCE_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "float32"}
NUMPY_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8"), "BF16": np.dtype("<u2")}
HEADER_PREFIX = 8  # a little-endian u64: the JSON header's length


@dataclass(frozen=True)
class TensorSlice:
    """Where one tensor's bytes are in its .safetensors file (absolute offsets, end exclusive)."""
    dtype: str  # the safetensors dtype, e.g. "F32"
    shape: tuple[int, ...]
    start: int
    end: int


def header_length(first8: bytes, file_size: int, file_name: str) -> int:
    """The JSON header's length from a .safetensors file's first 8 bytes; it must fit in the file."""
    if file_size < HEADER_PREFIX or len(first8) < HEADER_PREFIX:
        raise WeightsError(f"{file_name} is {file_size} bytes long: too short to be a safetensors file")
    length = int.from_bytes(bytes(first8[:HEADER_PREFIX]), "little")
    if length > file_size - HEADER_PREFIX:
        raise WeightsError(f"{file_name}: the safetensors header length is {length} bytes, past the end of the "
                           f"file ({file_size} bytes) — the file is truncated or not safetensors")
    return length


def read_header(header_bytes: bytes, file_size: int, file_name: str) -> dict[str, TensorSlice]:
    """The header (the `header_length` bytes after the first 8) → {key: TensorSlice}; `__metadata__` ignored."""
    try:
        header = json.loads(bytes(header_bytes).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise WeightsError(f"{file_name}: the safetensors header is not JSON ({error}) — the file is damaged "
                           "or not safetensors") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{file_name}: the safetensors header must be a JSON object, got "
                           f"{type(header).__name__}")
    data_start = HEADER_PREFIX + len(header_bytes)
    slices = {key: tensor_slice(key, entry, data_start, file_size, file_name)
              for key, entry in header.items() if key != "__metadata__"}
    check_no_overlap(slices, file_name)
    return slices


def tensor_slice(key: str, entry, data_start: int, file_size: int, file_name: str) -> TensorSlice:
    where = f"{file_name}: tensor {key!r}"
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise WeightsError(f"{where}: a header entry needs dtype, shape and data_offsets, got {entry!r:.120}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in SAFETENSORS_ITEMSIZE:
        raise WeightsError(f"{where}: unknown dtype {dtype!r}; GPT-2 tensors can be {', '.join(SOURCE_DTYPES)}")
    if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                              for n in shape):
        raise WeightsError(f"{where}: shape must be a list of non-negative integers, got {shape!r}")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in offsets)):
        raise WeightsError(f"{where}: data_offsets must be [begin, end], got {offsets!r}")
    start, end = data_start + offsets[0], data_start + offsets[1]
    if not data_start <= start <= end <= file_size:
        raise WeightsError(f"{where}: data_offsets {offsets} point outside the file's data (bytes {data_start} "
                           f"… {file_size}) — the file is truncated or damaged")
    nbytes = prod(shape) * SAFETENSORS_ITEMSIZE[dtype]
    if end - start != nbytes:
        raise WeightsError(f"{where}: data_offsets {offsets} span {end - start} bytes, but {dtype} {shape} is "
                           f"{nbytes} bytes")
    return TensorSlice(dtype, tuple(shape), start, end)


def check_no_overlap(slices: dict[str, TensorSlice], file_name: str) -> None:
    previous_key, previous_end = None, 0
    for key, piece in sorted(slices.items(), key=lambda item: (item[1].start, item[1].end)):
        if piece.start < previous_end:
            raise WeightsError(f"{file_name}: tensors {previous_key!r} and {key!r} overlap (their data_offsets "
                               "share bytes) — the file is damaged")
        if piece.end > piece.start:  # an empty tensor shares no bytes with anything
            previous_key, previous_end = key, piece.end


def read_index(index_json_text: str | bytes, file_name: str) -> dict[str, str]:
    """A sharded model's model.safetensors.index.json → {key: shard file name}."""
    try:
        index = json.loads(index_json_text)
    except ValueError as error:
        raise WeightsError(f"{file_name} is not JSON ({error})") from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise WeightsError(f"{file_name} needs a \"weight_map\" object mapping each tensor to its shard file")
    return dict(weight_map)


def merge_shards(headers: dict[str, dict[str, TensorSlice]], index: dict[str, str], index_name: str):
    """Each shard's header → (slices_by_key, source_file_of_key), checked against the index."""
    slices, file_of_key = {}, {}
    for file_name, shard in headers.items():
        for key, piece in shard.items():
            if key in file_of_key:
                raise WeightsError(f"tensor {key!r} is in both {file_of_key[key]} and {file_name}")
            slices[key], file_of_key[key] = piece, file_name
    for key, file_name in index.items():
        if file_name not in headers:
            raise WeightsError(f"missing file {file_name} (listed in {index_name} for tensor {key!r})")
        if file_of_key.get(key) != file_name:
            raise WeightsError(f"{index_name} puts tensor {key!r} in {file_name}, but that file's header "
                               "does not have it")
    return slices, file_of_key


# ---- the plan: which tensors to store, from where, how ---------------------------------------------------

@dataclass(frozen=True)
class PlanEntry:
    """One stored tensor: read bytes [start, end) of source_file, convert with stored_tensor."""
    name: str  # the engine's name (docs/weights-format.md)
    source_key: str  # the checkpoint's own key, for messages
    source_file: str
    start: int
    end: int
    source_dtype: str  # safetensors dtype: F32, F16 or BF16
    source_shape: tuple[int, ...]
    transpose: bool  # HF Conv1D weights: [in, out] in the file, [out, in] stored
    dtype: str  # stored: float32 or float16
    shape: tuple[int, ...]  # stored

    @property
    def nbytes(self) -> int:
        return prod(self.shape) * DTYPES[self.dtype]

    def as_dict(self) -> dict:
        return asdict(self) | {"nbytes": self.nbytes}


@dataclass(frozen=True)
class ImportPlan:
    tensors: list[PlanEntry]  # every tensor the engine needs, in expected_shapes order
    head: PlanEntry | None  # a stored lm_head.weight: convert it and check_tied_head it against wte; not stored


def import_plan(config: dict, slices_by_key: dict[str, TensorSlice], source_file_of_key) -> ImportPlan:
    """Check names, dtypes and shapes against the config before any tensor data is read.

    source_file_of_key: {key: file name}, or one file name for a single model.safetensors.
    """
    file_of = (lambda key: source_file_of_key) if isinstance(source_file_of_key, str) else source_file_of_key.get
    shapes = expected_shapes(config)
    found, head = {}, None
    for key, piece in slices_by_key.items():
        name = engine_name(key)
        if MASK_BUFFER.fullmatch(name):
            continue
        if name != HEAD and name in found:
            raise UnexpectedTensorError(f"tensors {found[name][0]!r} and {key!r} both map to {name!r}")
        if name == HEAD:
            head = (key, piece)
        else:
            found[name] = (key, piece)
    unexpected = [f"{name} ({found[name][0]} in {file_of(found[name][0])})" for name in found if name not in shapes]
    if unexpected:
        raise UnexpectedTensorError(f"the weights have tensors a GPT-2 with {config_text(config)} does not: "
                                    f"{short_list(unexpected)}. {SAME_MODEL}")
    missing = [name for name in shapes if name not in found]
    if missing:
        raise MissingTensorError(f"the weights lack {len(missing)} tensor(s) a GPT-2 with {config_text(config)} "
                                 f"needs: {short_list(missing)}. {SAME_MODEL}")
    tensors = [plan_entry(name, *found[name], file_of(found[name][0]), shapes[name], config) for name in shapes]
    if head is not None:
        head = plan_entry(HEAD, *head, file_of(head[0]), shapes["wte.weight"], config)
    return ImportPlan(tensors, head)


def plan_entry(name: str, key: str, piece: TensorSlice, file_name: str, shape: tuple, config: dict) -> PlanEntry:
    if piece.dtype not in SOURCE_DTYPES:
        raise TensorShapeError(f"{file_name}: tensor {key!r} has dtype {piece.dtype}; supported: "
                               f"{', '.join(SOURCE_DTYPES)}")
    transpose = name.endswith(CONV1D_WEIGHTS)
    source_shape = shape[::-1] if transpose else shape
    if piece.shape != source_shape:
        raise TensorShapeError(shape_mismatch(name, f"{key} in {file_name}", source_shape, piece.shape, transpose,
                                              config))
    return PlanEntry(name, key, file_name, piece.start, piece.end, piece.dtype, piece.shape, transpose,
                     SOURCE_DTYPES[piece.dtype], shape)


def shape_mismatch(name: str, source: str, expected: tuple, got: tuple, transpose: bool, config: dict) -> str:
    """Both shapes in the checkpoint's own orientation, so the user can find the numbers in their file."""
    layout = " (Hugging Face Conv1D layout [in, out])" if transpose else ""
    return (f"shape mismatch for tensor {name!r} ({source}): expected {list(expected)}{layout}, got {list(got)} "
            f"— from config {config_text(config)}. {SAME_MODEL}")


SAME_MODEL = "Are the config and the weights from the same model?"


def config_text(config: dict) -> str:
    return " ".join(f"{key}={config[key]}" for key in ("n_layer", "n_head", "n_embd", "n_ctx", "vocab_size"))


def short_list(items: list[str], limit: int = 5) -> str:
    return ", ".join(items[:limit]) + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


# ---- converting one tensor -------------------------------------------------------------------------------

def source_array(raw, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """A tensor's raw little-endian bytes → an array in the checkpoint's orientation (bfloat16 → float32)."""
    if dtype not in NUMPY_DTYPES:
        raise TensorShapeError(f"dtype {dtype} cannot be read; supported: {', '.join(SOURCE_DTYPES)}")
    values = np.frombuffer(raw, dtype=NUMPY_DTYPES[dtype])  # [n] (a view of raw)
    if dtype == "BF16":  # bfloat16 is the top half of a float32: shift the 16 stored bits up, exactly
        values = (values.astype("<u4") << 16).view("<f4")  # [n]
    return values.reshape(shape)  # [*shape]


def stored_tensor(raw, entry: PlanEntry) -> np.ndarray:
    """One tensor's bytes (exactly [start, end) of its file) → the C-contiguous little-endian stored array."""
    if len(memoryview(raw).cast("B")) != entry.end - entry.start:
        raise TensorShapeError(f"tensor {entry.name!r} ({entry.source_key} in {entry.source_file}): got "
                               f"{len(memoryview(raw).cast('B'))} bytes, expected {entry.end - entry.start}")
    array = source_array(raw, entry.source_dtype, entry.source_shape)  # [*source_shape]
    if array.dtype == np.float16 and not np.isfinite(array).all():
        # the page's float16 kernel widens a half's bits, not its value: Inf and NaN would come out as numbers
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise WeightsError(f"tensor {entry.name!r} ({entry.source_key} in {entry.source_file}): {bad} of its "
                           "float16 values are Inf or NaN; weights must be finite numbers")
    if entry.transpose:
        array = array.T  # [out, in]
    return np.ascontiguousarray(array, dtype=np.dtype(entry.dtype).newbyteorder("<"))  # [*shape]


def check_tied_head(wte: np.ndarray, head: np.ndarray, head_source: str, rows_per_step: int = 4096) -> None:
    """The engine reuses wte as the output head; a stored head that differs cannot be imported.

    Compared a block of rows at a time, so the check needs little memory beyond the two arrays.
    """
    if head.shape != wte.shape:
        raise WeightsError(f"untied output head: {head_source} has shape {list(head.shape)}, wte.weight "
                           f"{list(wte.shape)}; the engine ties the head to wte")
    for row in range(0, wte.shape[0], rows_per_step):
        a, b = wte[row:row + rows_per_step], head[row:row + rows_per_step]  # [rows, n_embd] each
        if not np.array_equal(a, b):
            largest = float(np.max(np.abs(b.astype(np.float64) - a)))
            raise WeightsError(f"untied output head: {head_source} differs from wte.weight (max |difference| "
                               f"{largest:.3g} in rows {row}…{row + len(a) - 1}); the engine ties the head to "
                               "wte, so this model cannot be used")


# ---- tokenizer -----------------------------------------------------------------------------------------

BPE_FILES = {"vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt"}  # the stored tokenizer files
MERGES_HEADER = "#version: 0.2"


def bpe_vocab(vocab_json_text: str | bytes, where: str) -> dict[str, int]:
    """vocab.json → {token: id}, ids exactly 0 … N−1 (N is the tokenizer's size, wte's rows)."""
    try:
        vocab = json.loads(vocab_json_text)
    except ValueError as error:
        raise TokenizerError(f"{where} is not valid UTF-8 JSON: {error}") from None
    if not isinstance(vocab, dict) or not all(isinstance(i, int) and not isinstance(i, bool) for i in vocab.values()):
        raise TokenizerError(f"{where} must be a JSON object mapping token -> integer id")
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise TokenizerError(f"{where}: token ids must be exactly 0 … {len(vocab) - 1}, each used once")
    return vocab


def check_merges(merges_txt_text: str, where: str) -> None:
    for number, line in enumerate(merges_txt_text.splitlines(), start=1):
        if number == 1 and line.startswith("#version"):
            continue
        if line and len(line.split(" ")) != 2:
            raise TokenizerError(f"{where}:{number}: a merge must be two tokens separated by one space, "
                                 f"got {line[:60]!r}")


def bpe_files_from_tokenizer_json(text: str | bytes, where: str) -> tuple[str, str]:
    """A Hugging Face fast-tokenizer file (byte-level BPE, GPT-2 style) → (vocab.json text, merges.txt text).

    Added tokens (e.g. <|endoftext|>) join the vocabulary under their ids. Anything the engine's
    BPETokenizer would encode differently from Hugging Face is refused, naming the setting.
    """
    try:
        spec = json.loads(text)
    except ValueError as error:
        raise TokenizerError(f"{where} is not JSON ({error})") from None
    model = spec.get("model") if isinstance(spec, dict) else None
    if not isinstance(model, dict):
        raise TokenizerError(f"{where} has no \"model\" object: not a Hugging Face tokenizer.json")
    if model.get("type") != "BPE":
        raise TokenizerError(f"{where}: the tokenizer model is {model.get('type')!r}; only byte-level BPE "
                             "(GPT-2's tokenizer) is supported")
    check_gpt2_byte_level(spec, model, where)
    vocab = dict(model.get("vocab") or {})
    for added in spec.get("added_tokens") or []:
        token, token_id = added.get("content"), added.get("id")
        if vocab.get(token, token_id) != token_id or (token not in vocab and token_id in vocab.values()):
            raise TokenizerError(f"{where}: added token {token!r} (id {token_id}) clashes with the vocabulary")
        vocab[token] = token_id
    vocab_text = json.dumps(vocab, ensure_ascii=False)
    bpe_vocab(vocab_text, f"{where} (model.vocab + added_tokens)")
    missing = [c for c in BYTE_TO_CHAR.values() if c not in vocab]
    if missing:
        raise TokenizerError(f"{where}: the vocabulary lacks {len(missing)} of the 256 byte symbols (e.g. "
                             f"{missing[0]!r}): not a byte-level BPE")
    return vocab_text, merges_text(model.get("merges") or [], where)


def check_gpt2_byte_level(spec: dict, model: dict, where: str) -> None:
    pre = spec.get("pre_tokenizer") or {}
    if pre.get("type") != "ByteLevel":
        raise TokenizerError(f"{where}: the pre-tokenizer is {pre.get('type')!r}, not ByteLevel: not a GPT-2 "
                             "byte-level BPE tokenizer")
    settings = [  # (setting, its value, the value GPT-2's tokenizer has)
        ("pre_tokenizer.add_prefix_space", pre.get("add_prefix_space", False), (False,)),
        ("pre_tokenizer.use_regex", pre.get("use_regex", True), (True,)),
        ("normalizer", spec.get("normalizer"), (None,)),
        ("model.dropout", model.get("dropout"), (None, 0, 0.0)),
        ("model.continuing_subword_prefix", model.get("continuing_subword_prefix"), (None, "")),
        ("model.end_of_word_suffix", model.get("end_of_word_suffix"), (None, "")),
        ("model.byte_fallback", model.get("byte_fallback", False), (False,)),
        ("model.ignore_merges", model.get("ignore_merges", False), (False,)),
    ]
    for setting, value, gpt2_values in settings:
        if not any(value is v or (type(value) is type(v) and value == v) for v in gpt2_values):
            raise TokenizerError(f"{where}: {setting} = {json.dumps(value)} makes it encode differently from "
                                 "GPT-2's byte-level BPE, which the engine implements")


def merges_text(merges: list, where: str) -> str:
    """merges as "a b" strings (older tokenizers) or [a, b] pairs (newer) → merges.txt text."""
    lines = [MERGES_HEADER]
    for number, merge in enumerate(merges):
        pair = merge.split(" ") if isinstance(merge, str) else merge
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(s, str) and s and " " not in s
                                                                  for s in pair)):
            raise TokenizerError(f"{where}: model.merges[{number}] must be two tokens without spaces, got {merge!r}")
        lines.append(" ".join(pair))
    return "\n".join(lines) + "\n"


def check_vocab_size(tokenizer_size: int, config: dict, tokenizer_where: str) -> None:
    """The tokenizer's size must equal config vocab_size, the rows of wte.weight."""
    if tokenizer_size != config["vocab_size"]:
        raise WeightsError(f"vocab size mismatch: the tokenizer ({tokenizer_where}) has {tokenizer_size} tokens "
                           f"but the embedding wte.weight has {config['vocab_size']} rows")


# ---- the manifest ---------------------------------------------------------------------------------------

def manifest(name: str, config: dict, plan: ImportPlan, tokenizer_files: dict[str, str | bytes], source: dict,
             sha256: dict[str, str] | None = None, tokenizer_source: str = "vocab.json") -> dict:
    """The stored model's manifest (docs/weights-format.md), with the tokenizer stored as BPE_FILES.

    tokenizer_files: {"tokenizer/vocab.json": text, "tokenizer/merges.txt": text}. sha256: {tensor name: hex
    digest} if the caller computed them; the page's reload does not check digests, so they may be left out.
    """
    vocab = bpe_vocab(tokenizer_files[BPE_FILES["vocab"]], BPE_FILES["vocab"])
    check_vocab_size(len(vocab), config, tokenizer_source)
    tensors = []
    for entry in plan.tensors:
        record = {"name": entry.name, "dtype": entry.dtype, "shape": list(entry.shape),
                  "entry": tensor_entry(entry.name), "nbytes": entry.nbytes}
        if sha256 and entry.name in sha256:
            record["sha256"] = sha256[entry.name]
        tensors.append(record)
    return {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "name": name, "family": "gpt2",
        "config": dict(config),
        "tokenizer": {"kind": "bpe", "files": dict(BPE_FILES), "eos_token": EOT if EOT in vocab else None},
        "tensors": tensors, "source": dict(source),
    }
