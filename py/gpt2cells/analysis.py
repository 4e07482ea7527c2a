"""TransformerLens's first tools on a loaded Model: logit lens, direct logit attribution, head detection,
activation patching and activation steering (docs/analysis.md).

Every function takes the Model and token ids (no batch axis, no BOS added: the ids are used as given) and
returns NumPy arrays. The forward passes are `steps`' own: `Model.run` for traces, and where an intervention
replaces an intermediate, the `record` callback of `steps.block`, whose return value is what the block goes on
with. Names follow TransformerLens where it has them (resid_pre, z, "0_pre"/"final_post", the head detector's
head names); shapes as in docs/naming.md, plus n_layer blocks and n_lens = n_layer + 1 residual streams.
"""
from __future__ import annotations

import numpy as np

from . import steps
from .errors import PromptError
from .model import check_sampling

HEAD_NAMES = ("previous_token_head", "duplicate_token_head", "induction_head")
ERROR_MEASURES = ("mul", "abs")


def resid_pre(layer):
    return f"blocks.{layer}.resid_pre"


def final_resid(config):
    return f"blocks.{config.n_layer - 1}.resid_post"


# ---- logit lens ------------------------------------------------------------------------------------------

def resid_labels(n_layer):
    # TransformerLens's accumulated_resid labels: the input of every block, then the stream the unembedding reads
    return [f"{layer}_pre" for layer in range(n_layer)] + ["final_post"]


def each_layer(model, ids, what, use=None):
    """One forward pass; use(value) sees each block's `what` (e.g. "attn.pattern") as the block computes it, and
    only what use returns is kept, stacked: [n_layer, ...]. Model.run would keep every layer's value at once (the
    attention patterns at 1024 tokens: 50 MB a layer for GPT-2 small, 200 MB for XL), and unembed every position.
    """
    kept = []

    def record(name, value):
        if record.keeps(name):
            kept.append(value if use is None else use(value))
        return value

    record.keeps = lambda name: name.startswith("blocks.") and name.endswith("." + what)
    steps.forward(model.check_ids(ids), model.params, model.config, record=record, last_only=True)
    return np.stack(kept)  # [n_layer, ...]


def traced(model, ids, names, take=None):
    """Model.run(ids, names), except that the unembedding runs for the last position only: no name here is the
    [n_seq, n_vocab] logits (at GPT-2's full context, 1024 × 50257 values and the time of the logits cell).
    take(name, value): the part of each value to keep (e.g. the rows of a few positions), instead of all of it."""
    wanted, trace = set(names), {}

    def record(name, value):
        if name in wanted:
            trace[name] = value if take is None else take(name, value)
        return value

    record.keeps = lambda name: name in wanted
    steps.forward(model.check_ids(ids), model.params, model.config, record=record, last_only=True)
    return trace


def accumulated_resid(model, ids, positions=slice(None)):
    """The residual stream entering every block, and the final one (before ln_f), at these positions (default
    all): [n_lens, n_positions, n_embd]."""
    names = [resid_pre(layer) for layer in range(model.config.n_layer)] + [final_resid(model.config)]
    trace = traced(model, ids, names, take=lambda name, value: value[positions])
    return np.stack([trace[name] for name in names])  # [n_lens, n_positions, n_embd]


def lens_logits(model, resid):
    """A residual stream read as if it were the last one: ln_f (its own statistics), then the tied unembedding."""
    p = model.params
    normalized = steps.layer_norm(resid, p["ln_f.weight"], p["ln_f.bias"], model.config.layer_norm_epsilon)  # [n_seq, n_embd]
    return steps.unembed(normalized, p["wte.weight"])  # [n_seq, n_vocab]


LENS_ROWS = 64  # rows through the unembedding at once: [64, n_vocab] logits and probabilities, 13 MB each for GPT-2


