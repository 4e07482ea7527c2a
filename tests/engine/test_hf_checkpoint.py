"""Hugging Face files → the stored model (gpt2cells.hf_checkpoint), as the page does it: bytes in, one tensor
at a time. Hugging Face is the oracle: transformers' save_pretrained writes the files, its model computes the
logits and its tokenizer the encodings."""
from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import gpt2cells
from gpt2cells import hf_checkpoint as hf
from gpt2cells.errors import (
    ConfigError, MissingTensorError, TensorShapeError, TokenizerError, UnexpectedTensorError, WeightsError,
)
from tests import model_factory
from tests.pyodide_host import node_and_wheels

CONV1D = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")
TEXTS = model_factory.CORPUS + [
    "", " ", "\n", "  \n\n  \t", "a<|endoftext|>b <|endoftext|>", "Ünïcödé 日本語 🙂🚀 e\u0301", "x" * 300,
    "never seen: qzxv ЖЖЖ 𝔘𝔫𝔦 \u200b\u00a0nbsp", "trailing spaces   ", "   leading", "tab\tand\r\nCRLF",
]


def hf_logits(model, ids) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([list(ids)])).logits[0].double().numpy()  # [n_seq, vocab]


def save_folder(model, bpe_dir: Path, folder: Path, **save_options) -> Path:
    """save_pretrained for the model and for a fast tokenizer (transformers 5 writes only tokenizer.json)."""
    model.save_pretrained(folder, **save_options)
    model_factory.hf_tokenizer(bpe_dir).save_pretrained(folder)
    assert (folder / "tokenizer.json").is_file() and not (folder / "vocab.json").exists()
    return folder


def read_safetensors_header(path: Path) -> dict:
    data = path.read_bytes()
    length = hf.header_length(data[:8], len(data), path.name)
    return hf.read_header(data[8:8 + length], len(data), path.name)


def convert_folder(folder: Path):
    """What the worker does with dropped files: headers → plan → one tensor at a time → manifest."""
    config = hf.gpt2_config(json.loads((folder / "config.json").read_text()), "config.json")
    index_path = folder / "model.safetensors.index.json"
    if index_path.is_file():
        index = hf.read_index(index_path.read_text(), index_path.name)
        headers = {name: read_safetensors_header(folder / name) for name in sorted(set(index.values()))}
        slices, file_of_key = hf.merge_shards(headers, index, index_path.name)
    else:
        slices, file_of_key = read_safetensors_header(folder / "model.safetensors"), "model.safetensors"
    plan = hf.import_plan(config, slices, file_of_key)
    contents = {}

    def tensor(entry):
        if entry.source_file not in contents:
            contents[entry.source_file] = (folder / entry.source_file).read_bytes()
        return hf.stored_tensor(memoryview(contents[entry.source_file])[entry.start:entry.end], entry)

    tensors = {entry.name: tensor(entry) for entry in plan.tensors}
    if plan.head is not None:
        hf.check_tied_head(tensors["wte.weight"], tensor(plan.head), plan.head.source_key)
    vocab, merges = hf.bpe_files_from_tokenizer_json((folder / "tokenizer.json").read_text(), "tokenizer.json")
    files = {hf.BPE_FILES["vocab"]: vocab, hf.BPE_FILES["merges"]: merges}
    manifest = hf.manifest(folder.name, config, plan, files, {"kind": "huggingface", "path": folder.name})
    return manifest, tensors, files


def load_converted(folder: Path):
    manifest, tensors, files = convert_folder(folder)
    return gpt2cells.load({"manifest": manifest, "tensors": tensors, "files": files}), manifest, tensors


def expected_stored(model, name: str) -> np.ndarray:
    """The HF parameter in the stored layout, independent of the code under test."""
    value = model.state_dict()[f"transformer.{name}"].float().numpy()
    return value.T if name.endswith(CONV1D) else value


