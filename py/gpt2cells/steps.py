"""GPT-2's forward pass as small pure functions; the notebook's cells call them one by one.

Model.run, Model.logits and Model.generate all go through `forward` below, so there is one copy of the math.

Shapes: n_seq new positions, n_past positions already in the KV cache, n_embd model width, n_head heads of
d_head = n_embd // n_head, n_vocab token ids. Linear weights are [out, in] (docs/weights-format.md).
Weights are float32 or float16 (a float16 model's matrices stay float16 in memory); every activation is float32: the
embeddings widen the rows they take, matmul_nt widens float16 weights in registers, and float32 + float16 is
float32 in NumPy. Python float constants do not upcast under NumPy 2, NumPy float64 scalars would, so
constants come from `math`, not `np`.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import PromptTooLongError, TokenIdError
from .exp import exp
from .matmul import matmul_heads, matmul_nt, matmul_nt_heads

BLOCK_TENSORS = (
    "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
    "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
)
NEG_INF = np.float32(-np.inf)


# ---- embeddings ------------------------------------------------------------------------------------------

def embed(wte, ids):
    return wte[ids].astype(np.float32, copy=False)  # [n_seq, n_embd] (float16 rows widened)


def check_context(n_tokens, n_ctx):
    # more tokens than position embeddings: stop, rather than let a slice of wpe come back short and the steps
    # after it compute on a cut prompt
    if n_tokens > n_ctx:
        raise PromptTooLongError(f"{n_tokens} tokens; this model reads at most {n_ctx}")


def pos_embed(wpe, start, n_seq):
    check_context(start + n_seq, len(wpe))
    # a copy, never a view of wpe: a cell that sets one of its values (a table edit) must not change the weights
    return np.array(wpe[start:start + n_seq], dtype=np.float32)  # [n_seq, n_embd] (float16 rows widened)


# ---- layer norm ------------------------------------------------------------------------------------------

def row_sums(x):
    # x.sum(axis=-1, keepdims=True), the reduction itself: in the page x.sum's and x.mean's Python wrappers
    # cost several times the arithmetic on one decoded row
    return np.add.reduce(x, axis=-1, keepdims=True)  # [..., 1]


def normalize(x, eps):
    # each row to mean 0, variance 1 (biased variance, eps inside the root, as GPT-2 does; sum / n is what
    # x.mean computes)
    n = x.shape[-1]
    centered = x - row_sums(x) / n  # [n_seq, n_embd]
    return centered / np.sqrt(row_sums(centered * centered) / n + eps)  # [n_seq, n_embd]


def scale_shift(x, gain, bias):
    return x * gain + bias  # [n_seq, n_embd]


def layer_norm(x, gain, bias, eps):
    return scale_shift(normalize(x, eps), gain, bias)  # [n_seq, n_embd]


# ---- linear ----------------------------------------------------------------------------------------------

def linear(x, w, b):
    # x @ w.T + b (matmul_nt picks the fastest way the runtime has: BLAS, a wasm SIMD kernel, einsum; a float16
    # w is widened to float32 there, and a float16 b by the addition, made in place: at 1024 tokens a second
    # [T, 4*n_embd] array would be 12-16 MB more, and the page's memory never shrinks)
    out = matmul_nt(x, w)  # [n_seq, n_out]
    out += b
    return out  # [n_seq, n_out]


# ---- attention -------------------------------------------------------------------------------------------

def split_qkv(qkv):
    n_embd = qkv.shape[-1] // 3
    return qkv[:, :n_embd], qkv[:, n_embd:2 * n_embd], qkv[:, 2 * n_embd:]  # 3 x [n_seq, n_embd]


def split_heads(x, n_head):
    return x.reshape(x.shape[0], n_head, -1).transpose(1, 0, 2)  # [n_head, n_seq, d_head]


def attention_scores(q, k):
    # per head q_h @ k_h.T, every head in one call (in the page the wasm SIMD kernel: at 1024 tokens einsum made
    # attention cost more than all the linear layers, and decoding a token a call per head cost more than the
    # arithmetic)
    return matmul_nt_heads(q, k)  # [n_head, n_q, n_k]


def scale_scores(scores, d_head, out=None):
    # keeps the dot products' variance near 1 so softmax does not saturate (out: see `spare`)
    return np.divide(scores, math.sqrt(d_head), out=out)  # [n_head, n_q, n_k]


def causal_mask(n_q, n_k, first=None):
    # the n_q queries are positions first, first + 1, … (unless told, the last n_q of the n_k); True marks keys
    # in a query's future
    first = n_k - n_q if first is None else first
    return np.arange(n_k) > np.arange(first, first + n_q)[:, None]  # [n_q, n_k]


def apply_mask(scores, mask, out=None):
    if out is None:
        return np.where(mask, NEG_INF, scores)  # [n_head, n_q, n_k]
    if out is not scores:
        np.copyto(out, scores)
    np.copyto(out, NEG_INF, where=mask)  # the same values, written over `out` (see `spare`)
    return out  # [n_head, n_q, n_k]


def softmax(x, out=None):
    e = np.subtract(x, np.maximum.reduce(x, axis=-1, keepdims=True), out=out)  # [..., n] (shifted: exp cannot overflow)
    exp(e, out=e)  # in place, as the division: at 1024 tokens e is [12 × 1024 × 1024], 48 MB
    e /= row_sums(e)
    return e  # [..., n]


def weighted_values(pattern, v):
    return matmul_heads(pattern, v)  # [n_head, n_q, d_head] (p_h @ v_h per head, in one call as attention_scores)


def merge_heads(z):
    return z.transpose(1, 0, 2).reshape(z.shape[1], -1)  # [n_seq, n_embd]


# ---- MLP -------------------------------------------------------------------------------------------------

GELU_LINEAR = -2.0 * math.sqrt(2.0 / math.pi)  # −2z = x · (GELU_LINEAR + GELU_CUBIC · x²), z as in gelu
GELU_CUBIC = GELU_LINEAR * 0.044715


def gelu(x):
    # GPT-2's tanh approximation of GELU, 0.5·x·(1 + tanh(z)) with z = √(2/π)·(x + 0.044715·x³), written with
    # 0.5·(1 + tanh(z)) = 1 / (1 + e^(−2z)): the same function, and in the page exp (gpt2cells.exp) is several
    # times faster than NumPy's tanh (a 10-token prompt spent 9 % in tanh); −2z as x·(a + b·x²) is 3 array
    # operations instead of 6 (each step in place, into one new array: at 1024 tokens a [T, 4*n_embd] temporary
    # is 12-16 MB, and the page's memory never shrinks)
    t = np.multiply(x, x, out=np.empty(np.shape(x), np.result_type(x, np.float32)))  # [n_seq, 4*n_embd] x²
    t *= GELU_CUBIC
    t += GELU_LINEAR
    t *= x  # −2z
    exp(t, out=t)  # e^(−2z) is inf below x ≈ −10, and x / inf is the limit there: −0
    t += 1.0
    return np.divide(x, t, out=t)  # [n_seq, 4*n_embd]


# ---- output ----------------------------------------------------------------------------------------------

def unembed(x, wte):
    # the output head is tied to the token embedding (float16 or float32: matmul_nt widens it)
    return matmul_nt(x, wte)  # [n_seq, n_vocab]


# ---- next token ------------------------------------------------------------------------------------------

def greedy(logits):
    return int(np.argmax(logits))  # first id among equal maxima, as torch.argmax


def most_likely(probs, k):
    # the first k of np.argsort(-probs, kind="stable") (most likely first, equal values in id order) without
    # sorting the whole vocabulary: in the page a stable sort of 50,257 takes ~5 ms, this ~0.2 ms
    candidates = np.arange(len(probs))  # [n_vocab]
    if k < len(probs):
        kth = np.partition(probs, -k)[-k]  # the k-th largest value
        at_least = np.flatnonzero(probs >= kth)  # [≥ k] ids at least that likely, in id order
        if len(at_least) >= k:  # fewer only with a nan, which np.partition counts largest and the sort last
            candidates = at_least
    return candidates[np.argsort(-probs[candidates], kind="stable")][:k]  # [k] ids


def apply_temperature(logits, temperature):
    return logits / float(temperature)  # [n_vocab]


def top_k_filter(logits, k):
    if k >= logits.shape[-1]:
        return logits
    kth_largest = np.partition(logits, -k)[-k]
    return np.where(logits < kth_largest, NEG_INF, logits)  # [n_vocab] (ties with the k-th are kept)


def top_p_filter(probs, p):
    # keep the most likely tokens until their mass reaches p (always at least one)
    order = np.argsort(-probs, kind="stable")  # [n_vocab] most likely first
    mass_before = np.cumsum(probs[order]) - probs[order]  # [n_vocab] in that order
    nucleus = order[mass_before < p]  # [n_kept]
    kept = np.zeros_like(probs)  # [n_vocab]
    kept[nucleus] = probs[nucleus]
    return kept / kept.sum()  # [n_vocab]


def sample(probs, rng):
    cdf = np.cumsum(probs)  # [n_vocab]
    token = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
    return token if token < len(probs) else int(np.flatnonzero(probs)[-1])  # guard u*total rounding to total


def choose_next_token(logits, temperature=0.0, top_k=None, top_p=None, rng=None):
    """logits [n_vocab] → one id: argmax at temperature 0, else a sample after top-k then top-p.

    rng: a np.random.Generator (seed it to reproduce a sample); None draws fresh entropy.
    """
    if temperature == 0:
        return greedy(logits)
    logits = apply_temperature(logits, temperature)  # [n_vocab]
    if top_k is not None:
        logits = top_k_filter(logits, top_k)  # [n_vocab]
    probs = softmax(logits)  # [n_vocab]
    if top_p is not None:
        probs = top_p_filter(probs, top_p)  # [n_vocab]
    return sample(probs, rng if rng is not None else np.random.default_rng())


# ---- composition: one block, the whole model -------------------------------------------------------------

# `record(name, array)` sees every intermediate and returns the array the pass goes on with. A record may say
# which names it keeps (`record.keeps(name)`, see `keeps`): an array it lets go, the next step may overwrite
# with its own result, the same values computed in place, so a pass at 1024 tokens holds one [n_head × T × T]
# array at a time, not two. A record that keeps none of them may see attention's [n_head × T × T] steps a head
# at a time (`record.by_head`, see `attention`): then `record.head(h)` sees head h's [1 × T × T] arrays.

def keep_nothing(name, value):
    return value


keep_nothing.keeps = lambda name: False


def keeps(record, name):
    """Whether record may hold on to the array it saw under `name` (one that does not say: it may)."""
    says = getattr(record, "keeps", None)
    return True if says is None else says(name)


def spare(record, name, value):
    """value, as the `out` of the next step when record let it go; else None (the next step makes a new array)."""
    return None if keeps(record, name) else value


class _Within:
    """record under the names of a pass (a block's "attn.q" is the model's "blocks.3.attn.q")."""

    def __init__(self, record, prefix):
        self.record, self.prefix = record, prefix
        self.by_head = getattr(record, "by_head", False)

    def __call__(self, name, value):
        return self.record(self.prefix + name, value)

    def keeps(self, name):
        return keeps(self.record, self.prefix + name)

    def head(self, h):
        return _Within(self.record.head(h), self.prefix)


def _within(record, prefix):
    return record if record is keep_nothing else _Within(record, prefix)


def masked_scores(q, k, record=keep_nothing, first=None):
    """Scaled scores with each query's future masked; the queries are positions first, first + 1, … (unless
    told, the last of the keys'). One query at the newest position (decoding) sees every key: nothing to mask."""
    scores = record("scores", attention_scores(q, k))  # [n_head, n_q, n_k]
    scaled = record("scaled_scores", scale_scores(scores, q.shape[-1], out=spare(record, "scores", scores)))  # [n_head, n_q, n_k]
    n_q, n_k = scaled.shape[1:]
    if n_q == 1 and first in (None, n_k - 1):  # the next step may overwrite what this returns: not an array record holds
        return scaled.copy() if keeps(record, "scaled_scores") else scaled  # [n_head, 1, n_k]
    return apply_mask(scaled, causal_mask(n_q, n_k, first), out=spare(record, "scaled_scores", scaled))  # [n_head, n_q, n_k]


