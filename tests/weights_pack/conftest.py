"""Session-scoped checkpoints for the weights_pack tests: one tiny HF model (+ folders in every layout)
and one GPT-2-small-shape model (built once; 124M parameters)."""
from __future__ import annotations

import pytest

from tests import model_factory
from tests.weights_pack.checkpoints import bin_folder, padded_vocab


@pytest.fixture(scope="session")
def bpe_dir(tmp_path_factory):
    return model_factory.train_bpe(tmp_path_factory.mktemp("bpe"))


@pytest.fixture(scope="session")
def tiny_model(bpe_dir):
    return model_factory.random_gpt2(model_factory.gpt2_config(model_factory.vocab_size_of(bpe_dir)), seed=1)


@pytest.fixture(scope="session")
def tiny_folder(tiny_model, bpe_dir, tmp_path_factory):
    """save_pretrained (model.safetensors) + vocab.json/merges.txt. Tests copy it before changing it."""
    return model_factory.save_hf_folder(tiny_model, bpe_dir, tmp_path_factory.mktemp("tiny") / "tiny-gpt2")


@pytest.fixture(scope="session")
def tiny_bin_folder(tiny_model, bpe_dir, tmp_path_factory):
    return bin_folder(tiny_model, bpe_dir, tmp_path_factory.mktemp("tiny-bin") / "tiny-gpt2-bin")


@pytest.fixture(scope="session")
def small_model(bpe_dir):
    config = model_factory.gpt2_small_config()
    return model_factory.random_gpt2(config, seed=2)


@pytest.fixture(scope="session")
def small_folder(small_model, bpe_dir, tmp_path_factory):
    vocab = padded_vocab(bpe_dir, tmp_path_factory.mktemp("bpe-50257"), small_model.config.vocab_size)
    return model_factory.save_hf_folder(small_model, vocab, tmp_path_factory.mktemp("small") / "gpt2-small-shape")