@pytest.fixture(scope="module")
def random_ids(tiny_hf):
    return np.random.default_rng(3).integers(0, tiny_hf.config.vocab_size, size=40).tolist()


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype, stored", [("float32", "float32"), ("float16", "float16"), ("bfloat16", "float32")])
def test_saved_model_converts_and_matches_hf(dtype, stored, tiny_hf, bpe_dir, tmp_path, random_ids):
    rounded = copy.deepcopy(tiny_hf).to(getattr(torch, dtype))
    folder = save_folder(rounded, bpe_dir, tmp_path / f"tiny-{dtype}")
    model, manifest, tensors = load_converted(folder)
    oracle = rounded.float()  # HF in float32 on the same rounded weights
    assert {t["dtype"] for t in manifest["tensors"]} == {stored}
    assert len(tensors) == 4 + 12 * tiny_hf.config.n_layer
    for name, array in tensors.items():
        assert array.flags.c_contiguous and array.dtype == np.dtype(stored)
        np.testing.assert_array_equal(array.astype(np.float32), expected_stored(oracle, name), err_msg=name)
    ours = np.asarray(model.logits(random_ids), dtype=np.float64)  # [n_seq, vocab]
    np.testing.assert_allclose(ours, hf_logits(oracle, random_ids), atol=1e-4, rtol=0)


def test_sharded_save_converts_and_matches_hf(tiny_hf, bpe_dir, tmp_path, random_ids):
    folder = save_folder(tiny_hf, bpe_dir, tmp_path / "sharded", max_shard_size="40KB")
    assert len(list(folder.glob("model-*.safetensors"))) > 1
    model, _, _ = load_converted(folder)
    np.testing.assert_allclose(model.logits(random_ids), hf_logits(tiny_hf, random_ids), atol=1e-4, rtol=0)


def test_manifest_is_the_weights_zip_schema(tiny_hf, bpe_dir, tmp_path):
    manifest, tensors, files = convert_folder(save_folder(tiny_hf, bpe_dir, tmp_path / "m"))
    config = tiny_hf.config
    assert manifest["format"] == "gpt2cells-weights" and manifest["format_version"] == 1
    assert manifest["config"] == {"n_layer": config.n_layer, "n_head": config.n_head, "n_embd": config.n_embd,
                                  "n_ctx": config.n_positions, "vocab_size": config.vocab_size,
                                  "layer_norm_epsilon": config.layer_norm_epsilon}
    assert manifest["tokenizer"] == {"kind": "bpe", "eos_token": "<|endoftext|>",
                                     "files": {"vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt"}}
    for record in manifest["tensors"]:
        assert record["entry"] == f"tensors/{record['name']}.bin"
        assert record["nbytes"] == tensors[record["name"]].nbytes
        assert record["shape"] == list(tensors[record["name"]].shape)


def test_a_stored_head_equal_to_wte_is_accepted_and_a_different_one_refused(tiny_hf, bpe_dir, tmp_path,
                                                                             random_ids):
    from safetensors.numpy import load_file, save_file

    folder = save_folder(tiny_hf, bpe_dir, tmp_path / "head")
    state = load_file(folder / "model.safetensors")
    state["lm_head.weight"] = state["transformer.wte.weight"].copy()
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    model, _, tensors = load_converted(folder)
    assert "lm_head.weight" not in tensors
    np.testing.assert_allclose(model.logits(random_ids), hf_logits(tiny_hf, random_ids), atol=1e-4, rtol=0)
    state["lm_head.weight"][5, 3] += 0.5
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(WeightsError, match=r"untied output head: lm_head.weight differs .* rows 0…"):
        convert_folder(folder)


def test_mask_buffers_are_dropped_and_prefixless_keys_accepted(tiny_hf, bpe_dir, tmp_path, random_ids):
    """openai-community/gpt2's own safetensors: no `transformer.` prefix, a causal-mask buffer per block."""
    from safetensors.numpy import load_file, save_file

    folder = save_folder(tiny_hf, bpe_dir, tmp_path / "hub-like")
    state = {key.removeprefix("transformer."): value for key, value in load_file(folder / "model.safetensors").items()}
    n_ctx = tiny_hf.config.n_positions
    for i in range(tiny_hf.config.n_layer):
        state[f"h.{i}.attn.bias"] = np.tril(np.ones((n_ctx, n_ctx), np.float32))[None, None]
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    model, _, _ = load_converted(folder)
    np.testing.assert_allclose(model.logits(random_ids), hf_logits(tiny_hf, random_ids), atol=1e-4, rtol=0)


# ---------------------------------------------------------------- tokenizer.json


