"""Every bad input raises its specific error, naming the thing and what was expected."""
from __future__ import annotations

import copy
import io
import json
import zipfile

import numpy as np
import pytest

import gpt2cells
from tests.engine.hf_zip import bpe_files, hf_tensors, manifest, write_zip


@pytest.fixture(scope="module")
def parts(tiny_hf, bpe_dir):
    tensors = hf_tensors(tiny_hf)
    return manifest(tiny_hf.config, tensors), tensors, bpe_files(bpe_dir)


def load_mapping(man, tensors, files, **kwargs):
    return gpt2cells.load({"manifest": man, "tensors": tensors, "files": files}, **kwargs)


def edited(man, **changes):
    man = copy.deepcopy(man)
    for key, value in changes.items():
        man[key] = value
    return man


# ---- prompts -------------------------------------------------------------------------------------------

def test_prompt_longer_than_n_ctx(tiny):
    n_ctx = tiny.config.n_ctx
    with pytest.raises(gpt2cells.PromptTooLongError, match=f"{n_ctx + 1} positions exceed .* n_ctx = {n_ctx}"):
        tiny.logits([1] * (n_ctx + 1))
    with pytest.raises(gpt2cells.PromptTooLongError):
        tiny.run([1] * (n_ctx + 1))
    # generation needs len(prompt) + max_new_tokens - 1 positions: the last new token is never fed back
    assert len(tiny.generate([1] * n_ctx, 1)) == 1
    assert len(tiny.generate([1] * (n_ctx - 9), 10)) == 10
    with pytest.raises(gpt2cells.PromptTooLongError, match=f"{n_ctx + 1} positions"):
        tiny.generate([1] * (n_ctx - 9), 11)


def test_empty_prompt(tiny):
    for call in (tiny.logits, tiny.run, lambda ids: tiny.generate(ids, 3)):
        with pytest.raises(gpt2cells.EmptyPromptError, match="empty"):
            call([])


@pytest.mark.parametrize("ids, message", [
    ([1, -1], "token id -1 at position 1 is outside \\[0, "),
    ([400, 0], "token id 400 at position 0"),  # vocab_size of the tiny model
    ([1.0, 2.0], "must be integers"),
    ([[1, 2]], "flat sequence"),
    (["a"], "must be integers"),
])
def test_bad_ids(tiny, ids, message):
    assert tiny.config.vocab_size == 400
    for call in (tiny.logits, tiny.run, lambda ids: tiny.generate(ids, 2)):
        with pytest.raises(gpt2cells.TokenIdError, match=message):
            call(ids)


def test_generate_iter_checks_at_the_call(tiny):
    with pytest.raises(gpt2cells.EmptyPromptError):
        tiny.generate_iter([], 5)  # not deferred to the first next()


