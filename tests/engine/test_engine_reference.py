"""The engine vs Hugging Face GPT2LMHeadModel on a tiny random GPT-2: logits, trace, generation, loading."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch

import gpt2cells
from gpt2cells import steps
from tests.engine.hf_zip import bpe_files, hf_tensors, hf_zip, manifest

LENGTHS = [1, 2, 3, 7, 16, 33, 63, 64]  # 64 = n_ctx


def random_ids(n, vocab_size, seed=0):
    return np.random.default_rng(seed).integers(0, vocab_size, n).tolist()


def hf_output(model, ids, **kwargs):
    with torch.no_grad():
        return model(torch.tensor([ids]), **kwargs)


@pytest.fixture(scope="module")
def eager_hf(tiny_hf):
    tiny_hf.set_attn_implementation("eager")  # the only implementation that returns attention patterns
    return tiny_hf


@pytest.mark.parametrize("n", LENGTHS)
def test_logits_match(tiny, tiny_hf, n):
    ids = random_ids(n, tiny.config.vocab_size, seed=n)
    ours = tiny.logits(ids)
    assert ours.dtype == np.float32 and ours.shape == (n, tiny.config.vocab_size)
    np.testing.assert_allclose(ours, hf_output(tiny_hf, ids).logits[0].numpy(), rtol=0, atol=1e-4)


def test_logits_of_encoded_text(tiny, tiny_hf, bpe_dir):
    from tests.model_factory import hf_tokenizer

    text = "Hello, world! Don't panic: 42 日本語 🙂"
    ids = tiny.encode(text)
    assert ids == hf_tokenizer(bpe_dir).encode(text) and tiny.decode(ids) == text
    np.testing.assert_allclose(tiny.logits(ids), hf_output(tiny_hf, ids).logits[0].numpy(), rtol=0, atol=1e-4)


@pytest.mark.parametrize("n", [1, 9, 64])
def test_trace_matches_hidden_states_and_attentions(tiny, eager_hf, n):
    ids = random_ids(n, tiny.config.vocab_size, seed=100 + n)
    trace = tiny.run(ids)
    out = hf_output(eager_hf, ids, output_hidden_states=True, output_attentions=True)
    hidden = [h[0].numpy() for h in out.hidden_states]  # embeddings, blocks 0..L-2, ln_f(last block)
    n_layer = tiny.config.n_layer
    assert len(hidden) == n_layer + 1
    np.testing.assert_allclose(trace["blocks.0.resid_pre"], hidden[0], atol=1e-5, rtol=0)
    for layer in range(n_layer - 1):
        np.testing.assert_allclose(trace[f"blocks.{layer}.resid_post"], hidden[layer + 1], atol=1e-4, rtol=0)
    np.testing.assert_allclose(trace["ln_final.out"], hidden[n_layer], atol=1e-4, rtol=0)
    for layer in range(n_layer):
        np.testing.assert_allclose(trace[f"blocks.{layer}.attn.pattern"], out.attentions[layer][0].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(trace["logits"], out.logits[0].numpy(), atol=1e-4, rtol=0)
    assert all(v.dtype == np.float32 for v in trace.values()), {k: v.dtype for k, v in trace.items() if v.dtype != np.float32}


def test_trace_names_and_shapes_are_the_documented_ones(tiny):
    # docs/naming.md lists every name with its shape; this test reads the table from the doc itself
    from pathlib import Path

    c = tiny.config
    n = 5
    sizes = {"n_seq": n, "n_embd": c.n_embd, "n_head": c.n_head, "d_head": c.d_head, "n_vocab": c.vocab_size,
             "4*n_embd": 4 * c.n_embd, "3*n_embd": 3 * c.n_embd}
    documented = {}
    for line in (Path(__file__).parents[2] / "docs" / "naming.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip().strip("`") for cell in line.split("|")[1:-1]]
        if len(cells) >= 2 and cells[1].startswith("["):
            shape = tuple(sizes[s.strip()] for s in cells[1].strip("[]").split(","))
            names = [cells[0].replace("{i}", str(i)) for i in range(c.n_layer)] if "{i}" in cells[0] else [cells[0]]
            documented |= {name: shape for name in names}
    trace = tiny.run(random_ids(n, c.vocab_size))
    assert {k: v.shape for k, v in trace.items()} == documented


def test_run_keeps_only_the_names_asked_for(tiny):
    ids = random_ids(8, tiny.config.vocab_size, seed=6)
    full = tiny.run(ids)
    some = tiny.run(ids, names=["blocks.2.attn.pattern", "logits"])
    assert list(some) == ["blocks.2.attn.pattern", "logits"]
    assert all(np.array_equal(some[k], full[k]) for k in some)


@pytest.mark.parametrize("kept", [(), ("scores",), ("scaled_scores",), ("masked_scores",), ("scores", "masked_scores")])
def test_what_a_record_keeps_is_never_overwritten_and_the_pass_is_the_same_bit_for_bit(tiny, kept):
    """A pass writes the next attention step over an array no record keeps (steps.spare): what a record does keep
    stays as it was made, and the logits do not depend on what was kept. Oracle: the steps written out in numpy."""
    ids = random_ids(9, tiny.config.vocab_size, seed=12)
    full = tiny.run(ids)  # keeps everything: no step is done in place
    seen = {}

    def record(name, value):
        if record.keeps(name):
            seen[name] = value
        return value

    record.keeps = lambda name: name.startswith("blocks.1.attn.") and name.split(".")[-1] in kept
    logits = steps.forward(np.array(ids), tiny.params, tiny.config, record=record)
    assert np.array_equal(logits, full["logits"]) and np.array_equal(tiny.logits(ids), full["logits"])
    q, k = full["blocks.1.attn.q"], full["blocks.1.attn.k"]  # [n_head, T, d_head]
    scores = np.einsum("hqd,hkd->hqk", q, k)  # [n_head, T, T]
    scaled = scores / np.sqrt(q.shape[-1])
    masked = np.where(np.triu(np.ones((9, 9), dtype=bool), 1), -np.inf, scaled)
    expected = {"scores": scores, "scaled_scores": scaled, "masked_scores": masked}
    assert set(seen) == {f"blocks.1.attn.{name}" for name in kept}
    for name in kept:
        np.testing.assert_allclose(seen[f"blocks.1.attn.{name}"], expected[name], rtol=1e-5, atol=1e-6)
    # decoding (one query: nothing masked), keeping the scaled scores, which the pattern is then made from
    cache = gpt2cells.KVCache(tiny.config, capacity=10)
    steps.forward(np.array(ids), tiny.params, tiny.config, cache)
    seen.clear()
    kept = ("scaled_scores",)
    steps.forward(np.array([3]), tiny.params, tiny.config, cache, record=record)
    assert np.isfinite(seen["blocks.1.attn.scaled_scores"]).all()  # not the pattern's probabilities either:
    assert not np.allclose(seen["blocks.1.attn.scaled_scores"].sum(-1), 1)


def test_trace_intermediates_are_the_steps(tiny):
    # the trace is not just consistent with HF at the ends: each name is the step applied to the previous
    ids = random_ids(6, tiny.config.vocab_size, seed=5)
    t, p = tiny.run(ids), tiny.params
    eps = tiny.config.layer_norm_epsilon
    assert np.array_equal(t["embed"], p["wte.weight"][ids]) and np.array_equal(t["pos_embed"], p["wpe.weight"][:6])
    x = t["blocks.1.resid_pre"]
    assert np.array_equal(x, t["blocks.0.resid_post"])
    np.testing.assert_allclose(t["blocks.1.ln1.normalized"].mean(-1), 0, atol=1e-6)
    np.testing.assert_allclose(t["blocks.1.ln1.normalized"].var(-1), 1, atol=1e-3)
    ln1 = steps.layer_norm(x, p["h.1.ln_1.weight"], p["h.1.ln_1.bias"], eps)
    assert np.array_equal(t["blocks.1.ln1.out"], ln1)
    pattern = t["blocks.1.attn.pattern"]
    np.testing.assert_allclose(pattern.sum(-1), 1, atol=1e-6)
    assert np.all(pattern[:, np.triu_indices(6, 1)[0], np.triu_indices(6, 1)[1]] == 0)
    assert np.all(np.isneginf(t["blocks.1.attn.masked_scores"][:, 0, 1:]))
    np.testing.assert_allclose(t["blocks.1.attn.z"], pattern @ t["blocks.1.attn.v"], atol=1e-6)
    np.testing.assert_allclose(t["blocks.1.resid_post"], t["blocks.1.resid_mid"] + t["blocks.1.mlp_out"], atol=0)
    np.testing.assert_allclose(t["blocks.1.mlp.post"], torch.nn.functional.gelu(torch.from_numpy(t["blocks.1.mlp.pre"]), approximate="tanh").numpy(), atol=1e-6)


def test_greedy_generation_matches_hf(tiny, tiny_hf):
    for n, new in [(1, 20), (10, 30), (40, 24)]:  # the last one ends exactly at n_ctx = 64
        ids = random_ids(n, tiny.config.vocab_size, seed=200 + n)
        with torch.no_grad():
            expected = tiny_hf.generate(torch.tensor([ids]), max_new_tokens=new, do_sample=False,
                                        eos_token_id=None, pad_token_id=0)[0, n:].tolist()
        assert tiny.generate(ids, new) == expected


def test_cached_logits_equal_recomputed(tiny):
    ids = random_ids(12, tiny.config.vocab_size, seed=9)
    cache = gpt2cells.KVCache(tiny.config, capacity=tiny.config.n_ctx)
    cached = [steps.forward(np.array(ids[:5]), tiny.params, tiny.config, cache)]  # a 5-token prompt, then one at a time
    for token in ids[5:]:
        cached.append(steps.forward(np.array([token]), tiny.params, tiny.config, cache))
    assert cache.length == 12
    np.testing.assert_allclose(np.concatenate(cached), tiny.logits(ids), atol=1e-5, rtol=0)
    # last_only computes the same last row
    np.testing.assert_allclose(steps.forward(np.array(ids), tiny.params, tiny.config, last_only=True)[0], tiny.logits(ids)[-1], atol=1e-6)


def test_seeded_sampling_is_reproducible(tiny):
    ids = random_ids(4, tiny.config.vocab_size, seed=11)
    runs = {seed: tiny.generate(ids, 30, temperature=1.0, seed=seed) for seed in range(4)}
    assert tiny.generate(ids, 30, temperature=1.0, seed=2) == runs[2]
    assert len({tuple(r) for r in runs.values()}) == 4
    assert list(tiny.generate_iter(ids, 30, temperature=1.0, seed=2)) == runs[2]


def test_top_k_and_top_p_are_respected(tiny, tiny_hf):
    ids = random_ids(3, tiny.config.vocab_size, seed=12)
    for top_k, top_p in [(1, None), (5, None), (None, 0.5), (20, 0.3)]:
        new = tiny.generate(ids, 25, temperature=1.3, top_k=top_k, top_p=top_p, seed=top_k or 0)
        logits = hf_output(tiny_hf, ids + new).logits[0].numpy()[len(ids) - 1:-1] / 1.3  # HF as the oracle
        for row, token in zip(logits, new):
            if top_k is not None:
                assert (row > row[token]).sum() < top_k  # fewer than k tokens are more likely
                row = np.where(row >= np.sort(row)[-top_k], row, -np.inf)
            if top_p is not None:
                probs = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
                assert probs[probs > probs[token]].sum() < top_p + 1e-5  # the more likely ones had not reached p


def test_sampling_follows_softmax():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32))
    rng = np.random.default_rng(0)
    counts = np.bincount([steps.choose_next_token(logits, 1.0, rng=rng) for _ in range(20000)], minlength=4)
    np.testing.assert_allclose(counts / 20000, [0.5, 0.3, 0.15, 0.05], atol=0.015)
    counts = np.bincount([steps.choose_next_token(logits, 1.0, top_p=0.7, rng=rng) for _ in range(5000)], minlength=4)
    assert counts[2] == counts[3] == 0 and abs(counts[0] / 5000 - 0.625) < 0.03


def test_most_likely_is_the_start_of_a_stable_sort():
    # ties (few distinct values), a nan, all nan, k past the vocabulary: the first k ids of a stable argsort of
    # −probs every time, ties in id order
    rng = np.random.default_rng(0)
    for trial in range(2000):
        n = int(rng.integers(1, 60))
        probs = (rng.integers(0, 5, n) / 4).astype(np.float32)  # [n]
        if trial % 5 == 0:
            probs[rng.integers(0, n)] = np.nan
        if trial % 7 == 0:
            probs[:] = np.nan
        k = int(rng.integers(1, n + 3))
        np.testing.assert_array_equal(steps.most_likely(probs, k), np.argsort(-probs, kind="stable")[:k])
    vocab = rng.standard_normal(50257).astype(np.float32)  # [n_vocab]
    vocab[[7, 70, 700]] = vocab.max()  # the top value three times
    np.testing.assert_array_equal(steps.most_likely(vocab, 10), np.argsort(-vocab, kind="stable")[:10])


def test_every_way_to_load_gives_the_same_model(tiny, tiny_hf, tiny_zip, bpe_dir):
    ids = random_ids(10, tiny.config.vocab_size, seed=13)
    expected = tiny.logits(ids)
    data = tiny_zip.read_bytes()
    tensors = hf_tensors(tiny_hf)
    files = bpe_files(bpe_dir)
    man = manifest(tiny_hf.config, tensors)
    sources = {
        "path-str": str(tiny_zip),
        "file object": open(tiny_zip, "rb"),
        "BytesIO": io.BytesIO(data),
        "bytes": data,
        "memoryview": memoryview(bytearray(data)),
        "mapping of arrays": {"manifest": man, "tensors": tensors, "files": files},
        "mapping of memoryviews": {"manifest": man, "tensors": {k: memoryview(v.tobytes()) for k, v in tensors.items()},
                                   "files": {k: v.decode() for k, v in files.items()}},
        "mapping of uint8 arrays, manifest as JSON": {
            "manifest": json.dumps(man), "tensors": {k: np.frombuffer(v.tobytes(), np.uint8) for k, v in tensors.items()},
            "files": {k: memoryview(v) for k, v in files.items()}},
    }
    for what, source in sources.items():
        model = gpt2cells.load(source, verify_sha256=True)
        assert model.config == tiny.config, what
        assert np.array_equal(model.logits(ids), expected), what
        assert model.encode("hello world") == tiny.encode("hello world"), what
        assert all(p.dtype == np.float32 and p.flags.c_contiguous for p in model.params.values()), what
    sources["file object"].close()


def test_buffers_are_viewed_not_copied(tiny_zip):
    data = bytearray(tiny_zip.read_bytes())
    model = gpt2cells.load(memoryview(data))
    assert all(np.shares_memory(p, np.frombuffer(data, np.uint8)) for p in model.params.values())
    with zipfile.ZipFile(tiny_zip) as z:
        files = {name: z.read(name) for name in z.namelist() if name.startswith("tokenizer/")}
    tensors = {k: np.frombuffer(bytearray(v.tobytes()), np.uint8) for k, v in model.params.items()}
    mapped = gpt2cells.load({"manifest": model.manifest, "tensors": tensors, "files": files})
    assert all(np.shares_memory(mapped.params[k], tensors[k]) for k in tensors)


def test_float16_zip(tiny_hf, bpe_dir, tmp_path):
    model = gpt2cells.load(hf_zip(tiny_hf, bpe_dir, tmp_path / "f16.zip", dtype="float16"))
    # matrices kept as stored (half the memory), vectors widened to float32 at load
    assert all(p.dtype == (np.float16 if p.ndim == 2 else np.float32) for p in model.params.values())
    tensors = hf_tensors(tiny_hf)
    assert all(np.array_equal(model.params[k], v.astype(np.float16)) for k, v in tensors.items())
    rounded = type(tiny_hf)(tiny_hf.config).eval()
    rounded.load_state_dict({k: v.half().float() for k, v in tiny_hf.state_dict().items()})
    ids = random_ids(20, model.config.vocab_size, seed=14)
    np.testing.assert_allclose(model.logits(ids), hf_output(rounded, ids).logits[0].numpy(), atol=1e-4, rtol=0)
