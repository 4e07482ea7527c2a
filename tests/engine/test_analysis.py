"""gpt2cells.analysis vs Hugging Face on the tiny random GPT-2: every expected value comes from HF's own modules
(run with PyTorch hooks where an intervention is needed) or from numpy written here on HF's raw weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gpt2cells import analysis
from gpt2cells.errors import PromptError


def random_ids(n, vocab_size, seed):
    return np.random.default_rng(seed).integers(0, vocab_size, n).tolist()


@pytest.fixture(scope="module")
def hf(tiny_hf):
    tiny_hf.set_attn_implementation("eager")  # the only implementation that returns attention patterns
    return tiny_hf


def hf_run(model, ids, pre_hooks=(), hooks=(), **kwargs):
    """One HF forward pass with (module, hook) pairs registered for this pass only."""
    handles = [module.register_forward_pre_hook(hook) for module, hook in pre_hooks]
    handles += [module.register_forward_hook(hook) for module, hook in hooks]
    try:
        with torch.no_grad():
            return model(torch.tensor([ids]), **kwargs)
    finally:
        for handle in handles:
            handle.remove()


def weights(hf):
    return {name: t.detach().numpy() for name, t in hf.state_dict().items()}


def swap_rows(replacement, positions):
    """A pre-hook that puts replacement[positions] into its module's first input (the hidden states)."""
    def hook(module, args):
        x = args[0].clone()
        x[0, positions] = torch.from_numpy(replacement[positions])
        return (x,) + args[1:]
    return hook


def capture_inputs(store, key):
    def hook(module, args):
        store[key] = args[0][0].numpy().copy()
    return hook


# ---- logit lens ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lens_rows", [256, 20])  # rows through the unembedding at once (20: two streams at a time)
def test_logit_lens_equals_hf_hidden_states_through_ln_f_and_lm_head(tiny, hf, lens_rows, monkeypatch):
    monkeypatch.setattr(analysis, "LENS_ROWS", lens_rows)
    ids = random_ids(9, tiny.config.vocab_size, seed=1)
    out = hf_run(hf, ids, output_hidden_states=True)
    with torch.no_grad():  # hidden_states[i] enters block i; the last one already went through ln_f
        hf_logits = [hf.lm_head(hf.transformer.ln_f(h))[0] for h in out.hidden_states[:-1]] + [out.logits[0]]
    hf_logits = torch.stack(hf_logits)  # [n_layer + 1, n_seq, n_vocab]
    hf_probs = torch.softmax(hf_logits, dim=-1).numpy()

    resids = analysis.accumulated_resid(tiny, ids)
    assert resids.shape == (tiny.config.n_layer + 1, 9, tiny.config.n_embd)
    for resid, expected in zip(resids, hf_logits.numpy()):
        np.testing.assert_allclose(analysis.lens_logits(tiny, resid), expected, atol=1e-4, rtol=0)

    lens = analysis.logit_lens(tiny, ids)
    assert lens["labels"] == ["0_pre", "1_pre", "2_pre", "final_post"]
    assert np.array_equal(lens["top_ids"], hf_probs.argmax(-1))
    np.testing.assert_allclose(lens["top_probs"], hf_probs.max(-1), atol=1e-5, rtol=0)
    final = out.logits[0].numpy().argmax(-1)  # the model's own prediction at each position
    assert np.array_equal(lens["final_ids"], final)
    np.testing.assert_allclose(lens["final_probs"], hf_probs[:, np.arange(9), final], atol=1e-5, rtol=0)
    assert not np.array_equal(lens["top_ids"][0], final)  # the early layers do predict something else here


# ---- direct logit attribution ----------------------------------------------------------------------------

