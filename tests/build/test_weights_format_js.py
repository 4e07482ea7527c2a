"""The page's weights check (site/weights-manifest.js over the dist/weights-format.js build.py writes from
py/gpt2cells/weights_format.py) expects the tensors and shapes a real GPT-2 has, for several configs.

Oracle: transformers' GPT2Model state dict (Conv1D weights [in, out] stored transposed as [out, in]).
"""

import json
import shutil
import subprocess

import pytest
import torch
from transformers import GPT2Config, GPT2Model

import build
from gpt2cells.weights_format import CONFIG_KEYS, DTYPES, FORMAT_NAME, FORMAT_VERSION, MANIFEST_ENTRY, expected_shapes

CONFIGS = [
    {"n_layer": 1, "n_head": 1, "n_embd": 4, "n_ctx": 8, "vocab_size": 11},
    {"n_layer": 3, "n_head": 2, "n_embd": 8, "n_ctx": 16, "vocab_size": 50},
    {"n_layer": 2, "n_head": 4, "n_embd": 32, "n_ctx": 5, "vocab_size": 7},
]
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")

NODE_SCRIPT = """
import { expectedShapes, FORMAT_NAME, FORMAT_VERSION, MANIFEST_ENTRY, DTYPES } from "./weights-manifest.js";
import { CONFIG_KEYS } from "./weights-format.js";
const configs = JSON.parse(process.argv[2]);
console.log(JSON.stringify({
  shapes: configs.map((config) => [...expectedShapes(config)]),
  constants: { FORMAT_NAME, FORMAT_VERSION, MANIFEST_ENTRY, DTYPES, CONFIG_KEYS },
}));
"""


def hf_shapes(config):
    """Tensor name -> shape of a Hugging Face GPT-2 with this config, in the stored [out, in] layout."""
    torch.manual_seed(0)
    hf = GPT2Model(GPT2Config(n_layer=config["n_layer"], n_head=config["n_head"], n_embd=config["n_embd"],
                              n_positions=config["n_ctx"], vocab_size=config["vocab_size"]))
    shapes = {}
    for name, tensor in hf.state_dict().items():
        if name.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # causal-mask buffers, not weights
        shape = list(tensor.shape)
        shapes[name] = shape[::-1] if name.endswith(CONV1D) else shape
    return shapes


@pytest.fixture(scope="module")
def page_check(tmp_path_factory):
    """The page's check as the build ships it, run by node for every config."""
    if shutil.which("node") is None:
        pytest.fail("node not found: install Node.js >= 18 (bash tests/run.sh)")
    folder = tmp_path_factory.mktemp("weights-js")
    for name in ("weights-manifest.js", "zip-reader.js"):
        shutil.copy(build.ROOT / "site" / name, folder / name)
    build.write_weights_format(folder / "weights-format.js")
    (folder / "package.json").write_text('{"type": "module"}')
    (folder / "check.js").write_text(NODE_SCRIPT)
    result = subprocess.run(["node", "check.js", json.dumps(CONFIGS)], cwd=folder, capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout)


@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_page_python_and_hugging_face_expect_the_same_tensors(page_check, index):
    config = CONFIGS[index]
    in_page = page_check["shapes"][index]
    hf = hf_shapes(config)
    assert sorted(name for name, _ in in_page) == sorted(hf)
    assert dict(in_page) == hf
    python = expected_shapes(config)
    assert [name for name, _ in in_page] == list(python)  # same checkpoint order
    assert {name: list(shape) for name, shape in python.items()} == hf


def test_page_has_the_python_constants(page_check):
    assert page_check["constants"] == {
        "FORMAT_NAME": FORMAT_NAME, "FORMAT_VERSION": FORMAT_VERSION, "MANIFEST_ENTRY": MANIFEST_ENTRY,
        "DTYPES": DTYPES, "CONFIG_KEYS": list(CONFIG_KEYS),
    }
