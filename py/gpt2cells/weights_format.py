"""The weights zip contract shared by the packer (weights_pack) and the loader (gpt2cells.load).

See docs/weights-format.md. Linear weights are stored [out_features, in_features].
"""
from __future__ import annotations

FORMAT_NAME = "gpt2cells-weights"
FORMAT_VERSION = 1
MANIFEST_ENTRY = "manifest.json"
TENSOR_ALIGNMENT = 64  # bytes; tensor data offsets in the zip are multiples of this
DTYPES = {"float32": 4, "float16": 2}
CONFIG_KEYS = ("n_layer", "n_head", "n_embd", "n_ctx", "vocab_size")
DEFAULT_LAYER_NORM_EPSILON = 1e-5


def tensor_entry(name: str) -> str:
    return f"tensors/{name}.bin"


def expected_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every tensor the engine needs, in checkpoint order, with the shape the config implies."""
    d, n_ctx, vocab = config["n_embd"], config["n_ctx"], config["vocab_size"]
    shapes = {"wte.weight": (vocab, d), "wpe.weight": (n_ctx, d)}
    for i in range(config["n_layer"]):
        block = f"h.{i}"
        shapes |= {
            f"{block}.ln_1.weight": (d,), f"{block}.ln_1.bias": (d,),
            f"{block}.attn.c_attn.weight": (3 * d, d), f"{block}.attn.c_attn.bias": (3 * d,),
            f"{block}.attn.c_proj.weight": (d, d), f"{block}.attn.c_proj.bias": (d,),
            f"{block}.ln_2.weight": (d,), f"{block}.ln_2.bias": (d,),
            f"{block}.mlp.c_fc.weight": (4 * d, d), f"{block}.mlp.c_fc.bias": (4 * d,),
            f"{block}.mlp.c_proj.weight": (d, 4 * d), f"{block}.mlp.c_proj.bias": (d,),
        }
    shapes |= {"ln_f.weight": (d,), "ln_f.bias": (d,)}
    return shapes


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