@pytest.mark.parametrize("position, token, other", [(-1, None, None), (-1, 17, 42), (3, 5, None)])
def test_logit_attribution_parts_sum_to_the_logit_and_match_per_head_numpy(tiny, hf, position, token, other):
    ids = random_ids(8, tiny.config.vocab_size, seed=2)
    n_layer, n_head, d_head = tiny.config.n_layer, tiny.config.n_head, tiny.config.d_head
    seen = {}
    pre_hooks = [(hf.transformer.ln_f, capture_inputs(seen, "final"))]
    pre_hooks += [(hf.transformer.h[i].attn.c_proj, capture_inputs(seen, f"z{i}")) for i in range(n_layer)]
    hooks = [(hf.transformer.h[i].mlp, lambda m, a, out, i=i: seen.__setitem__(f"mlp{i}", out[0].numpy().copy()))
             for i in range(n_layer)]
    logits = hf_run(hf, ids, pre_hooks, hooks).logits[0].numpy()
    t = int(logits[position].argmax()) if token is None else token
    hf_logit = logits[position, t] - (logits[position, other] if other is not None else 0)

    attr = analysis.logit_attribution(tiny, ids, token=token, other=other, position=position)
    assert attr["token"] == t and attr["heads"].shape == (n_layer, n_head) and attr["mlp"].shape == (n_layer,)
    total = (attr["embed"] + attr["pos_embed"] + attr["heads"].sum() + attr["attn_bias"].sum() + attr["mlp"].sum()
             + attr["ln_final_bias"])
    np.testing.assert_allclose(total, hf_logit, atol=1e-4, rtol=0)
    np.testing.assert_allclose(attr["logit"], hf_logit, atol=1e-4, rtol=0)

    # per part, from HF's raw weights: centre, divide by ln_f's scale of the whole final stream, dot the direction
    w = weights(hf)
    final = seen["final"][position]
    scale = np.sqrt(np.var(final) + tiny.config.layer_norm_epsilon)
    wte = w["transformer.wte.weight"]
    direction = w["transformer.ln_f.weight"] * (wte[t] - (wte[other] if other is not None else 0))

    def part(vector):
        return (vector - vector.mean()) / scale @ direction

    heads = np.zeros((n_layer, n_head))
    for layer in range(n_layer):
        merged = seen[f"z{layer}"][position]  # the heads' weighted values side by side, c_proj's input
        c_proj = w[f"transformer.h.{layer}.attn.c_proj.weight"]  # Conv1D: [in, out]
        for head in range(n_head):
            cols = slice(head * d_head, (head + 1) * d_head)
            heads[layer, head] = part(merged[cols] @ c_proj[cols])
    np.testing.assert_allclose(attr["heads"], heads, atol=1e-5, rtol=0)
    np.testing.assert_allclose(attr["mlp"], [part(seen[f"mlp{i}"][position]) for i in range(n_layer)], atol=1e-5, rtol=0)
    np.testing.assert_allclose(attr["attn_bias"], [part(w[f"transformer.h.{i}.attn.c_proj.bias"]) for i in range(n_layer)],
                               atol=1e-5, rtol=0)
    np.testing.assert_allclose(attr["embed"], part(wte[ids[position]]), atol=1e-5, rtol=0)
    np.testing.assert_allclose(attr["pos_embed"], part(w["transformer.wpe.weight"][range(8)[position]]), atol=1e-5, rtol=0)


def test_logit_attribution_rejects_a_bad_token(tiny):
    with pytest.raises(PromptError, match=r"other must be a token id in \[0, \d+\), got 100000"):
        analysis.logit_attribution(tiny, [1, 2, 3], token=4, other=100000)


# ---- head detector ---------------------------------------------------------------------------------------

def detection_patterns_written_out(ids):
    n = len(ids)
    previous, duplicate, induction = (np.zeros((n, n)) for _ in range(3))
    for q in range(n):
        for k in range(q + 1):
            previous[q, k] = k == q - 1
            duplicate[q, k] = k < q and ids[k] == ids[q]
            induction[q, k] = 1 <= k and ids[k - 1] == ids[q] and k - 1 < q  # the token after an earlier copy
    return {"previous_token_head": previous, "duplicate_token_head": duplicate, "induction_head": induction}


def score_written_out(pattern, detection, exclude_bos, exclude_current_token, error_measure):
    pattern = pattern.astype(np.float64)
    if error_measure == "mul":
        if exclude_bos:
            pattern[:, 0] = 0
        if exclude_current_token:
            np.fill_diagonal(pattern, 0)
        return (pattern * detection).sum() / pattern.sum()
    difference = np.abs(pattern - detection)
    if exclude_bos:
        difference[:, 0] = 0
    if exclude_current_token:
        np.fill_diagonal(difference, 0)
    return 1 - difference.mean() * len(difference)


