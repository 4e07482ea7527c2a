"""Round trips with Hugging Face as the oracle: checkpoint -> weights_pack -> gpt2cells.load, logits compared
with the HF model's own; plus the packed weights put back into an HF model (independent of gpt2cells)."""
from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest

import weights_pack
from tests import model_factory
from tests.weights_pack.checkpoints import (CONV1D, bin_folder, hf_logits, hf_model_from_zip, nanogpt_checkpoint,
                                            read_zip, write_meta_pkl, zero_biases)

FP32_TOLERANCE = 1e-4  # max |logit difference| vs Hugging Face, float32 pack
# float16 pack: each weight is rounded to 11 significant bits (relative error ≤ 2^-11 ≈ 4.9e-4). Measured
# max |Δlogit| vs HF: tiny model (logits std ≈ 0.1): ~2e-4; GPT-2-small shape (12 layers, logits std ≈ 0.1):
# ~1e-3. Documented in docs/weights-format.md; the bound below leaves headroom over the measurements.
FP16_TOLERANCE = 5e-3

gpt2cells = pytest.importorskip("gpt2cells")
needs_loader = pytest.mark.skipif(not hasattr(gpt2cells, "load"), reason="gpt2cells.load has not landed yet")


def random_ids(vocab_size: int, n: int, seed: int = 0) -> list[int]:
    return np.random.default_rng(seed).integers(0, vocab_size, size=n).tolist()


def max_logit_error(zip_path, hf_model, ids) -> float:
    model = gpt2cells.load(zip_path)
    ours = np.asarray(model.logits(ids), dtype=np.float64)  # [n_seq, vocab]
    theirs = hf_logits(hf_model, ids)  # [n_seq, vocab]
    assert ours.shape == theirs.shape
    return float(np.max(np.abs(ours - theirs)))


@pytest.mark.parametrize("layout", ["safetensors", "bin"])
def test_hf_folder_round_trip_matches_hf(layout, tiny_model, tiny_folder, tiny_bin_folder, tmp_path):
    src = tiny_folder if layout == "safetensors" else tiny_bin_folder
    result = weights_pack.convert(src, tmp_path / "tiny.zip")
    assert result.path == tmp_path / "tiny.zip" and result.tensors == 4 + 12 * tiny_model.config.n_layer
    ids = random_ids(tiny_model.config.vocab_size, tiny_model.config.n_positions)
    # independent of gpt2cells: the packed weights, put back into HF, give HF's logits exactly
    restored = hf_model_from_zip(result.path, tiny_model.config)
    np.testing.assert_array_equal(hf_logits(restored, ids), hf_logits(tiny_model, ids))
    if hasattr(gpt2cells, "load"):
        assert max_logit_error(result.path, tiny_model, ids) <= FP32_TOLERANCE


def test_hub_layout_bin_with_openai_tokenizer_names(tiny_model, bpe_dir, tmp_path):
    """openai-community/gpt2's own layout: no `transformer.` prefix, mask buffers, encoder.json/vocab.bpe."""
    src = bin_folder(tiny_model, bpe_dir, tmp_path / "hub-like", hub_layout=True)
    out = weights_pack.convert(src, tmp_path / "hub.zip").path
    with zipfile.ZipFile(out) as archive:
        assert archive.read("tokenizer/vocab.json") == (bpe_dir / "vocab.json").read_bytes()
        assert archive.read("tokenizer/merges.txt") == (bpe_dir / "merges.txt").read_bytes()
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["tokenizer"]["files"] == {"vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt"}
    ids = random_ids(tiny_model.config.vocab_size, 20, seed=3)
    np.testing.assert_array_equal(hf_logits(hf_model_from_zip(out, tiny_model.config), ids),
                                  hf_logits(tiny_model, ids))


def transformers5_folder(model, bpe_dir, folder):
    """What transformers 5's save_pretrained writes: model.safetensors, config.json, tokenizer.json only."""
    model.save_pretrained(folder)
    model_factory.hf_tokenizer(bpe_dir).save_pretrained(folder)
    assert (folder / "tokenizer.json").is_file() and not (folder / "vocab.json").exists()
    return folder


