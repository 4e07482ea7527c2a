"""The weights zip contract shared by the packer (weights_pack), the loader (gpt2cells.load) and the page.

See docs/weights-format.md. Linear weights are stored [out_features, in_features]. This module is the one
source of the contract: build.py writes its constants and shape rules into dist/weights-format.js, which the
page's check (site/weights-manifest.js) imports.
"""
from __future__ import annotations

FORMAT_NAME = "gpt2cells-weights"
FORMAT_VERSION = 1
MANIFEST_ENTRY = "manifest.json"
TENSOR_ALIGNMENT = 64  # bytes; tensor data offsets in the zip are multiples of this
DTYPES = {"float32": 4, "float16": 2}
CONFIG_KEYS = ("n_layer", "n_head", "n_embd", "n_ctx", "vocab_size")
TOKENIZER_FILES = {"bpe": ("vocab", "merges"), "char": ("chars",)}  # tokenizer.kind -> roles in tokenizer.files
DEFAULT_LAYER_NORM_EPSILON = 1e-5

# Every tensor's shape as data, in checkpoint order: each dimension is (factor, config key), e.g. (3, "n_embd")
# is 3 * n_embd. "block" tensors repeat for every layer i as h.{i}.<name>, between "embeddings" and "final".
SHAPE_RULES = {
    "embeddings": (
        ("wte.weight", ((1, "vocab_size"), (1, "n_embd"))),
        ("wpe.weight", ((1, "n_ctx"), (1, "n_embd"))),
    ),
    "block": (
        ("ln_1.weight", ((1, "n_embd"),)), ("ln_1.bias", ((1, "n_embd"),)),
        ("attn.c_attn.weight", ((3, "n_embd"), (1, "n_embd"))), ("attn.c_attn.bias", ((3, "n_embd"),)),
        ("attn.c_proj.weight", ((1, "n_embd"), (1, "n_embd"))), ("attn.c_proj.bias", ((1, "n_embd"),)),
        ("ln_2.weight", ((1, "n_embd"),)), ("ln_2.bias", ((1, "n_embd"),)),
        ("mlp.c_fc.weight", ((4, "n_embd"), (1, "n_embd"))), ("mlp.c_fc.bias", ((4, "n_embd"),)),
        ("mlp.c_proj.weight", ((1, "n_embd"), (4, "n_embd"))), ("mlp.c_proj.bias", ((1, "n_embd"),)),
    ),
    "final": (
        ("ln_f.weight", ((1, "n_embd"),)), ("ln_f.bias", ((1, "n_embd"),)),
    ),
}


def tensor_entry(name: str) -> str:
    return f"tensors/{name}.bin"


def expected_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every tensor the engine needs, in checkpoint order, with the shape the config implies."""
    named = [*SHAPE_RULES["embeddings"],
             *((f"h.{i}.{name}", dims) for i in range(config["n_layer"]) for name, dims in SHAPE_RULES["block"]),
             *SHAPE_RULES["final"]]
    return {name: tuple(factor * config[key] for factor, key in dims) for name, dims in named}


def check_config(config: dict) -> None:
    """Raise ValueError naming the key when a config cannot describe a GPT-2."""
    for key in CONFIG_KEYS:
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"config[{key!r}] must be a positive integer, got {value!r}")
    if config["n_embd"] % config["n_head"]:
        raise ValueError(
            f"config: n_embd ({config['n_embd']}) must be divisible by n_head ({config['n_head']})"
        )