@pytest.mark.parametrize("exclude_bos, exclude_current_token", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("error_measure", ["mul", "abs"])
def test_head_scores_follow_the_detector_formula_on_hf_attentions(tiny, hf, exclude_bos, exclude_current_token, error_measure):
    half = random_ids(6, tiny.config.vocab_size, seed=3)
    ids = [0] + half + half  # a repeated random sequence: duplicate and induction patterns have ones to find
    attentions = [a[0].numpy() for a in hf_run(hf, ids, output_attentions=True).attentions]
    scores = analysis.head_scores(tiny, ids, exclude_bos=exclude_bos, exclude_current_token=exclude_current_token,
                                  error_measure=error_measure)
    for name, detection in detection_patterns_written_out(ids).items():
        assert detection.sum() > 0
        expected = [[score_written_out(pattern, detection, exclude_bos, exclude_current_token, error_measure)
                     for pattern in layer] for layer in attentions]
        assert scores[name].shape == (tiny.config.n_layer, tiny.config.n_head)
        np.testing.assert_allclose(scores[name], expected, atol=1e-5, rtol=0, err_msg=name)


def test_a_hand_built_previous_token_head_scores_one():
    n = 7
    previous = np.eye(n, k=-1)
    previous[0, 0] = 1  # the first query can only attend to itself
    uniform = np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]
    patterns = np.stack([previous, uniform])  # [2 heads, n, n]
    detection = analysis.previous_token_head_detection_pattern(range(n))
    scores = analysis.head_similarity(patterns, detection, exclude_current_token=True)
    assert scores[0] == 1 and 0 < scores[1] < 0.5
    assert analysis.head_similarity(patterns, detection)[0] == pytest.approx((n - 1) / n)  # row 0 counts against it
    assert analysis.head_similarity(patterns, detection, error_measure="abs")[0] == pytest.approx(1 - 1 / n)


def test_head_detection_needs_two_tokens(tiny):
    with pytest.raises(PromptError, match="at least 2 tokens"):
        analysis.head_scores(tiny, [5])


# ---- activation patching ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prompts(tiny):
    clean = random_ids(7, tiny.config.vocab_size, seed=4)
    corrupt = list(clean)
    corrupt[2], corrupt[5] = (clean[2] + 1) % tiny.config.vocab_size, (clean[5] + 7) % tiny.config.vocab_size
    return clean, corrupt


@pytest.fixture(scope="module")
def hf_clean(hf, prompts):
    clean, _ = prompts
    seen = {}
    pre_hooks = [(block.attn.c_proj, capture_inputs(seen, f"z{i}")) for i, block in enumerate(hf.transformer.h)]
    out = hf_run(hf, clean, pre_hooks, output_hidden_states=True)
    seen["resid_pre"] = [h[0].numpy() for h in out.hidden_states[:-1]]  # entering block 0, 1, ...
    seen["logits"] = out.logits[0].numpy()
    return seen


def hf_resid_patched(hf, hf_clean, corrupt, layer, positions):
    pre_hooks = [(hf.transformer.h[layer], swap_rows(hf_clean["resid_pre"][layer], positions))]
    return hf_run(hf, corrupt, pre_hooks).logits[0, -1].numpy()


def hf_head_patched(hf, hf_clean, corrupt, layer, head, d_head, positions=None):
    rows = slice(None) if positions is None else list(positions)

    def swap_head(module, args):
        merged = args[0].clone()
        cols = slice(head * d_head, (head + 1) * d_head)
        merged[0, rows, cols] = torch.from_numpy(hf_clean[f"z{layer}"][rows, cols])
        return (merged,) + args[1:]
    return hf_run(hf, corrupt, [(hf.transformer.h[layer].attn.c_proj, swap_head)]).logits[0, -1].numpy()


def test_patching_nothing_is_the_corrupted_run_and_everything_the_clean_run(tiny, hf, prompts, hf_clean):
    clean, corrupt = prompts
    hf_corrupt = hf_run(hf, corrupt).logits[0, -1].numpy()
    for layer in range(tiny.config.n_layer):
        nothing = analysis.patched_resid_pre_logits(tiny, clean, corrupt, layer, positions=[])
        np.testing.assert_allclose(nothing, hf_corrupt, atol=1e-4, rtol=0)
        np.testing.assert_allclose(analysis.patched_head_logits(tiny, clean, corrupt, layer, heads=[]), hf_corrupt, atol=1e-4, rtol=0)
        everything = analysis.patched_resid_pre_logits(tiny, clean, corrupt, layer)
        np.testing.assert_allclose(everything, hf_clean["logits"][-1], atol=1e-4, rtol=0)
    assert np.abs(hf_clean["logits"][-1] - hf_corrupt).max() > 0.1  # the two runs do differ


@pytest.mark.parametrize("positions", [[0, 1, 2, 3, 4, 5, 6], [2], [5], [2, 5], [6]])
def test_resid_pre_patch_equals_an_hf_pre_hook_swapping_the_clean_hidden_state(tiny, hf, prompts, hf_clean, positions):
    clean, corrupt = prompts
    for layer in range(tiny.config.n_layer):
        ours = analysis.patched_resid_pre_logits(tiny, clean, corrupt, layer, positions)
        np.testing.assert_allclose(ours, hf_resid_patched(hf, hf_clean, corrupt, layer, positions), atol=1e-4, rtol=0)