def project_qkv(x, w, n_head, record=keep_nothing):
    """Each position's query, key and value in every head."""
    qkv = record("qkv", linear(x, w["attn.c_attn.weight"], w["attn.c_attn.bias"]))  # [n_seq, 3*n_embd]
    q, k, v = (split_heads(t, n_head) for t in split_qkv(qkv))  # 3 x [n_head, n_seq, d_head]
    return record("q", q), record("k", k), record("v", v)


def attention(x, w, n_head, cache=None, layer=0, record=keep_nothing):
    """Causal self-attention of n_seq new positions over the cache's n_past positions and themselves. A cache
    that says where the new positions are (`first`: kv_cache.KnownKeys, which holds every position) may hold
    keys after them too."""
    q, k, v = project_qkv(x, w, n_head, record)  # 3 x [n_head, n_seq, d_head]
    first = getattr(cache, "first", None)
    if cache is not None:
        k, v = cache.extend(layer, k, v)  # 2 x [n_head, n_k, d_head]
    if getattr(record, "by_head", False):  # one head's [n_seq × n_k] arrays in memory at a time, not every head's
        z = np.concatenate([attend(q[h:h + 1], k[h:h + 1], v[h:h + 1], record.head(h), first) for h in range(n_head)])  # [n_head, n_seq, d_head]
    else:
        z = attend(q, k, v, record, first)  # [n_head, n_seq, d_head]
    z = record("z", z)  # [n_head, n_seq, d_head]
    merged = record("merged", merge_heads(z))  # [n_seq, n_embd]
    return linear(merged, w["attn.c_proj.weight"], w["attn.c_proj.bias"])  # [n_seq, n_embd]


