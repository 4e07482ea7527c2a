"""Shared fixtures: a trained BPE vocabulary and a tiny random GPT-2 (HF) with its format-v1 zip."""
from __future__ import annotations

import pytest
import torch

import gpt2cells
from tests import model_factory
from tests.engine.hf_zip import hf_zip

torch.set_num_threads(1)  # the machine's two cores are shared


@pytest.fixture(scope="session")
def bpe_dir(tmp_path_factory):
    return model_factory.train_bpe(tmp_path_factory.mktemp("bpe"), vocab_size=400)


@pytest.fixture(scope="session")
def tiny_hf(bpe_dir):
    # init_std 0.2 makes attention patterns peaked, so masking and softmax errors would show
    config = model_factory.gpt2_config(model_factory.vocab_size_of(bpe_dir), n_layer=3, n_head=4, n_embd=32, n_ctx=64)
    return model_factory.random_gpt2(config, seed=1, init_std=0.2)


@pytest.fixture(scope="session")
def tiny_zip(tiny_hf, bpe_dir, tmp_path_factory):
    return hf_zip(tiny_hf, bpe_dir, tmp_path_factory.mktemp("zip") / "tiny.zip")


@pytest.fixture(scope="session")
def tiny(tiny_zip):
    return gpt2cells.load(tiny_zip)