def answer_and_wrong(hf_clean_last, hf_corrupt_last):
    # the tokens the corruption lowers and raises most: the clean and corrupted logit differences lie well apart,
    # so the normalised metric does not magnify rounding
    change = hf_clean_last - hf_corrupt_last
    return int(change.argmax()), int(change.argmin())


def normalised(patched, clean, corrupt, answer, wrong):
    diff = [logits[answer] - logits[wrong] for logits in (patched, clean, corrupt)]
    return (diff[0] - diff[2]) / (diff[1] - diff[2])


def test_patch_resid_pre_table_is_the_normalised_logit_difference_of_hf_patched_runs(tiny, hf, prompts, hf_clean):
    clean, corrupt = prompts
    hf_corrupt = hf_run(hf, corrupt).logits[0, -1].numpy()
    answer, wrong = answer_and_wrong(hf_clean["logits"][-1], hf_corrupt)
    table = analysis.patch_resid_pre(tiny, clean, corrupt, answer, wrong)
    expected = [[normalised(hf_resid_patched(hf, hf_clean, corrupt, layer, [position]), hf_clean["logits"][-1], hf_corrupt,
                            answer, wrong) for position in range(len(clean))] for layer in range(tiny.config.n_layer)]
    assert table.shape == (tiny.config.n_layer, len(clean))
    np.testing.assert_allclose(table, expected, atol=1e-4, rtol=0)
    # entering block 0 the two prompts differ at positions 2 and 5 only: patching any other position changes nothing
    np.testing.assert_allclose(table[0, [0, 1, 3, 4, 6]], 0, atol=1e-4)