def logit_lens(model, ids, positions=None):
    """Per residual stream and position: the top token, its probability, and the probability of the final prediction.

    positions: which positions to read (default all; each costs n_lens rows through the whole unembedding).
    Returns labels (n_lens names), positions, top_ids / top_probs / final_probs [n_lens, n_positions], final_ids
    [n_positions] (the model's own prediction at each position: the top token of the last row).
    """
    positions = check_positions(positions, len(ids))
    resids = accumulated_resid(model, ids, positions)  # [n_lens, n_positions, n_embd]
    n_lens, n_positions, n_embd = resids.shape
    top_ids = np.empty((n_lens, n_positions), dtype=np.int64)
    top_probs, final_probs = (np.empty((n_lens, n_positions), dtype=np.float32) for _ in range(2))
    final_ids = None
    per_chunk = max(1, LENS_ROWS // n_positions)  # streams per multiplication by the unembedding
    for stop in range(n_lens, 0, -per_chunk):  # the last streams first: the final one gives final_ids
        streams = slice(max(0, stop - per_chunk), stop)
        logits = lens_logits(model, resids[streams].reshape(-1, n_embd))  # [n_chunk · n_positions, n_vocab]
        logits = logits.reshape(-1, n_positions, logits.shape[-1])  # [n_chunk, n_positions, n_vocab]
        final_ids = logits[-1].argmax(axis=-1) if final_ids is None else final_ids  # [n_positions]
        probs = steps.softmax(logits)  # [n_chunk, n_positions, n_vocab]
        top_ids[streams] = probs.argmax(axis=-1)
        top_probs[streams] = np.take_along_axis(probs, top_ids[streams][..., None], axis=-1)[..., 0]
        final_probs[streams] = probs[:, np.arange(n_positions), final_ids]
    return {
        "labels": resid_labels(model.config.n_layer),
        "positions": positions,
        "top_ids": top_ids,  # [n_lens, n_positions]
        "top_probs": top_probs,  # [n_lens, n_positions]
        "final_ids": final_ids,
        "final_probs": final_probs,  # [n_lens, n_positions]
    }


# ---- direct logit attribution ----------------------------------------------------------------------------

def ln_scale(x, eps):
    # the divisor steps.normalize applies to each row: frozen, it makes the final layer norm linear
    centered = x - x.mean(axis=-1, keepdims=True)  # [..., n_embd]
    return np.sqrt((centered * centered).mean(axis=-1, keepdims=True) + eps)  # [..., 1]


def center(x):
    return x - x.mean(axis=-1, keepdims=True)  # [..., n_embd]


def head_outputs(z, w_o):
    """Each head's share of the attention output, without the bias: z [n_head, d_head] through its columns of c_proj."""
    n_embd, n_head = w_o.shape[0], z.shape[0]
    per_head = w_o.reshape(n_embd, n_head, -1)  # [n_embd, n_head, d_head] (c_proj's input is the heads side by side)
    return np.einsum("hd,ehd->he", z, per_head)  # [n_head, n_embd]


def logit_attribution(model, ids, token=None, other=None, position=-1):
    """The logit of `token` (default: the prediction), or logit(token) − logit(other), at `position`, split up.

    The final residual stream is a sum of parts: embed, pos_embed, per block every head's output through its slice
    of c_proj, the c_proj bias, and the MLP's output (its biases included). With ln_f's scale frozen at the value
    it has for the whole stream at that position, ln_f is linear: each part is centred, divided by that scale and
    dotted with ln_f.weight * (wte[token] − wte[other]); ln_f.bias · (wte[token] − wte[other]) is the one term left.
    So embed + pos_embed + heads.sum() + attn_bias.sum() + mlp.sum() + ln_final_bias == logit (as the forward pass
    computed it), exactly up to rounding.
    """
    config, p = model.config, model.params
    names = ["embed", "pos_embed", final_resid(config)]
    names += [f"blocks.{layer}.{what}" for layer in range(config.n_layer) for what in ("attn.z", "mlp_out")]
    position = range(len(ids))[position]  # a negative position counts from the end; out of range raises IndexError

    def at_position(name, value):  # only the position's row of each is kept: at 1024 tokens not 6 MB per layer
        row = value[:, position] if name.endswith(".attn.z") else value[position]  # z: [n_head, n_seq, d_head]
        return row.copy()  # not a view: that would keep the whole array

    trace = traced(model, ids, names, take=at_position)  # name -> [n_embd], z: [n_head, d_head]
    logits = lens_logits(model, trace[final_resid(config)][None])[0]  # [n_vocab]: ln_f, unembed, as forward
    token = int(np.argmax(logits)) if token is None else check_token(model, token, "token")
    other = None if other is None else check_token(model, other, "other")
    wanted = p["wte.weight"][token]  # [n_embd]
    if other is not None:
        wanted = wanted - p["wte.weight"][other]  # [n_embd]
    direction = p["ln_f.weight"] * wanted  # [n_embd]: ln_f's gain folded in, as TransformerLens's fold_ln does
    scale = ln_scale(trace[final_resid(config)], config.layer_norm_epsilon)  # [1]

    def attribute(parts):
        return center(parts) / scale @ direction  # [...] (one number per part)

    heads = [head_outputs(trace[f"blocks.{layer}.attn.z"], p[f"h.{layer}.attn.c_proj.weight"])
             for layer in range(config.n_layer)]  # n_layer x [n_head, n_embd]
    attn_biases = np.stack([p[f"h.{layer}.attn.c_proj.bias"] for layer in range(config.n_layer)])  # [n_layer, n_embd]
    mlps = np.stack([trace[f"blocks.{layer}.mlp_out"] for layer in range(config.n_layer)])  # [n_layer, n_embd]
    return {
        "token": token,
        "other": other,
        "logit": logits[token] - (logits[other] if other is not None else 0),  # what the parts add up to
        "embed": attribute(trace["embed"]),
        "pos_embed": attribute(trace["pos_embed"]),
        "heads": attribute(np.stack(heads)),  # [n_layer, n_head]
        "attn_bias": attribute(attn_biases),  # [n_layer]
        "mlp": attribute(mlps),  # [n_layer]
        "ln_final_bias": p["ln_f.bias"] @ wanted,
    }


def to_single_token(model, text):
    """The id of a text that is exactly one token (TransformerLens's to_single_token): " Paris" in GPT-2."""
    ids = model.encode(text)
    if len(ids) != 1:
        pieces = [model.decode([i]) for i in ids]
        raise PromptError(f"{text!r} is {len(ids)} tokens in this model's vocabulary {pieces}, not one: "
                          "pick a word that is a single token (GPT-2's words usually start with a space)")
    return int(ids[0])


def check_token(model, token, what):
    if not isinstance(token, (int, np.integer)) or isinstance(token, bool) or not 0 <= token < model.config.vocab_size:
        raise PromptError(f"{what} must be a token id in [0, {model.config.vocab_size}), got {token!r}")
    return int(token)


# ---- head detector ---------------------------------------------------------------------------------------
# TransformerLens's head_detector: a 0/1 detection pattern per head type, [n_seq, n_seq] (query, key), and a
# score per head of how much of its attention falls where the detection pattern has ones.

def previous_token_head_detection_pattern(ids):
    return np.eye(len(ids), k=-1, dtype=np.float32)  # [n_seq, n_seq]: query t attends to key t − 1


def duplicate_token_head_detection_pattern(ids):
    ids = np.asarray(ids)
    same = ids[:, None] == ids[None, :]  # [n_seq, n_seq]
    return np.tril(same, k=-1).astype(np.float32)  # [n_seq, n_seq]: earlier keys holding the query's token


def induction_head_detection_pattern(ids):
    # the key right after an earlier copy of the query's token (what came next last time)
    duplicate = duplicate_token_head_detection_pattern(ids)  # [n_seq, n_seq]
    shifted = np.zeros_like(duplicate)  # [n_seq, n_seq]
    shifted[:, 1:] = duplicate[:, :-1]
    return np.tril(shifted)  # [n_seq, n_seq]


DETECTION_PATTERNS = {
    "previous_token_head": previous_token_head_detection_pattern,
    "duplicate_token_head": duplicate_token_head_detection_pattern,
    "induction_head": induction_head_detection_pattern,
}


def head_similarity(patterns, detection, exclude_bos=False, exclude_current_token=False, error_measure="mul"):
    """patterns [n_head, n_seq, n_seq], detection [n_seq, n_seq] → one score per head [n_head].

    "mul": the share of the (kept) attention that falls on the detection pattern's ones, 1 = all of it.
    "abs": 1 − the mean absolute difference per query row, summed over the kept entries (1 = identical;
    TransformerLens also rounds this to 3 decimals, we do not). exclude_bos drops key 0, exclude_current_token
    the diagonal, from both measures.
    """
    if error_measure not in ERROR_MEASURES:
        raise ValueError(f"error_measure must be one of {ERROR_MEASURES}, got {error_measure!r}")
    n_seq = patterns.shape[-1]
    kept = np.ones((n_seq, n_seq), dtype=bool)  # [n_seq, n_seq]
    if exclude_bos:
        kept[:, 0] = False
    if exclude_current_token:
        np.fill_diagonal(kept, False)
    scores = []
    for pattern in patterns:  # a head at a time: at 1024 tokens a layer's temporaries would be 48 MB each
        if error_measure == "mul":
            attention = np.where(kept, pattern, 0)  # [n_seq, n_seq]
            scores.append((attention * detection).sum() / attention.sum())
        else:
            scores.append(1 - np.where(kept, np.abs(pattern - detection), 0).sum() / n_seq)
    return np.array(scores)  # [n_head]


def attention_patterns(model, ids, reduce=None):
    """Every block's attention pattern: [n_layer, n_head, n_seq, n_seq].

    reduce: a function of one layer's [n_head, n_seq, n_seq] pattern, applied as the block computes it; only its
    results are kept and stacked (a long prompt's patterns need not all be in memory at once).
    """
    return each_layer(model, ids, "attn.pattern", reduce)


def detect_head(model, ids, detection_pattern, exclude_bos=False, exclude_current_token=False, error_measure="mul",
                patterns=None):
    """Every layer's heads scored against one detection pattern: [n_layer, n_head].

    detection_pattern: a name in HEAD_NAMES or a lower-triangular [n_seq, n_seq] array. patterns: the prompt's
    attention_patterns if already computed (TransformerLens's `cache` argument). TransformerLens puts a BOS token
    in front of the prompt by default; here the ids are scored as given (put it in yourself to match).
    """
    ids = check_two_tokens(model, ids)
    if isinstance(detection_pattern, str):
        if detection_pattern not in DETECTION_PATTERNS:
            raise ValueError(f"detection_pattern must be an array or one of {HEAD_NAMES}, got {detection_pattern!r}")
        detection_pattern = DETECTION_PATTERNS[detection_pattern](ids)  # [n_seq, n_seq]
    detection_pattern = np.asarray(detection_pattern, dtype=np.float32)  # [n_seq, n_seq]
    if detection_pattern.shape != (len(ids), len(ids)) or np.triu(detection_pattern, k=1).any():
        raise ValueError(f"the detection pattern must be lower triangular of shape [{len(ids)}, {len(ids)}], "
                         f"got shape {list(detection_pattern.shape)}")
    patterns = attention_patterns(model, ids) if patterns is None else patterns  # [n_layer, n_head, n_seq, n_seq]
    return np.stack([head_similarity(layer, detection_pattern, exclude_bos, exclude_current_token, error_measure)
                     for layer in patterns])  # [n_layer, n_head]


def check_two_tokens(model, ids):
    ids = model.check_ids(ids)
    if len(ids) < 2:
        raise PromptError("head detection needs at least 2 tokens (a one-token prompt can only attend to itself)")
    return ids


def head_scores(model, ids, exclude_bos=False, exclude_current_token=False, error_measure="mul", patterns=None):
    """Previous-token, duplicate-token and induction scores of every head: head name → [n_layer, n_head].

    patterns: the prompt's attention_patterns if already computed; else one forward pass scores each layer's
    pattern for all three as the block computes it, keeping none of them.
    """
    if patterns is not None:
        return {name: detect_head(model, ids, name, exclude_bos, exclude_current_token, error_measure, patterns)
                for name in HEAD_NAMES}
    ids = check_two_tokens(model, ids)
    detections = [DETECTION_PATTERNS[name](ids) for name in HEAD_NAMES]  # 3 x [n_seq, n_seq]

    def score(layer_patterns):  # [n_head, n_seq, n_seq] -> [3, n_head]
        return np.stack([head_similarity(layer_patterns, detection, exclude_bos, exclude_current_token, error_measure)
                         for detection in detections])

    scores = attention_patterns(model, ids, reduce=score)  # [n_layer, 3, n_head]
    return {name: scores[:, i] for i, name in enumerate(HEAD_NAMES)}


# ---- activation patching ---------------------------------------------------------------------------------
# Run the corrupted prompt with some of the clean run's activations swapped in. Nothing upstream of the first
# patched layer changes, so a patched run starts there, from the corrupted run's resid_pre; and with causal
# attention nothing before the first patched position changes either, so those positions' keys and values come
# from the corrupted run and only the later positions are computed again.
#
# The runs of a table go through the blocks together, as rows of one matrix [n_runs · n_new, n_embd]: layer norm,
# the linear layers and the MLP work row by row, so one multiplication by each weight serves every run (one run
# alone is a few rows, and a few rows cost as much as reading the block's weights). A run joins the batch at
# the block where it starts. Only attention mixes rows: a hook on the masked scores lets each run's rows see the
# corrupted prefix and their own earlier rows, never another run's.

MAX_BATCH_ROWS = 256  # rows per batch: the attention scores grow with its square (the other runs' rows, masked)


def patching_traces(model, clean_ids, corrupt_ids):
    """The clean and the corrupted run's traces, as much of them as patching reads (the logits: the last position's)."""
    clean_ids, corrupt_ids = model.check_ids(clean_ids), model.check_ids(corrupt_ids)
    mismatch = length_mismatch(clean_ids, corrupt_ids)
    if mismatch:
        raise PromptError(mismatch)
    layers = range(model.config.n_layer)
    names = ["logits"] + [f"blocks.{layer}.{what}" for layer in layers for what in ("resid_pre", "attn.k", "attn.v", "attn.z")]
    return traced(model, clean_ids, names), traced(model, corrupt_ids, names)


def length_mismatch(clean_ids, corrupt_ids):
    """Why the two prompts cannot be patched position by position, or None when they have as many tokens."""
    n_clean, n_corrupt = len(clean_ids), len(corrupt_ids)
    if n_clean == n_corrupt:
        return None
    longer = "clean" if n_clean > n_corrupt else "corrupted"
    n_more = abs(n_clean - n_corrupt)
    return (f"the clean and the corrupted prompt must have the same number of tokens, got {n_clean} and {n_corrupt}: "
            f"the {longer} one is {n_more} token{'s' if n_more > 1 else ''} longer in this model's vocabulary")


class PrefixCache:
    """steps.attention's cache for a batch of runs: the corrupted run's keys and values of the positions before
    `start` (the same in every run), in front of the batch's own."""

    def __init__(self, corrupt, start):
        self.corrupt, self.start = corrupt, start

    def extend(self, layer, k, v):
        past_k = self.corrupt[f"blocks.{layer}.attn.k"][:, :self.start]  # [n_head, start, d_head]
        past_v = self.corrupt[f"blocks.{layer}.attn.v"][:, :self.start]  # [n_head, start, d_head]
        return np.concatenate([past_k, k], axis=1), np.concatenate([past_v, v], axis=1)  # [n_head, start + n_rows, d_head]


def hidden_keys(query_run, query_position, key_run, key_position):
    """True where a query may not look: a key of another run, or a later position. Run −1: a key every run shares.

    query_*: [n_rows], key_*: [n_keys] → [n_rows, n_keys] (steps.attention's causal mask, for a batch of runs)."""
    other_run = (key_run[None, :] != query_run[:, None]) & (key_run[None, :] >= 0)  # [n_rows, n_keys]
    return other_run | (key_position[None, :] > query_position[:, None])  # [n_rows, n_keys]


def batch_mask(n_runs, n_new, start):
    """The patched runs' mask: the shared prefix of `start` positions, then every run's n_new rows. [n_rows, start + n_rows]"""
    run = np.repeat(np.arange(n_runs), n_new)  # [n_rows]
    position = start + np.tile(np.arange(n_new), n_runs)  # [n_rows]
    prefix = np.arange(start)  # [start]
    return hidden_keys(run, position, np.concatenate([np.full(start, -1), run]), np.concatenate([prefix, position]))


def batch_hook(mask, swaps, clean_z, z_rows, n_new, start):
    """The block's record for a batch: each run's own attention, and the clean z of `swaps` = [(run, heads)]."""
    def hook(name, value):
        if name == "attn.masked_scores":
            return np.where(mask, steps.NEG_INF, value)  # [n_head, n_rows, start + n_rows]
        if name == "attn.z" and swaps:
            value = value.copy()  # [n_head, n_rows, d_head]
            for run, heads in swaps:
                value[np.ix_(heads, run * n_new + z_rows)] = clean_z[np.ix_(heads, start + z_rows)]
        return value
    return hook


def run_batch(model, clean, corrupt, runs, start, z_rows):
    """ln_f of the last position of each run [n_runs, n_embd]; runs as patched_finals', sorted by layer."""
    config, p = model.config, model.params
    n_new = corrupt[resid_pre(0)].shape[0] - start
    x = np.zeros((0, config.n_embd), dtype=np.float32)  # [n_runs · n_new, n_embd]: no run yet
    for layer in range(runs[0][0], config.n_layer):
        joining = [run for run in runs if run[0] == layer]
        first = len(x) // n_new  # the batch index of the first run that joins at this block
        x = np.concatenate([x] + [rows for _, rows, _ in joining])  # [n_runs · n_new, n_embd]
        swaps = [(first + i, list(heads)) for i, (_, _, heads) in enumerate(joining) if heads]
        mask = batch_mask(len(x) // n_new, n_new, start)  # [n_runs · n_new, start + n_runs · n_new]
        hook = batch_hook(mask, swaps, clean[f"blocks.{layer}.attn.z"], z_rows, n_new, start)
        x = steps.block(x, steps.block_params(p, layer), config.n_head, config.layer_norm_epsilon,
                        PrefixCache(corrupt, start), layer, hook)  # [n_runs · n_new, n_embd]
    last = x[n_new - 1::n_new]  # [n_runs, n_embd]
    return steps.layer_norm(last, p["ln_f.weight"], p["ln_f.bias"], config.layer_norm_epsilon)  # [n_runs, n_embd]


def patched_finals(model, clean, corrupt, runs, start, z_rows=()):
    """ln_f of the last position [n_runs, n_embd] of patched runs of the corrupted prompt, in the order of `runs`.

    runs: (layer, rows, heads) each: the run starts at block `layer` with rows [n_seq − start, n_embd] as its
    resid_pre of positions start…, and in that block the clean z of `heads` at positions start + z_rows. The
    positions before `start` are the corrupted run's in every run.
    """
    n_new = corrupt[resid_pre(0)].shape[0] - start
    order = sorted(range(len(runs)), key=lambda i: runs[i][0])  # stable: by start layer, then as given
    per_batch = max(1, MAX_BATCH_ROWS // n_new)
    z_rows = np.array(z_rows, dtype=int)
    finals = [run_batch(model, clean, corrupt, [runs[i] for i in order[b:b + per_batch]], start, z_rows)
              for b in range(0, len(order), per_batch)]  # each [n_batch, n_embd]
    sorted_finals = np.concatenate(finals)  # [n_runs, n_embd] in `order`
    out = np.empty_like(sorted_finals)
    out[order] = sorted_finals
    return out  # [n_runs, n_embd]


def resid_pre_run(clean, corrupt, layer, positions, start):
    """The run that starts at block `layer` with the clean resid_pre at `positions` (all ≥ start)."""
    rows = corrupt[resid_pre(layer)][start:].copy()  # [n_seq − start, n_embd]
    rows[np.array(positions, dtype=int) - start] = clean[resid_pre(layer)][positions]
    return layer, rows, ()


def resid_pre_patched(model, clean, corrupt, layer, positions):
    """ln_f of the last position [n_embd] in the corrupted run with the clean resid_pre of block `layer` at `positions`."""
    positions = sorted(set(positions))
    start = positions[0] if positions else 0
    return patched_finals(model, clean, corrupt, [resid_pre_run(clean, corrupt, layer, positions, start)], start)[0]


def heads_patched(model, clean, corrupt, runs, positions=None):
    """ln_f of the last position [n_runs, n_embd] in the corrupted run with, for each of runs = [(layer, heads)],
    the clean z of those heads at `positions` (default all; the positions before the first one are the corrupted
    run's, not computed again)."""
    n_seq = corrupt[resid_pre(0)].shape[0]
    positions = sorted(set(range(n_seq) if positions is None else positions))
    start = positions[0] if positions else 0
    runs = [(layer, corrupt[resid_pre(layer)][start:], sorted(set(heads))) for layer, heads in runs]
    return patched_finals(model, clean, corrupt, runs, start, np.array(positions, dtype=int) - start)


def patched_resid_pre_logits(model, clean_ids, corrupt_ids, layer, positions=None):
    """One patched run: the clean resid_pre of block `layer` at `positions` (default all) → last logits [n_vocab]."""
    clean, corrupt = patching_traces(model, clean_ids, corrupt_ids)
    positions = range(len(clean_ids)) if positions is None else positions
    final = resid_pre_patched(model, clean, corrupt, check_index(layer, model.config.n_layer, "layer"),
                              [check_index(t, len(clean_ids), "position") for t in positions])  # [n_embd]
    return steps.unembed(final[None], model.params["wte.weight"])[0]  # [n_vocab]


def patched_head_logits(model, clean_ids, corrupt_ids, layer, heads):
    """One patched run: the clean z of block `layer`'s `heads` at every position → last logits [n_vocab]."""
    clean, corrupt = patching_traces(model, clean_ids, corrupt_ids)
    layer = check_index(layer, model.config.n_layer, "layer")
    final = heads_patched(model, clean, corrupt, [(layer, [check_index(h, model.config.n_head, "head") for h in heads])])
    return steps.unembed(final, model.params["wte.weight"])[0]  # [n_vocab]


def check_index(index, size, what):
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not 0 <= index < size:
        raise PromptError(f"{what} must be an integer in [0, {size}), got {index!r}")
    return int(index)


def answer_and_wrong(clean_logits, corrupt_logits):
    """Default tokens for the logit difference, from the two runs' last logits [n_vocab]: the clean run's
    prediction, and the corrupted run's (its runner-up when both runs predict the same token, so that the
    difference can tell the runs apart)."""
    answer = int(np.argmax(clean_logits))
    first, second = steps.most_likely(corrupt_logits, 2)
    return answer, int(second if first == answer else first)


def baseline_diffs(clean, corrupt, answer, wrong):
    """logit(answer) − logit(wrong) at the last position of the clean and of the corrupted run."""
    clean_diff = clean["logits"][-1, answer] - clean["logits"][-1, wrong]
    corrupt_diff = corrupt["logits"][-1, answer] - corrupt["logits"][-1, wrong]
    if clean_diff == corrupt_diff:
        raise PromptError(f"the clean and the corrupted prompt give the same logit difference ({clean_diff:.6g}) "
                          "between answer and wrong: there is nothing to recover")
    return clean_diff, corrupt_diff


def recovered(patched_finals, wte, answer, wrong, diffs):
    """The normalised logit difference: 0 = as the corrupted run, 1 = as the clean run.

    patched_finals [..., n_embd] are ln_f outputs: two rows of the unembedding are needed, not all n_vocab.
    """
    clean_diff, corrupt_diff = diffs
    patched_diff = patched_finals @ (wte[answer] - wte[wrong])  # [...]
    return (patched_diff - corrupt_diff) / (clean_diff - corrupt_diff)  # [...]


def patch_resid_pre(model, clean_ids, corrupt_ids, answer, wrong, positions=None, traces=None):
    """What patching the clean resid_pre of one block at one position recovers: [n_layer, n_positions].

    positions: which columns to compute (default every position: [n_layer, n_seq]). Costs n_layer × n_positions
    patched runs; the run for (layer, position) computes blocks layer… for positions position… only: for every
    position the arithmetic of (n_layer + 1)(n_seq + 1)/4 forward passes (docs/analysis.md). traces: the two
    prompts' patching_traces if already computed.
    """
    clean, corrupt = patching_traces(model, clean_ids, corrupt_ids) if traces is None else traces
    answer, wrong = check_token(model, answer, "answer"), check_token(model, wrong, "wrong")
    diffs = baseline_diffs(clean, corrupt, answer, wrong)
    positions = check_positions(positions, len(clean_ids))
    layers = range(model.config.n_layer)
    patched = np.stack([patched_finals(model, clean, corrupt,
                                       [resid_pre_run(clean, corrupt, layer, [position], position) for layer in layers],
                                       position)
                        for position in positions], axis=1)  # [n_layer, n_positions, n_embd]: one batch per position
    return recovered(patched, model.params["wte.weight"], answer, wrong, diffs)  # [n_layer, n_positions]


def check_positions(positions, n_seq):
    return list(range(n_seq)) if positions is None else [check_index(t, n_seq, "position") for t in positions]


def patch_head(model, clean_ids, corrupt_ids, answer, wrong, positions=None, traces=None):
    """What patching one head's clean z recovers: [n_layer, n_head].

    positions: where the z is swapped in (default every position, TransformerLens's
    get_act_patch_attn_head_out_all_pos). Costs n_layer × n_head patched runs of blocks layer…: with every
    position n_head (n_layer + 1)/2 forward passes; from position p on only the rows p… are computed, so
    positions=[n_seq − 1] (the last token, where the answer is read) costs as many one-token steps. traces: the
    two prompts' patching_traces if already computed.
    """
    clean, corrupt = patching_traces(model, clean_ids, corrupt_ids) if traces is None else traces
    answer, wrong = check_token(model, answer, "answer"), check_token(model, wrong, "wrong")
    diffs = baseline_diffs(clean, corrupt, answer, wrong)
    positions = check_positions(positions, len(clean_ids))
    n_layer, n_head = model.config.n_layer, model.config.n_head
    runs = [(layer, [head]) for layer in range(n_layer) for head in range(n_head)]
    patched = heads_patched(model, clean, corrupt, runs, positions).reshape(n_layer, n_head, -1)  # [n_layer, n_head, n_embd]
    return recovered(patched, model.params["wte.weight"], answer, wrong, diffs)  # [n_layer, n_head]


# ---- activation steering ---------------------------------------------------------------------------------

def steering_vector(model, a_ids, b_ids, layer, pad_id=None):
    """ActAdd's steering vector: resid_pre of block `layer` for prompt a minus for prompt b, [n_steer, n_embd].

    The prompts must be equally long, or pad_id (ActAdd pads with a space token) fills the shorter one's end.
    """
    a_ids, b_ids = list(model.check_ids(a_ids)), list(model.check_ids(b_ids))
    if len(a_ids) != len(b_ids):
        if pad_id is None:
            raise PromptError(f"the steering prompts have {len(a_ids)} and {len(b_ids)} tokens: make them equally "
                              "long or pass pad_id (e.g. the id of ' ') to pad the shorter one")
        pad_id = check_token(model, pad_id, "pad_id")
        n_steer = max(len(a_ids), len(b_ids))
        a_ids, b_ids = (ids + [pad_id] * (n_steer - len(ids)) for ids in (a_ids, b_ids))
    layer = check_index(layer, model.config.n_layer, "layer")
    name = resid_pre(layer)
    return traced(model, a_ids, [name])[name] - traced(model, b_ids, [name])[name]  # [n_steer, n_embd]


class RunsCache:
    """steps.attention's cache for a batch of runs that each have their own past (steer's runs, one per scale).

    keys, values: [n_layer, n_head, n_runs, capacity, d_head]. extend hands attention every run's whole capacity,
    run after run as the rows of the batch are, [n_head, n_runs · capacity, d_head] (a view, no copy), and
    `hidden` masks the other runs' keys and the positions not filled yet. n_layer=1: a cache for one pass only
    (nothing is decoded after it), whose layers each use the same room in turn.
    """

    def __init__(self, config, n_runs, capacity, n_layer=None):
        shape = (n_layer or config.n_layer, config.n_head, n_runs, capacity, config.d_head)
        self.keys = np.zeros(shape, dtype=np.float32)  # [n_layer, n_head, n_runs, capacity, d_head]
        self.values = np.zeros(shape, dtype=np.float32)  # [n_layer, n_head, n_runs, capacity, d_head]
        self.length = 0

    def extend(self, layer, k, v):
        layer %= len(self.keys)  # 0 for every layer in a one-pass cache
        _, n_head, n_runs, capacity, d_head = self.keys.shape
        end = self.length + k.shape[1] // n_runs
        for store, new in ((self.keys, k), (self.values, v)):  # new: [n_head, n_runs · n_new, d_head]
            store[layer, :, :, self.length:end] = new.reshape(n_head, n_runs, -1, d_head)
        return tuple(store[layer].reshape(n_head, n_runs * capacity, d_head) for store in (self.keys, self.values))

    def hidden(self, n_new):
        n_runs, capacity = self.keys.shape[2:4]
        query_run, query_position = np.repeat(np.arange(n_runs), n_new), self.length + np.tile(np.arange(n_new), n_runs)
        key_run, key_position = np.repeat(np.arange(n_runs), capacity), np.tile(np.arange(capacity), n_runs)
        return hidden_keys(query_run, query_position, key_run, key_position)  # [n_runs · n_new, n_runs · capacity]


def keep_any(layer, name, value):
    return value


def forward_runs(model, ids, cache, record=keep_any):
    """steps.forward for a batch of runs, one row of ids [n_runs, n_new] each, continuing each run's cached
    positions: the last position's logits [n_runs, n_vocab]. record(layer, name, value) as a block's, except
    that it keeps nothing it is given (the pass overwrites the attention scores in place: steps.spare)."""
    config, p = model.config, model.params
    n_runs, n_new = ids.shape
    tokens = steps.embed(p["wte.weight"], ids.reshape(-1))  # [n_runs · n_new, n_embd]
    positions = steps.pos_embed(p["wpe.weight"], cache.length, n_new)  # [n_new, n_embd]
    x = tokens + np.tile(positions, (n_runs, 1))  # [n_runs · n_new, n_embd]
    mask = cache.hidden(n_new)  # [n_runs · n_new, n_runs · capacity]

    def hook(layer):
        def within(name, value):
            if name == "attn.masked_scores":  # [n_head, n_rows, n_keys]: each run sees its own keys (in place: see
                np.copyto(value, steps.NEG_INF, where=mask)  # steps.spare; nothing here keeps the scores)
            return record(layer, name, value)
        within.keeps = lambda name: False  # record(layer, name, value) only reads (add_vector, keep_any)
        return within

    for layer in range(config.n_layer):
        x = steps.block(x, steps.block_params(p, layer), config.n_head, config.layer_norm_epsilon, cache, layer,
                        hook(layer))  # [n_runs · n_new, n_embd]
    cache.length += n_new
    last = steps.layer_norm(x[n_new - 1::n_new], p["ln_f.weight"], p["ln_f.bias"], config.layer_norm_epsilon)  # [n_runs, n_embd]
    return steps.unembed(last, p["wte.weight"])  # [n_runs, n_vocab]


def steer(model, ids, a_ids, b_ids, layer, scale, n_new, position=0, pad_id=None,
          temperature=0.0, top_k=None, top_p=None, seed=None):
    """Generate n_new tokens with scale * steering_vector added to the prompt's resid_pre of block `layer`.

    As ActAdd does, the vector's n_steer rows are added at prompt positions position … position + n_steer − 1, in
    the prompt's forward pass; the new tokens are not changed directly, they read the steered prompt through the
    KV cache. Sampling options as Model.generate. Returns the new token ids; with a list of scales, one list of
    ids per scale, generated together (one multiplication by each weight for all of them; each its own
    generator from `seed`, so each as if generated alone; prompts over MAX_BATCH_ROWS / n_scales tokens are run
    in smaller groups of scales, since every run's prompt rows go through attention at once).
    """
    check_sampling(n_new, temperature, top_k, top_p)
    scales = list(scale) if np.ndim(scale) else [scale]
    vector = steering_vector(model, a_ids, b_ids, layer, pad_id)  # [n_steer, n_embd]
    ids = model.check_ids(ids, len(ids) + max(n_new - 1, 0))
    if not isinstance(position, (int, np.integer)) or not 0 <= position <= len(ids) - len(vector):
        raise PromptError(f"the steering vector's {len(vector)} positions, from position {position!r}, "
                          f"must lie within the prompt's {len(ids)} tokens")
    per_batch = max(1, MAX_BATCH_ROWS // len(ids))  # the prompt's rows of every run go through attention at once
    new = [tokens for b in range(0, len(scales), per_batch)
           for tokens in steered_runs(model, ids, vector, layer, position, scales[b:b + per_batch], n_new,
                                      temperature, top_k, top_p, seed)]
    return new if np.ndim(scale) else new[0]


def steered_runs(model, ids, vector, layer, position, scales, n_new, temperature, top_k, top_p, seed):
    """steer's runs for these scales, generated together: one list of new ids per scale."""
    n_runs, n_seq = len(scales), len(ids)
    addition = np.array(scales, dtype=np.float32)[:, None, None] * vector  # [n_runs, n_steer, n_embd]

    def add_vector(at_layer, name, value):
        if at_layer != layer or name != "resid_pre":
            return value
        steered = value.copy().reshape(n_runs, n_seq, -1)  # [n_runs, n_seq, n_embd]
        steered[:, position:position + len(vector)] += addition
        return steered.reshape(value.shape)  # [n_runs · n_seq, n_embd]

    rngs = [np.random.default_rng(seed) for _ in scales]
    # one new token is chosen from the prompt's pass alone: no layer's keys are needed after it (a whole cache
    # is 192 MB for GPT-2 medium at 1024 tokens, where the notebook has room for one token)
    cache = RunsCache(model.config, n_runs, n_seq + max(n_new - 1, 0), n_layer=1 if n_new <= 1 else None)
    logits = forward_runs(model, np.tile(ids, (n_runs, 1)), cache, add_vector)  # [n_runs, n_vocab]
    new = [[] for _ in scales]
    for step in range(n_new):
        for run, rng in enumerate(rngs):
            new[run].append(steps.choose_next_token(logits[run], temperature, top_k, top_p, rng))
        if step + 1 < n_new:
            logits = forward_runs(model, np.array([[tokens[-1]] for tokens in new]), cache)  # [n_runs, n_vocab]
    return new