@needs_loader
def test_transformers5_folder_with_only_tokenizer_json(tiny_model, bpe_dir, tmp_path):
    from tokenizers import Tokenizer

    src = transformers5_folder(tiny_model, bpe_dir, tmp_path / "t5")
    result = weights_pack.convert(src, tmp_path / "t5.zip")
    manifest = weights_pack.info(result.path)
    assert manifest["tokenizer"] == {"kind": "bpe", "eos_token": "<|endoftext|>",
                                     "files": {"vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt"}}
    assert manifest["source"]["tokenizer"] == ["tokenizer.json"]
    ids = random_ids(tiny_model.config.vocab_size, tiny_model.config.n_positions, seed=13)
    assert max_logit_error(result.path, tiny_model, ids) <= FP32_TOLERANCE
    hf_tokenizer = Tokenizer.from_file(str(src / "tokenizer.json"))
    texts = model_factory.CORPUS + ["a<|endoftext|>b", " \n\n  ", "🙂 never seen ЖЖЖ"]
    model = gpt2cells.load(result.path)
    assert [model.encode(text) for text in texts] == [hf_tokenizer.encode(text).ids for text in texts]


def test_vocab_json_and_merges_txt_are_preferred_over_tokenizer_json(tiny_model, bpe_dir, tmp_path):
    src = transformers5_folder(tiny_model, bpe_dir, tmp_path / "both")
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(bpe_dir / name, src / name)
    result = weights_pack.convert(src, tmp_path / "both.zip")
    assert weights_pack.info(result.path)["source"]["tokenizer"] == ["vocab.json", "merges.txt"]
    with zipfile.ZipFile(result.path) as archive:
        assert archive.read("tokenizer/vocab.json") == (bpe_dir / "vocab.json").read_bytes()


@needs_loader
def test_nanogpt_checkpoint_matches_hf(tiny_model, bpe_dir, tmp_path):
    ckpt = nanogpt_checkpoint(tiny_model, tmp_path / "out-gpt2")
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(bpe_dir / name, ckpt.parent / name)
    result = weights_pack.convert(ckpt, tmp_path / "nano.zip")
    assert weights_pack.info(result.path)["source"]["kind"] == "nanogpt"
    ids = random_ids(tiny_model.config.vocab_size, tiny_model.config.n_positions, seed=4)
    assert max_logit_error(result.path, tiny_model, ids) <= FP32_TOLERANCE


@needs_loader
def test_nanogpt_without_biases_gets_zero_biases(bpe_dir, tmp_path):
    hf = zero_biases(model_factory.random_gpt2(model_factory.gpt2_config(model_factory.vocab_size_of(bpe_dir)), seed=5))
    ckpt = nanogpt_checkpoint(hf, tmp_path / "out-nobias", bias=False)
    assert not any(key.endswith(".bias") and ".attn.bias" not in key
                   for key in __import__("torch").load(ckpt, weights_only=True)["model"])
    result = weights_pack.convert(ckpt, tmp_path / "nobias.zip", tokenizer=bpe_dir)
    ids = random_ids(hf.config.vocab_size, 30, seed=6)
    assert max_logit_error(result.path, hf, ids) <= FP32_TOLERANCE


@needs_loader
def test_nanogpt_char_model_with_meta_pkl(tmp_path):
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
    out_dir = tmp_path / "out-shakespeare-char"
    out_dir.mkdir()
    itos = write_meta_pkl(out_dir / "meta.pkl", text)
    hf = model_factory.random_gpt2(model_factory.gpt2_config(len(itos), n_ctx=32), seed=7)
    nanogpt_checkpoint(hf, out_dir)
    result = weights_pack.convert(out_dir, tmp_path / "char.zip")  # the out_dir itself, as nanoGPT names it
    with zipfile.ZipFile(result.path) as archive:
        assert json.loads(archive.read("tokenizer/chars.json")) == {"itos": itos}
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["name"] == "out-shakespeare-char"
    assert manifest["tokenizer"] == {"kind": "char", "files": {"chars": "tokenizer/chars.json"}, "eos_token": None}
    model = gpt2cells.load(result.path)
    ids = model.encode("hear me speak")
    assert ids == [itos.index(c) for c in "hear me speak"]
    assert max_logit_error(result.path, hf, ids) <= FP32_TOLERANCE


@needs_loader
@pytest.mark.parametrize("char_file", ["meta.pkl", "chars.json"])
def test_hf_folder_with_char_tokenizer_like_the_adder(char_file, tmp_path):
    """The built-in adder model ships as an HF folder + nanoGPT meta.pkl; chars.json works the same."""
    folder = tmp_path / "adder"
    folder.mkdir()
    itos = write_meta_pkl(folder / "meta.pkl", "0123456789+=\n")
    if char_file == "chars.json":
        (folder / "meta.pkl").unlink()
        (folder / "chars.json").write_text(json.dumps({"itos": itos}))
    hf = model_factory.random_gpt2(model_factory.gpt2_config(len(itos), n_layer=1, n_ctx=16), seed=8)
    hf.save_pretrained(folder)
    result = weights_pack.convert(folder, tmp_path / "adder.zip", name="adder")
    assert weights_pack.info(result.path)["name"] == "adder"
    model = gpt2cells.load(result.path)
    ids = model.encode("12+34=")
    assert max_logit_error(result.path, hf, ids) <= FP32_TOLERANCE