def test_patch_head_table_equals_hf_runs_swapping_the_heads_slice_of_c_proj_input(tiny, hf, prompts, hf_clean):
    clean, corrupt = prompts
    hf_corrupt = hf_run(hf, corrupt).logits[0, -1].numpy()
    answer, wrong = answer_and_wrong(hf_clean["logits"][-1], hf_corrupt)
    d_head = tiny.config.d_head
    for layer in range(tiny.config.n_layer):
        for head in range(tiny.config.n_head):
            ours = analysis.patched_head_logits(tiny, clean, corrupt, layer, [head])
            np.testing.assert_allclose(ours, hf_head_patched(hf, hf_clean, corrupt, layer, head, d_head), atol=1e-4, rtol=0)
    table = analysis.patch_head(tiny, clean, corrupt, answer, wrong)
    expected = [[normalised(hf_head_patched(hf, hf_clean, corrupt, layer, head, d_head), hf_clean["logits"][-1], hf_corrupt,
                            answer, wrong) for head in range(tiny.config.n_head)] for layer in range(tiny.config.n_layer)]
    np.testing.assert_allclose(table, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("positions, max_rows", [([6], 256), ([2, 5], 256), ([0, 6], 256), ([0, 6], 20), ([6], 5)])
def test_patch_head_at_some_positions_equals_hf_runs_swapping_those_rows(tiny, hf, prompts, hf_clean, positions,
                                                                         max_rows, monkeypatch):
    # max_rows: the patched runs go through the blocks in batches of at most this many rows (several batches here)
    monkeypatch.setattr(analysis, "MAX_BATCH_ROWS", max_rows)
    clean, corrupt = prompts
    hf_corrupt = hf_run(hf, corrupt).logits[0, -1].numpy()
    answer, wrong = answer_and_wrong(hf_clean["logits"][-1], hf_corrupt)
    table = analysis.patch_head(tiny, clean, corrupt, answer, wrong, positions)
    expected = [[normalised(hf_head_patched(hf, hf_clean, corrupt, layer, head, tiny.config.d_head, positions),
                            hf_clean["logits"][-1], hf_corrupt, answer, wrong) for head in range(tiny.config.n_head)]
                for layer in range(tiny.config.n_layer)]
    np.testing.assert_allclose(table, expected, atol=1e-4, rtol=0)


def test_patching_refuses_prompts_of_different_lengths(tiny):
    with pytest.raises(PromptError, match="same number of tokens, got 3 and 4"):
        analysis.patch_resid_pre(tiny, [1, 2, 3], [1, 2, 3, 4], 5, 6)
    with pytest.raises(PromptError, match="same logit difference .* nothing to recover"):
        analysis.patch_head(tiny, [1, 2, 3], [1, 2, 3], 5, 6)
    with pytest.raises(PromptError, match=r"layer must be an integer in \[0, 3\), got 3"):
        analysis.patched_head_logits(tiny, [1, 2, 3], [1, 2, 4], 3, [0])


# ---- steering --------------------------------------------------------------------------------------------

def hf_steered_generation(hf, ids, vector, layer, position, n_new):
    prompt_pass = [True]

    def add(module, args):
        if not prompt_pass[0]:  # ActAdd changes the prompt's forward pass only
            return None
        prompt_pass[0] = False
        x = args[0].clone()
        x[0, position:position + len(vector)] += torch.from_numpy(vector)
        return (x,) + args[1:]

    handle = hf.transformer.h[layer].register_forward_pre_hook(add)
    try:
        with torch.no_grad():
            out = hf.generate(torch.tensor([ids]), max_new_tokens=n_new, do_sample=False, eos_token_id=None, pad_token_id=0)
    finally:
        handle.remove()
    return out[0, len(ids):].tolist()


def hf_resid_pre(hf, ids, layer):
    return hf_run(hf, ids, output_hidden_states=True).hidden_states[layer][0].numpy()


def test_steering_with_scale_zero_is_plain_greedy_generation(tiny):
    ids = random_ids(6, tiny.config.vocab_size, seed=5)
    assert analysis.steer(tiny, ids, [3, 4], [8, 9], layer=1, scale=0.0, n_new=15) == tiny.generate(ids, 15)


@pytest.mark.parametrize("layer, scale, position", [(1, 4.0, 0), (2, -3.0, 3), (0, 2.0, 1)])
def test_steering_equals_hf_generation_with_a_pre_hook_adding_the_vector(tiny, hf, layer, scale, position):
    ids = random_ids(6, tiny.config.vocab_size, seed=6)
    a_ids, b_ids = [10, 20, 30], [40, 50, 60]
    vector = scale * (hf_resid_pre(hf, a_ids, layer) - hf_resid_pre(hf, b_ids, layer))
    expected = hf_steered_generation(hf, ids, vector, layer, position, 20)
    assert analysis.steer(tiny, ids, a_ids, b_ids, layer, scale, 20, position=position) == expected
    assert expected != tiny.generate(ids, 20)  # the vector does change what is generated
    # one new token: the prompt's pass alone, its layers' keys not kept after it
    assert analysis.steer(tiny, ids, a_ids, b_ids, layer, [scale, 0.0], 1, position=position) == [expected[:1], tiny.generate(ids, 1)]


@pytest.mark.parametrize("max_rows", [256, 12])  # 12 rows: the 6-token prompt's runs two at a time, then one
def test_several_scales_generated_together_each_equal_hf_generation_with_that_vector(tiny, hf, max_rows, monkeypatch):
    monkeypatch.setattr(analysis, "MAX_BATCH_ROWS", max_rows)
    ids = random_ids(6, tiny.config.vocab_size, seed=8)
    a_ids, b_ids, layer, scales = [10, 20], [40, 50], 1, [4.0, 0.0, -3.0]
    difference = hf_resid_pre(hf, a_ids, layer) - hf_resid_pre(hf, b_ids, layer)
    expected = [hf_steered_generation(hf, ids, scale * difference, layer, 2, 12) for scale in scales]
    assert len({tuple(tokens) for tokens in expected}) == 3  # three different continuations
    assert analysis.steer(tiny, ids, a_ids, b_ids, layer, scales, 12, position=2) == expected


def test_steering_prompts_of_different_lengths_need_a_pad_id(tiny, hf):
    ids = random_ids(5, tiny.config.vocab_size, seed=7)
    with pytest.raises(PromptError, match="3 and 1 tokens"):
        analysis.steer(tiny, ids, [10, 20, 30], [40], layer=1, scale=2.0, n_new=5)
    vector = 5.0 * (hf_resid_pre(hf, [10, 20, 30], 1) - hf_resid_pre(hf, [40, 7, 7], 1))
    expected = hf_steered_generation(hf, ids, vector, 1, 0, 10)
    assert analysis.steer(tiny, ids, [10, 20, 30], [40], layer=1, scale=5.0, n_new=10, pad_id=7) == expected
    with pytest.raises(PromptError, match="3 positions, from position 3, must lie within the prompt's 5 tokens"):
        analysis.steer(tiny, ids, [10, 20, 30], [40, 50, 60], layer=1, scale=2.0, n_new=5, position=3)