def attend(q, k, v, record=keep_nothing, first=None):
    """Each query's mix of the values, weighted by softmax of its masked scores (queries at positions first, …)."""
    # unless record keeps them, the scores become the pattern in place (spare): at 1024 tokens each step's array
    # is [12 × 1024 × 1024], 48 MB, and the page's memory never shrinks
    masked = record("masked_scores", masked_scores(q, k, record, first))  # [n_head, n_q, n_k]
    pattern = record("pattern", softmax(masked, out=spare(record, "masked_scores", masked)))  # [n_head, n_q, n_k]
    return weighted_values(pattern, v)  # [n_head, n_q, d_head]


def mlp(x, w, record=keep_nothing):
    pre = record("pre", linear(x, w["mlp.c_fc.weight"], w["mlp.c_fc.bias"]))  # [n_seq, 4*n_embd]
    post = record("post", gelu(pre))  # [n_seq, 4*n_embd]
    return linear(post, w["mlp.c_proj.weight"], w["mlp.c_proj.bias"])  # [n_seq, n_embd]


def block(x, w, n_head, eps, cache=None, layer=0, record=keep_nothing):
    """One transformer block (pre-norm): x + attention(ln_1(x)), then + mlp(ln_2(.))."""
    x = record("resid_pre", x)  # [n_seq, n_embd]
    normalized = record("ln1.normalized", normalize(x, eps))  # [n_seq, n_embd]
    ln1 = record("ln1.out", scale_shift(normalized, w["ln_1.weight"], w["ln_1.bias"]))  # [n_seq, n_embd]
    attn_out = record("attn_out", attention(ln1, w, n_head, cache, layer, _within(record, "attn.")))  # [n_seq, n_embd]
    x = record("resid_mid", x + attn_out)  # [n_seq, n_embd]
    normalized = record("ln2.normalized", normalize(x, eps))  # [n_seq, n_embd]
    ln2 = record("ln2.out", scale_shift(normalized, w["ln_2.weight"], w["ln_2.bias"]))  # [n_seq, n_embd]
    mlp_out = record("mlp_out", mlp(ln2, w, _within(record, "mlp.")))  # [n_seq, n_embd]
    return record("resid_post", x + mlp_out)  # [n_seq, n_embd]


