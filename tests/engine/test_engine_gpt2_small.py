"""The engine vs Hugging Face at GPT-2 small's shape (vocab 50257, 12 layers, 12 heads, 768, n_ctx 1024).

One random model for the module (~0.5 GB) and as few forward passes as the checks allow: the machine is
shared. Loaded through the in-memory mapping, the page's path.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gpt2cells
from tests import model_factory
from tests.engine.hf_zip import bpe_files, hf_tensors, manifest


@pytest.fixture(scope="module")
def small_hf():
    return model_factory.random_gpt2(model_factory.gpt2_small_config(), seed=3)


@pytest.fixture(scope="module")
def small(small_hf, bpe_dir):
    tensors = hf_tensors(small_hf)
    return gpt2cells.load({"manifest": manifest(small_hf.config, tensors), "tensors": tensors, "files": bpe_files(bpe_dir)})


@pytest.fixture(scope="module")
def ids():
    return np.random.default_rng(4).integers(0, 50257, 1024).tolist()


def hf_logits(model, ids, **kwargs):
    with torch.no_grad():
        return model(torch.tensor([ids]), **kwargs)


def test_config(small):
    assert small.config == gpt2cells.Config(n_layer=12, n_head=12, n_embd=768, n_ctx=1024, vocab_size=50257)


def test_logits_for_prompts_up_to_64(small, small_hf, ids):
    expected = hf_logits(small_hf, ids[:64]).logits[0].numpy()  # causal: row t depends on ids[:t + 1] only
    for n in (1, 5, 64):
        ours = small.logits(ids[:n])
        assert ours.dtype == np.float32 and ours.shape == (n, 50257)
        np.testing.assert_allclose(ours, expected[:n], atol=1e-4, rtol=0)


def test_logits_at_n_ctx(small, small_hf, ids):
    np.testing.assert_allclose(small.logits(ids), hf_logits(small_hf, ids).logits[0].numpy(), atol=1e-4, rtol=0)


def test_trace_matches_hidden_states_and_attentions(small, small_hf, ids):
    small_hf.set_attn_implementation("eager")
    out = hf_logits(small_hf, ids[:16], output_hidden_states=True, output_attentions=True)
    trace = small.run(ids[:16])
    np.testing.assert_allclose(trace["blocks.0.resid_pre"], out.hidden_states[0][0].numpy(), atol=1e-5, rtol=0)
    for layer in range(11):
        np.testing.assert_allclose(trace[f"blocks.{layer}.resid_post"], out.hidden_states[layer + 1][0].numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(trace["ln_final.out"], out.hidden_states[12][0].numpy(), atol=1e-4, rtol=0)
    for layer in range(12):
        np.testing.assert_allclose(trace[f"blocks.{layer}.attn.pattern"], out.attentions[layer][0].numpy(), atol=1e-5, rtol=0)
    assert all(v.dtype == np.float32 for v in trace.values())


def test_greedy_generation_matches_hf(small, small_hf, ids):
    prompt = ids[:6]
    with torch.no_grad():
        expected = small_hf.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False,
                                     eos_token_id=None, pad_token_id=0)[0, 6:].tolist()
    assert small.generate(prompt, 8) == expected
