"""The default notebook: GPT-2's inference, one short cell per step, as data (ids, titles, code), and the
contract of which of its names the kernel reads.

Every cell calls `gpt2cells.steps`, the same functions `Model.logits` runs, so the math exists once and a
learner who edits a cell changes what runs. The cells of the `block` group run once per layer, in order,
with `layer` set by the loop (see BLOCK_GROUP); the notebook keeps every layer's outputs, so any layer and
head can be shown without running again.

A cell's id is its step name: the page marks it `data-testid="cell-<id>"`. A cell's `trace` is the name in
`Model.run`'s trace (docs/naming.md) of the value it shows; docs/naming.md lists where the cell's variable is
named differently, and why.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CellSpec:
    id: str
    title: str
    doc: str
    source: str
    group: str | None = None  # "block": runs once per layer
    trace: str | None = None  # docs/naming.md's name(s) of the value the cell shows, ", "-separated ({i}: the layer)

    def __post_init__(self):
        # the editor shows the code as is: no empty line after the last one
        object.__setattr__(self, "source", self.source.rstrip("\n"))


@dataclass(frozen=True)
class GroupSpec:
    id: str
    title: str
    doc: str
    loop_variable: str  # set to 0 … count-1 before each pass over the group's cells
    count: str  # Python expression evaluated in the notebook's namespace: how many passes


BLOCK_GROUP = GroupSpec(
    id="block",
    title="Transformer block, once per layer",
    doc="These cells run for layer = 0, 1, …, n_layer − 1 in turn; x carries the residual stream from one "
        "layer to the next. Every layer's outputs are kept: pick one to show.",
    loop_variable="layer",
    count="config.n_layer",
)
GROUPS = (BLOCK_GROUP,)


@dataclass(frozen=True)
class KernelContract:
    """The default cells' names the kernel itself reads, beyond running the cells (gpt2cells.notebook.notebook).

    A learner who renames one of them in a cell loses only the feature that reads it.
    """
    model: str = "model"  # bound before the first cell: the loaded Model
    token_labels: str = "tokens"  # list[str] after a run: the row/column labels of every grid of T rows
    prediction_cell: str = "probabilities"  # when this cell ran ok, ...
    prediction: str = "probs"  # ... its [n_vocab] probabilities give the "Next token" line
    generate: str = "generate"  # generate(ids, n_new, temperature=, top_k=, top_p=, seed=) yields (new id, cache)
    prompt_ids: str = "ids"  # the prompt's token ids: Generate's first argument
    generation_cell: str = "generation"  # after Generate, this cell shows ...
    cache_table: str = "cache_table"  # ... cache_table(cache): the KV cache as the last step left it


CONTRACT = KernelContract()

SETUP = CellSpec(
    "setup", "The model",
    "The loaded model's weights (params), sizes (config) and tokenizer, and the step functions the cells call.",
    '''\
import numpy as np
from gpt2cells.steps import (
    embed, pos_embed, layer_norm, linear, split_qkv, split_heads, attention_scores, scale_scores,
    causal_mask, apply_mask, softmax, weighted_values, merge_heads, gelu, unembed, block_params,
)
from gpt2cells.notebook import Table

params, config, tokenizer = model.params, model.config, model.tokenizer
n_head, d_head, eps = config.n_head, config.d_head, config.layer_norm_epsilon
config.to_dict()
''')

PROMPT_BPE = CellSpec(
    "prompt", "Prompt", "The text whose next token GPT-2 predicts.",
    'prompt = "The quick brown fox jumps over the lazy"\n')

PROMPT_CHAR = CellSpec(
    "prompt", "Prompt", "The text whose next character the model predicts.",
    'prompt = "12+35="\n')

PRETOKENIZE = CellSpec(
    "pretokenize", "Pre-tokenize (regex)",
    "One regex splits the text into words, numbers, punctuation and spaces; BPE never merges across pieces.",
    '''\
pieces = tokenizer.pretokenize(prompt)
Table([[piece, len(piece.encode())] for piece in pieces], col_labels=["piece", "UTF-8 bytes"])
''')

BPE_MERGES = CellSpec(
    "bpe", "BPE merges",
    "Inside each piece, the adjacent pair learned earliest (lowest rank) is merged, again and again, until "
    "no pair of the piece is in the merge list. Ġ stands for a space byte.",
    '''\
merges = [(piece, step) for piece in pieces for step in tokenizer.merge_trace(piece)]
Table([[piece, " + ".join(step.pair) if step.pair else "(bytes)", step.rank, " ".join(step.symbols)]
       for piece, step in merges], col_labels=["piece", "merge", "rank", "symbols after"])
''')

CHAR_TABLE = CellSpec(
    "chars", "Characters → ids",
    "This model's tokenizer has one token per character: the table is its whole vocabulary.",
    '''\
vocabulary = tokenizer.itos
Table([[i, char] for i, char in enumerate(vocabulary)], col_labels=["id", "char"])
''')

TOKEN_IDS = CellSpec(
    "token_ids", "Token ids",
    "The prompt as the model sees it: one id per token. Every table below has one row per token.",
    '''\
from gpt2cells.steps import check_context

ids = tokenizer.encode(prompt)                       # [T]
tokens = [tokenizer.decode([i]) for i in ids]        # the row labels of the tables below
T = len(ids)
check_context(T, config.n_ctx)                       # more tokens than the model reads: stop here, not on a cut prompt
Table([[i] for i in ids], row_labels=tokens, col_labels=["id"])
''')

TOKEN_EMBEDDINGS = CellSpec(
    "token_embeddings", "Token embeddings",
    "Each id picks its row of the token embedding matrix wte [n_vocab × n_embd].",
    '''\
token_vectors = embed(params["wte.weight"], ids)     # [T, n_embd]
token_vectors
''', trace="embed")

POSITION_EMBEDDINGS = CellSpec(
    "position_embeddings", "Position embeddings",
    "Position t gets row t of the position embedding matrix wpe [n_ctx × n_embd].",
    '''\
position_vectors = pos_embed(params["wpe.weight"], 0, T)  # [T, n_embd]
position_vectors
''', trace="pos_embed")

EMBEDDING_SUM = CellSpec(
    "embedding_sum", "Sum: the residual stream",
    "Token plus position: x, the residual stream every block reads from and adds to.",
    '''\
x = token_vectors + position_vectors                 # [T, n_embd]
x
''', trace="blocks.0.resid_pre")

BLOCK_CELLS = [
    CellSpec(
        "block_weights", "This layer's weights",
        "The 12 tensors of block `layer` (the loop sets layer), by their names inside the block.",
        '''\
w = block_params(params, layer)
{name: list(tensor.shape) for name, tensor in w.items()}
'''),
    CellSpec(
        "ln_1", "Layer norm 1",
        "Each token's vector rescaled to mean 0 and variance 1, then multiplied by a learned gain and shifted by a bias.",
        '''\
x_norm = layer_norm(x, w["ln_1.weight"], w["ln_1.bias"], eps)   # [T, n_embd]
x_norm
''', trace="blocks.{i}.ln1.out"),
    CellSpec(
        "qkv", "Q, K, V",
        "One linear layer makes each token's query (what it looks for), key (what it offers) and value (what it passes on).",
        '''\
qkv = linear(x_norm, w["attn.c_attn.weight"], w["attn.c_attn.bias"])  # [T, 3·n_embd]
q, k, v = split_qkv(qkv)                                               # 3 × [T, n_embd]
q, k, v
''', trace="blocks.{i}.attn.qkv"),
    CellSpec(
        "heads", "Split into heads",
        "Each head attends on its own slice of d_head = n_embd / n_head columns.",
        '''\
# copies, not views of q, k, v: a value set in this table must not change the Q, K, V cell's
q_heads, k_heads, v_heads = (split_heads(t, n_head).copy() for t in (q, k, v))  # 3 × [n_head, T, d_head]
q_heads, k_heads, v_heads
''', trace="blocks.{i}.attn.q, blocks.{i}.attn.k, blocks.{i}.attn.v"),
    CellSpec(
        "scores", "Attention scores",
        "How well each query (row) matches each key (column): a dot product, divided by √d_head.",
        '''\
scores = scale_scores(attention_scores(q_heads, k_heads), d_head)  # [n_head, T, T]
scores
''', trace="blocks.{i}.attn.scaled_scores"),
    CellSpec(
        "mask", "Causal mask",
        "A token may not look at later tokens: their scores become −∞.",
        '''\
masked = apply_mask(scores, causal_mask(T, T))       # [n_head, T, T]
masked
''', trace="blocks.{i}.attn.masked_scores"),
    CellSpec(
        "softmax", "Softmax: attention pattern",
        "Each row becomes weights that sum to 1 (−∞ becomes 0): how much each token takes from each earlier one.",
        '''\
pattern = softmax(masked)                            # [n_head, T, T]
pattern
''', trace="blocks.{i}.attn.pattern"),
    CellSpec(
        "weighted_values", "Weighted values",
        "Each token's output in each head: the values of the tokens it attends to, mixed by the pattern.",
        '''\
z = weighted_values(pattern, v_heads)                # [n_head, T, d_head]
z
''', trace="blocks.{i}.attn.z"),
    CellSpec(
        "merge_project", "Merge heads + project",
        "The heads side by side again, then one linear layer mixes them.",
        '''\
attn_out = linear(merge_heads(z), w["attn.c_proj.weight"], w["attn.c_proj.bias"])  # [T, n_embd]
attn_out
''', trace="blocks.{i}.attn_out"),
    CellSpec(
        "residual_1", "Residual: add attention",
        "Attention's output is added to the residual stream; nothing is overwritten.",
        '''\
x = x + attn_out                                     # [T, n_embd]
x
''', trace="blocks.{i}.resid_mid"),
    CellSpec(
        "ln_2", "Layer norm 2",
        "The same normalisation, with this block's second gain and bias, before the MLP.",
        '''\
x_norm2 = layer_norm(x, w["ln_2.weight"], w["ln_2.bias"], eps)  # [T, n_embd]
x_norm2
''', trace="blocks.{i}.ln2.out"),
    CellSpec(
        "mlp_up", "MLP up",
        "Each token on its own: a linear layer to 4 × n_embd hidden units.",
        '''\
hidden = linear(x_norm2, w["mlp.c_fc.weight"], w["mlp.c_fc.bias"])  # [T, 4·n_embd]
hidden
''', trace="blocks.{i}.mlp.pre"),
    CellSpec(
        "gelu", "GELU",
        "The non-linearity: negative inputs are squashed towards 0, positive ones pass almost unchanged.",
        '''\
activated = gelu(hidden)                             # [T, 4·n_embd]
activated
''', trace="blocks.{i}.mlp.post"),
    CellSpec(
        "mlp_down", "MLP down",
        "A linear layer back to n_embd.",
        '''\
mlp_out = linear(activated, w["mlp.c_proj.weight"], w["mlp.c_proj.bias"])  # [T, n_embd]
mlp_out
''', trace="blocks.{i}.mlp_out"),
    CellSpec(
        "residual_2", "Residual: add MLP",
        "The MLP's output is added to the residual stream: x is this block's output and the next block's input.",
        '''\
x = x + mlp_out                                      # [T, n_embd]
x
''', trace="blocks.{i}.resid_post"),
]
BLOCK_CELLS = [CellSpec(c.id, c.title, c.doc, c.source, group=BLOCK_GROUP.id, trace=c.trace) for c in BLOCK_CELLS]

FINAL_LN = CellSpec(
    "final_ln", "Final layer norm",
    "After the last block, one more layer norm.",
    '''\
x_final = layer_norm(x, params["ln_f.weight"], params["ln_f.bias"], eps)  # [T, n_embd]
x_final
''', trace="ln_final.out")

LOGITS = CellSpec(
    "logits", "Logits",
    "A score for every token of the vocabulary at every position: the dot product with its embedding (wte again).",
    '''\
logits = unembed(x_final, params["wte.weight"])      # [T, n_vocab]
logits
''', trace="logits")

PROBABILITIES = CellSpec(
    "probabilities", "Next-token probabilities",
    "Softmax of the last position's logits: the model's prediction for the token after the prompt.",
    '''\
from gpt2cells.steps import most_likely

probs = softmax(logits[-1])                          # [n_vocab]
top = most_likely(probs, 10)                         # the 10 most likely ids, most likely first
Table([[tokenizer.decode([i]), int(i), float(probs[i])] for i in top],
      col_labels=["token", "id", "probability"], title="most likely next tokens")
''')

GENERATION = CellSpec(
    "generation", "Generation with a KV cache",
    "Generate feeds one new token at a time through the blocks; each layer's keys and values of earlier "
    "tokens wait in a cache instead of being recomputed. Edit next_token to change how a token is chosen.",
    '''\
from gpt2cells import KVCache
from gpt2cells.steps import forward, choose_next_token

def next_token(logits_last, temperature, top_k, top_p, rng):
    return choose_next_token(logits_last, temperature, top_k, top_p, rng)  # argmax at temperature 0

def generate(ids, n_new, temperature=0.8, top_k=40, top_p=0.95, seed=0):
    """Yield (new id, cache) n_new times: the prompt runs once, then one new token per step."""
    rng = np.random.default_rng(seed)
    cache = KVCache(config, len(ids) + n_new - 1)  # the last new token is never fed back
    logits_last = forward(np.array(ids), params, config, cache, last_only=True)[-1]  # [n_vocab]
    for step in range(n_new):
        new_id = next_token(logits_last, temperature, top_k, top_p, rng)
        yield new_id, cache
        if step + 1 < n_new:
            logits_last = forward(np.array([new_id]), params, config, cache, last_only=True)[-1]  # [n_vocab]

def cache_table(cache):
    shape = f"[{n_head} × {cache.length} × {d_head}]"  # heads × cached positions × d_head
    return Table([[shape, shape]] * config.n_layer, row_labels=[f"layer {i}" for i in range(config.n_layer)],
                 col_labels=["K cached", "V cached"], title="KV cache")

cache_table(KVCache(config, 1))  # empty until Generate runs; then the cache after the last step
''')


# ---- the Analysis part: TransformerLens's first exercises (gpt2cells.analysis, docs/analysis.md) -----------
# These cells run the engine's own forward pass (steps.forward) on the loaded model, not the cells above: an
# edit up there does not change them. They run with Run all, on small settings: the logit lens reads the last 16
# positions, the patching cells patch the changed and the last positions (resid_pre) and the last position
# (heads) by default, and say what every position costs. On GPT-2 small at 10 tokens the part takes ~2 s in the
# page, ~20 forward passes' time, the logit lens and steering the most (bench/analysis.py, docs/analysis.md); on
# the built-in adder, milliseconds.


@dataclass(frozen=True)
class PartSpec:
    id: str
    title: str
    doc: str
    first: str  # the id of the part's first cell: the page puts the part's heading above it


ANALYSIS_PART = PartSpec(
    id="analysis",
    title="Analysis: look inside",
    doc="Logit lens, direct logit attribution, an overview of every attention head, activation patching and "
        "steering, as in TransformerLens. These cells call gpt2cells.analysis on the loaded model (its own "
        "forward pass: edits in the cells above do not change them).",
    first="logit_lens",
)
PARTS = (ANALYSIS_PART,)

LOGIT_LENS = CellSpec(
    "logit_lens", "Logit lens",
    "The residual stream entering every block, and the last one, read as if it were the last: through ln_f and "
    "the unembedding. Where does the prediction appear?",
    '''\
from gpt2cells.analysis import logit_lens
from gpt2cells.notebook import Heatmap

positions = range(max(0, T - 16), T)  # the last 16 tokens (each costs n_layer + 1 rows through the unembedding)
lens = logit_lens(model, ids, positions)  # top_ids, top_probs, final_probs: [n_layer + 1, len(positions)]
top_tokens = [[tokenizer.decode([i]) for i in row] for row in lens["top_ids"]]
columns = [tokens[t] for t in positions]
{"top token": Heatmap(lens["top_probs"], lens["labels"], columns, text=top_tokens, lo=0, hi=1,
                      title="each stream's most likely next token, coloured by its probability"),
 "final prediction": Heatmap(lens["final_probs"], lens["labels"], columns, lo=0, hi=1,
                             title="each stream's probability of the model's own prediction")}
''')

LOGIT_ATTRIBUTION = CellSpec(
    "logit_attribution", "Direct logit attribution",
    "The final logit split into what each head, MLP and embedding wrote into the residual stream, with the "
    "final layer norm's scale frozen. Type two tokens to explain a logit difference. Click a head to show it.",
    '''\
from gpt2cells.analysis import logit_attribution, to_single_token
from gpt2cells.notebook import Heatmap

answer, wrong = None, None  # e.g. " dog", " cat" (one token each): logit(answer) − logit(wrong); None: the prediction
token = None if answer is None else to_single_token(model, answer)
other = None if wrong is None else to_single_token(model, wrong)
parts = logit_attribution(model, ids, token, other)  # heads [n_layer, n_head]; attn_bias, mlp [n_layer]
total = (parts["embed"] + parts["pos_embed"] + parts["heads"].sum() + parts["attn_bias"].sum()
         + parts["mlp"].sum() + parts["ln_final_bias"])
print(f"embed {parts['embed']:.4f} + pos_embed {parts['pos_embed']:.4f} + heads {parts['heads'].sum():.4f}"
      f" + attn biases {parts['attn_bias'].sum():.4f} + MLPs {parts['mlp'].sum():.4f}"
      f" + ln_f bias {parts['ln_final_bias']:.4f} = {total:.4f}; the logit itself: {parts['logit']:.4f}")
layers = [f"layer {i}" for i in range(config.n_layer)]
Heatmap(np.column_stack([parts["heads"], parts["attn_bias"], parts["mlp"]]), layers,
        [f"head {h}" for h in range(n_head)] + ["attn bias", "MLP"], heads=n_head,
        title=f"direct logit attribution of {tokenizer.decode([parts['token']])!r}"
              + ("" if other is None else f" − {tokenizer.decode([other])!r}"))
''')

ATTENTION_OVERVIEW = CellSpec(
    "attention_overview", "Attention overview: every head",
    "Every layer's every head's attention pattern for the prompt (query rows, key columns). Click one to show "
    "it in the attention cells of the transformer block.",
    '''\
from gpt2cells.analysis import attention_patterns
from gpt2cells.notebook import HeadPatterns
from gpt2cells.notebook.figures import thumbnail

# each layer's [n_head, T, T] pattern as the block makes it; past 32 tokens, averaged over blocks of tokens
small_patterns = attention_patterns(model, ids, reduce=thumbnail)  # [n_layer, n_head, ≤32, ≤32]
HeadPatterns(small_patterns, title="layers top to bottom, heads left to right", n_seq=T)
''')

HEAD_SCORES = CellSpec(
    "head_scores", "Head detector: previous-token, duplicate-token, induction",
    "TransformerLens's head detector: the share of each head's attention that falls where a previous-token, "
    "duplicate-token or induction head would look. A prompt that repeats itself brings induction heads out.",
    '''\
from gpt2cells.analysis import head_scores
from gpt2cells.notebook import Heatmap

scores = head_scores(model, ids)  # head type -> [n_layer, n_head]
layers, heads = [f"layer {i}" for i in range(config.n_layer)], [f"head {h}" for h in range(n_head)]
{name.removesuffix("_head").replace("_", " "): Heatmap(score, layers, heads, heads=n_head, lo=0, hi=1)
 for name, score in scores.items()}
''')

PATCHING_BPE = '''\
from gpt2cells.analysis import answer_and_wrong, length_mismatch, patching_traces, to_single_token

# IOI: who gets the drink? Names that are one token each keep the prompts equally long (" Mark", " John" in GPT-2)
clean_prompt = "When Mark and John went to the store, John gave a drink to"
corrupt_prompt = "When Mark and John went to the store, Mark gave a drink to"
'''

PATCHING_CHAR = '''\
from gpt2cells.analysis import answer_and_wrong, length_mismatch, patching_traces, to_single_token

clean_prompt, corrupt_prompt = "12+35=", "12+36="  # the adder writes the sum's last digit first: 7, 8
'''

PATCHING_RUN = '''\
clean_ids, corrupt_ids = tokenizer.encode(clean_prompt), tokenizer.encode(corrupt_prompt)
mismatch = length_mismatch(clean_ids, corrupt_ids)  # patching swaps activations position by position
traces = None if mismatch else patching_traces(model, clean_ids, corrupt_ids)  # both runs, once, for the cells below
if traces:
    clean_last, corrupt_last = (trace["logits"][-1] for trace in traces)  # [n_vocab] each
    answer, wrong = answer_and_wrong(clean_last, corrupt_last)  # or to_single_token(model, " Mark"), ... " John"
(f"Edit the prompts: {mismatch} ({[tokenizer.decode([i]) for i in clean_ids]} and "
 f"{[tokenizer.decode([i]) for i in corrupt_ids]}). The patching cells below wait for them." if mismatch else
 Table([[prompt, len(prompt_ids), float(last[answer] - last[wrong])] for prompt, prompt_ids, last in
        [(clean_prompt, clean_ids, clean_last), (corrupt_prompt, corrupt_ids, corrupt_last)]],
       row_labels=["clean", "corrupted"],
       col_labels=["prompt", "tokens", f"logit({tokenizer.decode([answer])!r}) − logit({tokenizer.decode([wrong])!r})"]))
'''


def patching_prompts(tokenizer_kind):
    return CellSpec(
        "patching_prompts", "Patching: a clean and a corrupted prompt",
        "Two prompts of the same number of tokens that differ where it matters, and two tokens: the metric is "
        "logit(answer) − logit(wrong) at the last position. By default answer is the clean run's prediction and "
        "wrong the corrupted run's.",
        (PATCHING_CHAR if tokenizer_kind == "char" else PATCHING_BPE) + PATCHING_RUN)


PATCH_RESID = CellSpec(
    "patch_resid", "Patching the residual stream",
    "Run the corrupted prompt with the clean run's resid_pre of one block at one position swapped in: how much "
    "of the clean logit difference comes back (0 = as corrupted, 1 = as clean)?",
    '''\
from gpt2cells.analysis import patch_resid_pre
from gpt2cells.notebook import Heatmap

changed = [t for t, (a, b) in enumerate(zip(clean_ids, corrupt_ids)) if a != b]
positions = sorted(set(changed) | {len(clean_ids) - 1})  # the changed tokens and the last one (earlier ones
# recover nothing); every position: range(len(clean_ids)), n_layer × T runs (GPT-2 small, 15 tokens: ~14× as long)
recovered = patch_resid_pre(model, clean_ids, corrupt_ids, answer, wrong, positions, traces) if traces else None
(Heatmap(recovered, [f"{i}_pre" for i in range(config.n_layer)],  # [n_layer, len(positions)]
         [f"{tokenizer.decode([clean_ids[t]])} ({t})" for t in positions], title="patched resid_pre: recovered")
 if traces else "Waiting for a clean and a corrupted prompt of the same length (the cell above).")
''')

PATCH_HEADS = CellSpec(
    "patch_heads", "Patching heads",
    "The same with one head's output (its z) swapped in, at the last position by default: which heads carry "
    "the answer? Click a head to show it. On models bigger than GPT-2 small, it runs when you ask.",
    '''\
from gpt2cells.analysis import patch_head
from gpt2cells.notebook import Heatmap

positions = [len(clean_ids) - 1]  # the last token; None: every position (GPT-2 small, 15 tokens: ~10× as long)
run_it = config.n_layer * n_head <= 144  # seconds up to GPT-2 small's 144 heads; a bigger model: True, then Run
ready = traces is not None and run_it
recovered_heads = patch_head(model, clean_ids, corrupt_ids, answer, wrong, positions, traces) if ready else None
(Heatmap(recovered_heads, [f"layer {i}" for i in range(config.n_layer)], [f"head {h}" for h in range(n_head)],
         heads=n_head, title="patched head outputs: recovered") if recovered_heads is not None else
 "Waiting for a clean and a corrupted prompt of the same length (the cell above)." if not traces else
 f"Not run by Run all: {config.n_layer * n_head} heads take minutes on this model. Set run_it = True and Run.")
''')

STEERING_BPE = '''\
from gpt2cells.analysis import steer

steer_a, steer_b = " Love", " Hate"  # ActAdd: add (stream of a − stream of b) × scale to the prompt's first tokens
layer, scale = min(6, config.n_layer - 1), 5.0
pad = tokenizer.encode(" ")[0]  # ActAdd pads the shorter of the two with spaces
'''

STEERING_CHAR = '''\
from gpt2cells.analysis import steer

steer_a, steer_b = "9", "1"  # ActAdd: add (stream of a − stream of b) × scale to the prompt's first tokens
layer, scale = 1, 1.0
pad = None  # both are one character: nothing to pad
'''

STEERING_RUN = '''\
a_ids, b_ids = tokenizer.encode(steer_a), tokenizer.encode(steer_b)
n_new = min(10, config.n_ctx - T + 1)
# scale 0 is plain greedy generation; the two run together, one multiplication by each weight for both
plain, steered = steer(model, ids, a_ids, b_ids, layer, [0.0, scale], n_new, pad_id=pad)
Table([[tokenizer.decode(plain)], [tokenizer.decode(steered)]], row_labels=["as is", f"steered at layer {layer}"],
      col_labels=[f"{prompt!r} continues"])
'''


def steering(tokenizer_kind):
    return CellSpec(
        "steering", "Steering (activation addition)",
        "Add a scaled difference of two prompts' residual streams at one layer while the prompt runs, then "
        "generate: the new tokens read the steered prompt through the KV cache.",
        (STEERING_CHAR if tokenizer_kind == "char" else STEERING_BPE) + STEERING_RUN)


def analysis_cells(tokenizer_kind):
    return [LOGIT_LENS, LOGIT_ATTRIBUTION, ATTENTION_OVERVIEW, HEAD_SCORES, patching_prompts(tokenizer_kind),
            PATCH_RESID, PATCH_HEADS, steering(tokenizer_kind)]


def default_cells(tokenizer_kind: str = "bpe") -> list[CellSpec]:
    """The cells in order; a char tokenizer swaps the regex and BPE cells for its character table."""
    if tokenizer_kind == "char":
        tokenizer_cells = [PROMPT_CHAR, CHAR_TABLE]
    else:
        tokenizer_cells = [PROMPT_BPE, PRETOKENIZE, BPE_MERGES]
    return [
        SETUP, *tokenizer_cells, TOKEN_IDS, TOKEN_EMBEDDINGS, POSITION_EMBEDDINGS, EMBEDDING_SUM,
        *BLOCK_CELLS, FINAL_LN, LOGITS, PROBABILITIES, GENERATION, *analysis_cells(tokenizer_kind),
    ]