@pytest.fixture(scope="module")
def tokenizer_json(bpe_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tokenizer")
    model_factory.hf_tokenizer(bpe_dir).save_pretrained(folder)
    return folder / "tokenizer.json"


def hf_encodings(tokenizer_path: Path) -> list[list[int]]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    return [tokenizer.encode(text).ids for text in TEXTS]


@pytest.mark.parametrize("merges_as", ["pairs", "strings"])
def test_tokenizer_json_encodes_like_hf(merges_as, tokenizer_json, bpe_dir, tmp_path):
    spec = json.loads(tokenizer_json.read_text())
    assert isinstance(spec["model"]["merges"][0], list)  # what tokenizers writes today
    if merges_as == "strings":  # what older tokenizers wrote (e.g. openai-community/gpt2's file)
        spec["model"]["merges"] = [" ".join(pair) for pair in spec["model"]["merges"]]
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec, ensure_ascii=False))
    vocab, merges = hf.bpe_files_from_tokenizer_json(path.read_text(), "tokenizer.json")
    assert json.loads(vocab) == json.loads((bpe_dir / "vocab.json").read_text())
    assert merges.splitlines()[1:] == (bpe_dir / "merges.txt").read_text().splitlines()[1:]
    ours = gpt2cells.BPETokenizer.from_files(vocab, merges)
    assert [ours.encode(text) for text in TEXTS] == hf_encodings(path)
    assert [ours.decode(ours.encode(text)) for text in TEXTS] == TEXTS


def test_added_token_outside_the_bpe_vocab_joins_it(tokenizer_json, tmp_path):
    spec = json.loads(tokenizer_json.read_text())
    size = len(spec["model"]["vocab"])
    spec["model"]["vocab"].pop("<|endoftext|>")  # only in added_tokens, under a new id at the end
    spec["model"]["vocab"] = {token: i - 1 for token, i in spec["model"]["vocab"].items()}
    spec["added_tokens"][0]["id"] = size - 1
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec, ensure_ascii=False))
    vocab, merges = hf.bpe_files_from_tokenizer_json(path.read_text(), "tokenizer.json")
    assert json.loads(vocab)["<|endoftext|>"] == size - 1 and len(json.loads(vocab)) == size
    ours = gpt2cells.BPETokenizer.from_files(vocab, merges)
    assert [ours.encode(text) for text in TEXTS] == hf_encodings(path)


# ---------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def saved(tiny_hf, bpe_dir, tmp_path_factory) -> Path:
    return save_folder(tiny_hf, bpe_dir, tmp_path_factory.mktemp("bad") / "tiny")


def header_and_data(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + length]), data[8 + length:]


