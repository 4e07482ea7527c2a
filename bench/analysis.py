"""The Analysis part's cost in the page (issue #17): each analysis call the default cells make, timed in the
page's worker (Chromium, Pyodide, the wasm kernel) on GPT-2-small shapes, beside one forward pass of the prompt.

    python bench/analysis.py                 # 10 tokens (issue #17's goal: the part in ≤ 3 s)
    python bench/analysis.py --tokens 15 --json out.json   # the IOI prompts' length

The weights are random and made inside the worker (no 500 MB zip to build or import): the time of a forward
pass does not depend on the values. The rows are the default cells' calls with their default settings (each the
best of three runs), then the full patching sweeps they leave out and steering's two runs one after the other;
then the default notebook's Analysis cells as Run all runs them. docs/analysis.md has the latest figures.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "py"), str(ROOT / "tests")]

import build  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

# Python run in the page's worker: GPT-2-small-shaped random weights, then each call timed once after a warm-up
# forward pass. The corrupted prompt differs from the clean one at one position, 5 tokens before the end.
TIMING = '''
import time, numpy as np
from gpt2cells import analysis
from gpt2cells.config import Config
from gpt2cells.model import Model
from gpt2cells.notebook.figures import thumbnail
from gpt2cells.weights_format import expected_shapes

shape = dict(n_layer=12, n_head=12, n_embd=768, n_ctx=1024, vocab_size=50257)
rng = np.random.default_rng(0)
params = {}
for name, dims in expected_shapes(shape).items():
    params[name] = (rng.random(dims, dtype=np.float32) - 0.5) * 0.07
    if name.endswith(("ln_1.weight", "ln_2.weight")) or name == "ln_f.weight":
        params[name] += 1
model = Model(Config.from_dict(shape), params)
T = N_TOKENS
ids = [int(i) for i in rng.integers(0, 50257, T)]
corrupt = list(ids)
corrupt[T - 5] = (ids[T - 5] + 1) % 50257
rows = []

def timed(label, call, repeats=3):
    # the best of `repeats`: the machine is shared, and a slower run measures the other jobs, not the call
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = call()
        seconds.append(time.perf_counter() - start)
    rows.append([label, min(seconds)])
    return value

model.logits(ids)  # warm-up
timed("forward pass of the prompt", lambda: model.logits(ids))
timed("logit_lens (last 16 positions)", lambda: analysis.logit_lens(model, ids, range(max(0, T - 16), T)))
timed("logit_attribution", lambda: analysis.logit_attribution(model, ids))
timed("attention_patterns (thumbnails)", lambda: analysis.attention_patterns(model, ids, reduce=thumbnail))
timed("head_scores", lambda: analysis.head_scores(model, ids))
traces = timed("patching_traces: the two prompts, traced once", lambda: analysis.patching_traces(model, ids, corrupt))
answer, wrong = analysis.answer_and_wrong(*(trace["logits"][-1] for trace in traces))
timed("patch_resid_pre, changed + last position",
      lambda: analysis.patch_resid_pre(model, ids, corrupt, answer, wrong, [T - 5, T - 1], traces))
timed("patch_head, last position", lambda: analysis.patch_head(model, ids, corrupt, answer, wrong, [T - 1], traces))
timed("steering: plain + steered, 10 tokens each, together",
      lambda: analysis.steer(model, ids, ids[:1], corrupt[:1], 6, [0.0, 5.0], 10))
timed("patch_resid_pre, every position", lambda: analysis.patch_resid_pre(model, ids, corrupt, answer, wrong, None, traces), 1)
timed("patch_head, every position", lambda: analysis.patch_head(model, ids, corrupt, answer, wrong, None, traces), 1)
timed("steering: plain, then steered, one call each",
      lambda: [analysis.steer(model, ids, ids[:1], corrupt[:1], 6, scale, 10) for scale in (0.0, 5.0)])
rows
'''
DEFAULT_ROWS = 9  # the forward pass and the default cells' calls; the full sweeps come after

# Then the default notebook itself on that model, with the bench's 50,257-token BPE vocabulary (trained on the
# stdlib, bench/models.py) and a prompt of N_TOKENS tokens: Run all, and each Analysis cell's run time as the
# page shows it (the patching cells run their own IOI prompts, the steering cell generates after the prompt).
NOTEBOOK = '''
from gpt2cells.notebook import Notebook
from gpt2cells.notebook.default_cells import analysis_cells
from gpt2cells.tokenizer import BPETokenizer

model.tokenizer = BPETokenizer.from_files(VOCAB_JSON, MERGES_TXT)
notebook = Notebook(model, {"prompt": "prompt = " + repr(PROMPT_TEXT)})
analysis = {spec.id for spec in analysis_cells("bpe")}
seconds = {}
for _ in range(3):  # the first Run all also imports what the cells use; each cell's best of three counts
    notebook.run("all")
    for state in notebook.states():
        if state["id"] in analysis:
            seconds.setdefault(state["id"], []).append(state["duration_ms"] / 1e3)
status = {state["id"]: state["status"] for state in notebook.states()}
[[cell_id, status[cell_id], min(times)] for cell_id, times in seconds.items()]
'''


def measure(n_tokens: int) -> list:
    with tempfile.TemporaryDirectory() as dist:
        build.build(Path(dist))
        server = build.make_server(Path(dist), host="127.0.0.1", port=0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.set_default_timeout(1_800_000)
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
                page.wait_for_function("() => document.getElementById('runtime-status')?.dataset.state === 'ready'")
                run = "async (code) => (await window.gpt2cells.runtime.exec(code)).value"
                rows = page.evaluate(run, TIMING.replace("N_TOKENS", str(n_tokens)))
                vocab, merges, text = bench_vocabulary(n_tokens)
                cells = page.evaluate(run, NOTEBOOK.replace("VOCAB_JSON", repr(vocab)).replace("MERGES_TXT", repr(merges))
                                      .replace("PROMPT_TEXT", repr(text)))
                browser.close()
        finally:
            server.shutdown()
    return rows, cells


def bench_vocabulary(n_tokens: int) -> tuple[str, str, str]:
    """The bench's GPT-2-small vocabulary (vocab.json, merges.txt) and a prompt of exactly n_tokens in it."""
    from gpt2cells.tokenizer import BPETokenizer
    from models import CACHE, CACHE_VERSION, SHAPES, ensure_tokenizer

    directory = ensure_tokenizer(SHAPES["small"], CACHE / f"small-{CACHE_VERSION}")
    vocab, merges = ((directory / name).read_text(encoding="utf-8") for name in ("vocab.json", "merges.txt"))
    tokenizer = BPETokenizer.from_files(vocab, merges)
    words = ("The quick brown fox jumps over the lazy dog while the cat sleeps in the warm sun and the birds sing "
             "in the old tree by the river where the children play every day after school").split()
    for end in range(1, len(words) + 1):
        text = " ".join(words[:end])
        if len(tokenizer.encode(text)) == n_tokens:
            return vocab, merges, text
    raise SystemExit(f"no prefix of the bench's sentence is {n_tokens} tokens long")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10, help="prompt length (default 10)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    rows, cells = measure(args.tokens)
    forward = rows[0][1]
    print(f"| GPT-2-small shapes, {args.tokens} tokens, in the page | time | forward passes |\n|---|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} s | {seconds / forward:.1f} |")
    part = sum(seconds for _, seconds in rows[1:DEFAULT_ROWS])
    print(f"| the Analysis part's defaults, together | {part:.2f} s | {part / forward:.1f} |")
    print(f"\n| the default notebook's Analysis cells, Run all, {args.tokens}-token prompt | status | time |\n|---|---|---|")
    for cell_id, status, seconds in cells:
        print(f"| {cell_id} | {status} | {seconds:.2f} s |")
    cells_s = sum(seconds for _, _, seconds in cells)
    print(f"| **the Analysis part** | | **{cells_s:.2f} s** ({cells_s / forward:.1f} forward passes) |")
    if args.json:
        args.json.write_text(json.dumps({"tokens": args.tokens, "rows": rows, "analysis_part_s": part,
                                         "cells": cells, "analysis_cells_s": cells_s}, indent=1))


if __name__ == "__main__":
    main()