@needs_loader
def test_float16_pack_within_documented_tolerance(tiny_model, tiny_folder, tmp_path):
    result = weights_pack.convert(tiny_folder, tmp_path / "tiny16.zip", dtype="float16")
    fp32 = weights_pack.convert(tiny_folder, tmp_path / "tiny32.zip")
    assert result.file_size < 0.6 * fp32.file_size
    ids = random_ids(tiny_model.config.vocab_size, tiny_model.config.n_positions, seed=9)
    error = max_logit_error(result.path, tiny_model, ids)
    print(f"float16 tiny: max |Δlogit| = {error:.2e}")
    assert error <= FP16_TOLERANCE


@needs_loader
def test_trim_vocab_keeps_the_first_rows(tiny_model, tiny_folder, tmp_path):
    """nanoGPT pads GPT-2's vocab; --trim-vocab drops rows past the tokenizer, the rest is unchanged."""
    small_bpe = model_factory.train_bpe(tmp_path / "bpe300", vocab_size=300)
    result = weights_pack.convert(tiny_folder, tmp_path / "trimmed.zip", tokenizer=small_bpe, trim_vocab=True)
    manifest = weights_pack.info(result.path)
    assert manifest["config"]["vocab_size"] == 300
    assert manifest["source"]["trimmed_vocab_from"] == tiny_model.config.vocab_size
    ids = random_ids(300, 25, seed=10)
    ours = np.asarray(gpt2cells.load(result.path).logits(ids))  # [n_seq, 300]
    np.testing.assert_allclose(ours, hf_logits(tiny_model, ids)[:, :300], atol=FP32_TOLERANCE, rtol=0)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_checkpoint_is_widened_exactly(dtype, tiny_model, bpe_dir, tmp_path):
    """bfloat16 safetensors cannot be read by NumPy directly; the packer widens the bits itself."""
    import copy

    import torch

    half = copy.deepcopy(tiny_model).to(getattr(torch, dtype))
    src = model_factory.save_hf_folder(half, bpe_dir, tmp_path / f"tiny-{dtype}")
    result = weights_pack.convert(src, tmp_path / "widened.zip")
    _, tensors = read_zip(result.path)
    for key, value in half.state_dict().items():
        name = key.removeprefix("transformer.")
        if name in tensors:
            expected = value.float().numpy()
            np.testing.assert_array_equal(tensors[name], expected.T if name.endswith(CONV1D) else expected)
    assert weights_pack.info(result.path)["source"]["checkpoint_dtype"] == {"bfloat16": "BF16", "float16": "F16"}[dtype]


def test_sharded_safetensors_folder(tiny_model, bpe_dir, tmp_path):
    src = tmp_path / "sharded"
    tiny_model.save_pretrained(src, max_shard_size="40KB")
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(bpe_dir / name, src / name)
    assert (src / "model.safetensors.index.json").is_file() and len(list(src.glob("model-*.safetensors"))) > 1
    result = weights_pack.convert(src, tmp_path / "sharded.zip")
    ids = random_ids(tiny_model.config.vocab_size, 16, seed=12)
    np.testing.assert_array_equal(hf_logits(hf_model_from_zip(result.path, tiny_model.config), ids),
                                  hf_logits(tiny_model, ids))


# ---------------------------------------------------------------- GPT-2 small shape (once)

@pytest.fixture(scope="module")
def small_zips(small_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("small-zips")
    return {dtype: weights_pack.convert(small_folder, out / f"small-{dtype}.zip", dtype=dtype)
            for dtype in ("float32", "float16")}


def test_gpt2_small_shape_packs_valid_and_aligned(small_model, small_zips):
    result = small_zips["float32"]
    assert result.tensors == 148
    report = weights_pack.verify(result.path)
    assert report.ok, report.all_problems()
    parameters = sum(p.numel() for p in small_model.parameters())  # lm_head is wte: counted once
    assert sum(check.nbytes for check in report.tensors) == 4 * parameters
    assert sum(check.nbytes for check in weights_pack.verify(small_zips["float16"].path).tensors) == 2 * parameters


@needs_loader
def test_gpt2_small_shape_matches_hf(small_model, small_zips):
    ids = random_ids(small_model.config.vocab_size, 64, seed=11)
    error32 = max_logit_error(small_zips["float32"].path, small_model, ids)
    error16 = max_logit_error(small_zips["float16"].path, small_model, ids)
    print(f"GPT-2 small shape: max |Δlogit| float32 {error32:.2e}, float16 {error16:.2e}")
    assert error32 <= FP32_TOLERANCE
    assert error16 <= FP16_TOLERANCE