def with_header(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def refused_file(content: bytes, error, *words):
    with pytest.raises(error) as caught:
        length = hf.header_length(content[:8], len(content), "model.safetensors")
        hf.read_header(content[8:8 + length], len(content), "model.safetensors")
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_header_length_past_the_end(saved):
    content = (saved / "model.safetensors").read_bytes()
    refused_file((len(content)).to_bytes(8, "little") + content[8:], WeightsError, "model.safetensors",
                 f"header length is {len(content)} bytes", "past the end")
    refused_file(b"\x01\x00", WeightsError, "too short")


def test_header_not_json(saved):
    header, data = header_and_data(saved / "model.safetensors")
    text = json.dumps(header).encode()
    broken = len(text).to_bytes(8, "little") + b"<" + text[1:] + data
    refused_file(broken, WeightsError, "model.safetensors", "not JSON")
    refused_file(with_header([1, 2], data), WeightsError, "must be a JSON object")  # type: ignore[arg-type]


def test_offsets_out_of_range(saved):
    header, data = header_and_data(saved / "model.safetensors")
    begin, end = header["transformer.ln_f.bias"]["data_offsets"]
    header["transformer.ln_f.bias"]["data_offsets"] = [len(data) - 8, len(data) - 8 + end - begin]
    refused_file(with_header(header, data), WeightsError, "'transformer.ln_f.bias'", "outside the file")


def test_offsets_overlapping(saved):
    header, data = header_and_data(saved / "model.safetensors")
    header["transformer.h.0.ln_1.bias"]["data_offsets"] = header["transformer.h.0.ln_1.weight"]["data_offsets"]
    refused_file(with_header(header, data), WeightsError, "transformer.h.0.ln_1.bias", "transformer.h.0.ln_1.weight",
                 "overlap")


def test_byte_span_contradicting_shape(saved):
    header, data = header_and_data(saved / "model.safetensors")
    header["transformer.ln_f.bias"]["shape"] = [31]
    refused_file(with_header(header, data), WeightsError, "'transformer.ln_f.bias'", "span 128 bytes", "124 bytes")


def test_unsupported_dtype(saved):
    header, data = header_and_data(saved / "model.safetensors")
    header["transformer.h.1.attn.c_proj.bias"]["dtype"] = "I32"  # same size: the header itself is consistent
    slices = hf.read_header(json.dumps(header).encode(), 8 + len(json.dumps(header)) + len(data), "model.safetensors")
    config = hf.gpt2_config(json.loads((saved / "config.json").read_text()), "config.json")
    with pytest.raises(TensorShapeError, match=r"model.safetensors: tensor 'transformer.h.1.attn.c_proj.bias' has "
                                               r"dtype I32; supported: F32, F16, BF16"):
        hf.import_plan(config, slices, "model.safetensors")
    header["transformer.h.1.attn.c_proj.bias"]["dtype"] = "Q4_K"
    refused_file(with_header(header, data), WeightsError, "unknown dtype 'Q4_K'", "F32, F16, BF16")


@pytest.fixture(scope="module")
def saved_slices(saved):
    return read_safetensors_header(saved / "model.safetensors")


@pytest.fixture(scope="module")
def saved_config(saved):
    return hf.gpt2_config(json.loads((saved / "config.json").read_text()), "config.json")


def test_missing_tensor(saved_config, saved_slices):
    slices = {k: v for k, v in saved_slices.items() if k != "transformer.h.1.mlp.c_fc.bias"}
    with pytest.raises(MissingTensorError,
                       match=r"lack 1 tensor\(s\) a GPT-2 with n_layer=3 .*needs: h.1.mlp.c_fc.bias"):
        hf.import_plan(saved_config, slices, "model.safetensors")


def test_unexpected_tensor(saved_config, saved_slices):
    slices = saved_slices | {"transformer.h.0.crossattention.q_attn.weight": saved_slices["transformer.ln_f.bias"]}
    with pytest.raises(UnexpectedTensorError, match=r"h.0.crossattention.q_attn.weight "
                                                    r"\(transformer.h.0.crossattention.q_attn.weight in model"):
        hf.import_plan(saved_config, slices, "model.safetensors")


@pytest.mark.parametrize("change, words", [
    ({"model_type": "gpt_neo"}, ["model_type 'gpt_neo'", "only GPT-2"]),
    ({"n_inner": 100}, ["n_inner=100", "not supported"]),
    ({"activation_function": "relu"}, ["activation_function='relu'"]),
    ({"scale_attn_weights": False}, ["scale_attn_weights=False"]),
    ({"scale_attn_by_inverse_layer_idx": True}, ["scale_attn_by_inverse_layer_idx=True"]),
    ({"add_cross_attention": True}, ["add_cross_attention=True"]),
    ({"n_head": 5}, ["n_embd (32) must be divisible by n_head (5)"]),
    ({"n_layer": None}, ["'n_layer'", "positive integer"]),
])
def test_not_gpt2_config(saved, change, words):
    raw = json.loads((saved / "config.json").read_text()) | change
    with pytest.raises(ConfigError) as caught:
        hf.gpt2_config(raw, "config.json")
    for word in ["config.json", *words]:
        assert word in str(caught.value), str(caught.value)


def test_accepted_gpt2_config_variants(saved):
    raw = json.loads((saved / "config.json").read_text())
    for change in ({"n_inner": 128}, {"activation_function": "gelu_pytorch_tanh"}, {"reorder_and_upcast_attn": True}):
        assert hf.gpt2_config(raw | change, "config.json")["n_embd"] == 32


def test_config_contradicting_tensors(saved, saved_slices):
    raw = json.loads((saved / "config.json").read_text()) | {"n_positions": 128}
    with pytest.raises(TensorShapeError) as caught:
        hf.import_plan(hf.gpt2_config(raw, "config.json"), saved_slices, "model.safetensors")
    for word in ("'wpe.weight'", "expected [128, 32]", "got [64, 32]", "n_ctx=128", "same model"):
        assert word in str(caught.value)


@pytest.mark.parametrize("sizes, words", [
    ({"n_layer": 3, "n_embd": 48}, ["'wte.weight'", "transformer.wte.weight in model.safetensors", "expected [400, 48]",
                                    "got [400, 32]", "n_embd=48"]),
    ({"n_layer": 2, "n_embd": 32}, ["tensors a GPT-2 with n_layer=2",
                                    "h.2.attn.c_attn.bias (transformer.h.2.attn.c_attn.bias in"]),
    ({"n_layer": 4, "n_embd": 32}, ["lack 12 tensor(s) a GPT-2 with n_layer=4", "h.3.ln_1.weight"]),
])
def test_files_of_two_different_models(saved_slices, bpe_dir, tmp_path, sizes, words):
    """The config.json of another model dropped with the tiny model's weights: the message says which
    tensor, what the config implies, and asks whether the files belong together."""
    other = model_factory.gpt2_config(model_factory.vocab_size_of(bpe_dir), n_head=4, **sizes)
    other.save_pretrained(tmp_path)
    config = hf.gpt2_config(json.loads((tmp_path / "config.json").read_text()), "config.json")
    with pytest.raises(WeightsError) as caught:
        hf.import_plan(config, saved_slices, "model.safetensors")
    for word in [*words, "same model"]:
        assert word in str(caught.value), str(caught.value)


def test_shard_missing_from_the_drop(saved):
    index = {"transformer.wte.weight": "model-00001-of-00002.safetensors",
             "transformer.wpe.weight": "model-00002-of-00002.safetensors"}
    shard = {"transformer.wte.weight": read_safetensors_header(saved / "model.safetensors")["transformer.wte.weight"]}
    with pytest.raises(WeightsError, match=r"missing file model-00002-of-00002.safetensors \(listed in "
                                           r"model.safetensors.index.json for tensor 'transformer.wpe.weight'\)"):
        hf.merge_shards({"model-00001-of-00002.safetensors": shard}, index, "model.safetensors.index.json")
    with pytest.raises(WeightsError, match="weight_map"):
        hf.read_index('{"metadata": {}}', "model.safetensors.index.json")


def test_vocab_size_not_matching_wte_rows(tiny_hf, saved_config, saved_slices, tmp_path):
    small = model_factory.train_bpe(tmp_path / "bpe300", vocab_size=300)
    files = {hf.BPE_FILES["vocab"]: (small / "vocab.json").read_text(),
             hf.BPE_FILES["merges"]: (small / "merges.txt").read_text()}
    plan = hf.import_plan(saved_config, saved_slices, "model.safetensors")
    with pytest.raises(WeightsError, match=r"vocab size mismatch: the tokenizer \(vocab.json\) has 300 tokens but "
                                           r"the embedding wte.weight has 400 rows"):
        hf.manifest("tiny", saved_config, plan, files, {})


def test_non_bpe_tokenizer_json(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    word_piece = Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    word_piece.save(str(tmp_path / "wp.json"))
    with pytest.raises(TokenizerError, match=r"tokenizer.json: the tokenizer model is 'WordPiece'; only byte-level"):
        hf.bpe_files_from_tokenizer_json((tmp_path / "wp.json").read_text(), "tokenizer.json")
    whitespace_bpe = Tokenizer(models.BPE({"a": 0, "b": 1, "ab": 2}, [("a", "b")]))
    whitespace_bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    whitespace_bpe.save(str(tmp_path / "bpe.json"))
    with pytest.raises(TokenizerError, match=r"pre-tokenizer is 'Whitespace', not ByteLevel"):
        hf.bpe_files_from_tokenizer_json((tmp_path / "bpe.json").read_text(), "tokenizer.json")
    with pytest.raises(TokenizerError, match="not JSON"):
        hf.bpe_files_from_tokenizer_json("{", "tokenizer.json")


def test_byte_level_settings_gpt2_does_not_use(tokenizer_json):
    spec = json.loads(tokenizer_json.read_text())
    spec["pre_tokenizer"]["add_prefix_space"] = True
    with pytest.raises(TokenizerError, match=r"pre_tokenizer.add_prefix_space = true makes it encode differently"):
        hf.bpe_files_from_tokenizer_json(json.dumps(spec), "tokenizer.json")


def test_stored_tensor_refuses_a_short_read(saved_config, saved_slices):
    entry = hf.import_plan(saved_config, saved_slices, "model.safetensors").tensors[0]
    with pytest.raises(TensorShapeError, match=r"'wte.weight' .*got 8 bytes, expected 51200"):
        hf.stored_tensor(b"\0" * 8, entry)


def test_stored_tensor_refuses_float16_inf_and_nan(saved_config, saved_slices):
    entry = hf.import_plan(saved_config, saved_slices, "model.safetensors").tensors[0]
    halves = np.random.default_rng(0).standard_normal(entry.source_shape).astype("<f2")  # [*source_shape]
    halves.flat[[3, 17]] = [np.inf, np.nan]
    entry = dataclasses.replace(entry, source_dtype="F16", dtype="float16", end=entry.start + halves.nbytes)
    with pytest.raises(WeightsError, match=r"'wte.weight' .*: 2 of its float16 values are Inf or NaN"):
        hf.stored_tensor(halves.tobytes(), entry)
    halves.flat[[3, 17]] = 1.0
    assert np.array_equal(hf.stored_tensor(halves.tobytes(), entry), halves)  # finite ones pass


# ---------------------------------------------------------------- in Pyodide, the page's runtime


PYODIDE_SCRIPT = '''
import json
from pathlib import Path

import numpy as np

import gpt2cells
from gpt2cells import hf_checkpoint as hf

{functions}

work = Path(WORK_DIR)  # set by pyodide_engine.mjs
inputs = json.loads((work / "inputs.json").read_text())
outputs = {{}}
for folder in inputs["folders"]:
    model, manifest, _ = load_converted(work / folder)
    np.save(work / f"{{folder}}.npy", model.logits(inputs["ids"]))
    outputs[folder] = {{"dtypes": sorted({{t["dtype"] for t in manifest["tensors"]}}),
                       "encoded": [model.encode(text) for text in inputs["texts"]]}}
(work / "outputs.json").write_text(json.dumps(outputs))
'''


def test_conversion_in_pyodide_matches_hf(tiny_hf, bpe_dir, tmp_path, random_ids):
    """The same conversion under Pyodide (Python 3.14, NumPy 2.x): BF16 widening, F16, shards, tokenizer.json."""
    import inspect
    import subprocess
    import zipfile

    import build

    node, wheels = node_and_wheels()
    build.package_gpt2cells(tmp_path / "gpt2cells.zip")
    with zipfile.ZipFile(tmp_path / "gpt2cells.zip") as package:
        package.extractall(tmp_path / "py")
    models = {"bf16": copy.deepcopy(tiny_hf).to(torch.bfloat16), "f16": copy.deepcopy(tiny_hf).to(torch.float16),
              "sharded": tiny_hf}
    for folder, model in models.items():
        save_folder(model, bpe_dir, tmp_path / folder, **({"max_shard_size": "40KB"} if folder == "sharded" else {}))
    (tmp_path / "inputs.json").write_text(json.dumps({"folders": list(models), "ids": random_ids, "texts": TEXTS}))
    functions = "\n\n".join(inspect.getsource(f) for f in (read_safetensors_header, convert_folder, load_converted))
    (tmp_path / "script.py").write_text(PYODIDE_SCRIPT.format(functions=functions))
    run = subprocess.run([node, str(Path(__file__).with_name("pyodide_engine.mjs")), str(build.PYODIDE_NPM_DIR),
                          str(tmp_path / "py"), str(tmp_path), str(tmp_path / "script.py"), *wheels],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    outputs = json.loads((tmp_path / "outputs.json").read_text())
    assert [outputs[folder]["dtypes"] for folder in models] == [["float32"], ["float16"], ["float32"]]
    for folder, model in models.items():
        np.testing.assert_allclose(np.load(tmp_path / f"{folder}.npy"), hf_logits(model.float(), random_ids),
                                   atol=1e-4, rtol=0, err_msg=folder)
    from tokenizers import Tokenizer

    expected = [e.ids for e in Tokenizer.from_file(str(tmp_path / "f16" / "tokenizer.json")).encode_batch(TEXTS)]
    assert all(outputs[folder]["encoded"] == expected for folder in models)