@pytest.mark.parametrize("kwargs, message", [
    ({"max_new_tokens": -1}, "max_new_tokens"),
    ({"max_new_tokens": 2.5}, "max_new_tokens"),
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": float("nan")}, "temperature"),
    ({"top_k": 0}, "top_k"),
    ({"top_p": 0.0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
])
def test_bad_sampling_settings(tiny, kwargs, message):
    kwargs = {"max_new_tokens": 3, "temperature": 1.0} | kwargs
    with pytest.raises(gpt2cells.SamplingError, match=message):
        tiny.generate([1, 2], **kwargs)


def test_zero_new_tokens(tiny):
    assert tiny.generate([1, 2], 0) == []


# ---- weights -------------------------------------------------------------------------------------------

def test_missing_tensor(parts):
    man, tensors, files = parts
    man = edited(man, tensors=[t for t in man["tensors"] if t["name"] != "h.1.mlp.c_fc.bias"])
    tensors = {k: v for k, v in tensors.items() if k != "h.1.mlp.c_fc.bias"}
    with pytest.raises(gpt2cells.MissingTensorError, match="'h.1.mlp.c_fc.bias' is missing"):
        load_mapping(man, tensors, files)


def test_wrong_shape_names_tensor_and_shapes(parts):
    man, tensors, files = parts
    name = "h.0.attn.c_attn.weight"  # [96, 32]; an untransposed HF Conv1D weight is [32, 96]
    man = edited(man, tensors=[t | {"shape": t["shape"][::-1]} if t["name"] == name else t for t in man["tensors"]])
    with pytest.raises(gpt2cells.TensorShapeError, match=r"'h.0.attn.c_attn.weight': expected shape \[96, 32\], got \[32, 96\].*transposed"):
        load_mapping(man, tensors, files)
    with pytest.raises(gpt2cells.TensorShapeError, match=r"'wpe.weight': expected shape \[64, 32\], got \[63, 32\]"):
        gpt2cells.Model(gpt2cells.Config.from_dict(parts[0]["config"]), parts[1] | {"wpe.weight": parts[1]["wpe.weight"][:63]})


def test_unknown_tensor_is_rejected(parts):
    man, tensors, files = parts
    extra = {"name": "lm_head.weight", "dtype": "float32", "shape": [400, 32], "entry": "tensors/lm_head.weight.bin", "nbytes": 400 * 32 * 4}
    with pytest.raises(gpt2cells.UnexpectedTensorError, match="'lm_head.weight' is not part of format v1"):
        load_mapping(edited(man, tensors=man["tensors"] + [extra]), tensors | {"lm_head.weight": tensors["wte.weight"]}, files)
    with pytest.raises(gpt2cells.WeightsError, match="'lm_head.weight' is in the tensors mapping but not listed"):
        load_mapping(man, tensors | {"lm_head.weight": tensors["wte.weight"]}, files)


def test_bytes_that_do_not_fit_the_shape(parts):
    man, tensors, files = parts
    with pytest.raises(gpt2cells.TensorShapeError, match="'ln_f.bias': expected 128 bytes, got 124"):
        load_mapping(man, tensors | {"ln_f.bias": tensors["ln_f.bias"].tobytes()[:-4]}, files)
    bad_nbytes = edited(man, tensors=[t | {"nbytes": 1} if t["name"] == "ln_f.bias" else t for t in man["tensors"]])
    with pytest.raises(gpt2cells.TensorShapeError, match="'ln_f.bias': nbytes must be 128"):
        load_mapping(bad_nbytes, tensors, files)
    bad_dtype = edited(man, tensors=[t | {"dtype": "int8"} if t["name"] == "ln_f.bias" else t for t in man["tensors"]])
    with pytest.raises(gpt2cells.TensorShapeError, match="'ln_f.bias': dtype must be one of"):
        load_mapping(bad_dtype, tensors, files)
    with pytest.raises(gpt2cells.TensorShapeError, match=r"'ln_f.bias': expected a float32 array of shape \[32\]"):
        load_mapping(man, tensors | {"ln_f.bias": tensors["ln_f.bias"][:16]}, files)


def test_corrupted_data_fails_sha256_check(parts):
    man, tensors, files = parts
    corrupted = tensors | {"wte.weight": tensors["wte.weight"] + np.float32(1e-3)}
    load_mapping(man, corrupted, files)  # unchecked by default: a digest over 0.5 GB costs seconds in wasm
    with pytest.raises(gpt2cells.WeightsError, match="'wte.weight': sha256 does not match"):
        load_mapping(man, corrupted, files, verify_sha256=True)


@pytest.mark.parametrize("config_change, error, message", [
    ({"n_head": 5}, gpt2cells.ConfigError, r"n_embd \(32\) must be divisible by n_head \(5\)"),
    ({"n_layer": 0}, gpt2cells.ConfigError, "'n_layer'.* positive integer"),
    ({"n_ctx": None}, gpt2cells.ConfigError, "'n_ctx'"),
    ({"layer_norm_epsilon": -1}, gpt2cells.ConfigError, "layer_norm_epsilon"),
])
def test_bad_config(parts, config_change, error, message):
    man, tensors, files = parts
    with pytest.raises(error, match=message):
        load_mapping(edited(man, config=man["config"] | config_change), tensors, files)


def test_config_without_a_key(parts):
    man, tensors, files = parts
    config = {k: v for k, v in man["config"].items() if k != "vocab_size"}
    with pytest.raises(gpt2cells.ConfigError, match="'vocab_size'"):
        load_mapping(edited(man, config=config), tensors, files)


def test_format_name_and_version(parts):
    man, tensors, files = parts
    with pytest.raises(gpt2cells.WeightsError, match="format must be 'gpt2cells-weights'"):
        load_mapping(edited(man, format="safetensors"), tensors, files)
    with pytest.raises(gpt2cells.WeightsError, match="format_version 2 is not supported"):
        load_mapping(edited(man, format_version=2), tensors, files)


def test_tokenizer_larger_than_vocab(parts):
    man, tensors, files = parts
    small = edited(man, config=man["config"] | {"vocab_size": 300})
    small["tensors"] = [t | {"shape": [300, 32], "nbytes": 300 * 32 * 4} if t["name"] == "wte.weight" else t for t in small["tensors"]]
    with pytest.raises(gpt2cells.WeightsError, match="tokenizer has 400 token ids but the model's vocab_size is 300"):
        load_mapping(small, tensors | {"wte.weight": tensors["wte.weight"][:300]}, files)


def test_missing_tokenizer_file(parts):
    man, tensors, files = parts
    with pytest.raises(gpt2cells.WeightsError, match="'tokenizer/merges.txt' is absent"):
        load_mapping(man, tensors, {"tokenizer/vocab.json": files["tokenizer/vocab.json"]})


def test_zip_problems(parts, tmp_path):
    man, tensors, files = parts
    with pytest.raises(gpt2cells.WeightsError, match="not a weights zip"):
        gpt2cells.load(io.BytesIO(b"PK not really a zip"))
    deflated = tmp_path / "deflated.zip"
    with zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(man))
        for name, array in tensors.items():
            z.writestr(f"tensors/{name}.bin", array.tobytes())
    with pytest.raises(gpt2cells.WeightsError, match="'tensors/wte.weight.bin' is compressed"):
        gpt2cells.load(deflated)
    no_manifest = tmp_path / "no_manifest.zip"
    with zipfile.ZipFile(no_manifest, "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(gpt2cells.WeightsError, match="no manifest.json"):
        gpt2cells.load(no_manifest)
    lacking = write_zip(tmp_path / "lacking.zip", man, {k: v for k, v in tensors.items() if k != "ln_f.weight"}, files)
    with pytest.raises(gpt2cells.WeightsError, match="'ln_f.weight': zip entry 'tensors/ln_f.weight.bin' is missing"):
        gpt2cells.load(lacking)
    with pytest.raises(gpt2cells.WeightsError, match="expected bytes, a memoryview or a numpy array, got int"):
        gpt2cells.load(42)


def test_forward_called_directly_refuses_what_numpy_would_wrap_or_cut(tiny):
    from gpt2cells import steps

    with pytest.raises(gpt2cells.TokenIdError, match=r"\[0, 400\), got -1"):
        steps.forward(np.array([3, -1]), tiny.params, tiny.config)
    cache = gpt2cells.KVCache(tiny.config, capacity=tiny.config.n_ctx)
    steps.forward(np.arange(60), tiny.params, tiny.config, cache)
    with pytest.raises(gpt2cells.PromptTooLongError, match="positions 60..64 exceed the context window n_ctx = 64"):
        steps.forward(np.arange(5), tiny.params, tiny.config, cache)
    assert cache.length == 60