def keys_values(x, w, n_head, eps):
    """The keys and values block() makes of x's positions: what a window of its queries attends to (a
    kv_cache.KnownKeys)."""
    _, k, v = project_qkv(layer_norm(x, w["ln_1.weight"], w["ln_1.bias"], eps), w, n_head)  # 2 x [n_head, n_seq, d_head]
    return k, v


def block_params(params, layer):
    """Block `layer`'s tensors under their names inside the block (e.g. "attn.c_attn.weight")."""
    prefix = f"h.{layer}."
    return {name: params[prefix + name] for name in BLOCK_TENSORS}


def forward(ids, params, config, cache=None, record=keep_nothing, last_only=False):
    """Token ids [n_seq] → logits [n_seq, n_vocab] (or [1, n_vocab] for the last position only).

    With a cache, the ids continue the cached positions and their keys/values are appended to it.
    `record(name, array)` sees every intermediate under its trace name (docs/naming.md).
    """
    start = cache.length if cache is not None else 0
    # numpy would wrap a negative id and wpe's slice would come back short: refuse both here too, since
    # notebook cells call forward directly (Model.check_ids gives the fuller messages)
    if start + len(ids) > config.n_ctx:
        raise PromptTooLongError(f"positions {start}..{start + len(ids) - 1} exceed the context window n_ctx = {config.n_ctx}")
    if len(ids) and not 0 <= min(ids) <= max(ids) < config.vocab_size:
        raise TokenIdError(f"token ids must lie in [0, {config.vocab_size}), got {min(ids)}..{max(ids)}")
    tokens = record("embed", embed(params["wte.weight"], ids))  # [n_seq, n_embd]
    positions = record("pos_embed", pos_embed(params["wpe.weight"], start, len(ids)))  # [n_seq, n_embd]
    x = tokens + positions  # [n_seq, n_embd]
    for layer in range(config.n_layer):
        w = block_params(params, layer)
        x = block(x, w, config.n_head, config.layer_norm_epsilon, cache, layer, _within(record, f"blocks.{layer}."))
    if cache is not None:
        cache.advance(len(ids))
    if last_only:
        x = x[-1:]  # [1, n_embd]
    normalized = record("ln_final.normalized", normalize(x, config.layer_norm_epsilon))  # [n_seq, n_embd]
    x = record("ln_final.out", scale_shift(normalized, params["ln_f.weight"], params["ln_f.bias"]))  # [n_seq, n_embd]
    return record("logits", unembed(x, params["wte.weight"]))  # [n_seq, n_vocab]
