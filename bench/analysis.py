"""The Analysis part's cost in the page (issue #17): each analysis call the default cells make, timed in the
page's worker (Chromium, Pyodide, the wasm kernel) on GPT-2-small shapes, beside one forward pass of the prompt.

    python bench/analysis.py                 # 15 tokens (the Analysis part's IOI prompt length)
    python bench/analysis.py --tokens 10 --json out.json

The weights are random and made inside the worker (no 500 MB zip to build or import): the time of a forward
pass does not depend on the values. The rows are the default cells' calls with their default settings, then the
full patching sweeps they leave out. docs/analysis.md has the latest figures.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "py")]

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

def timed(label, call):
    start = time.perf_counter()
    value = call()
    rows.append([label, time.perf_counter() - start])
    return value

model.logits(ids)  # warm-up
timed("forward pass of the prompt", lambda: model.logits(ids))
timed("logit_lens (last 16 positions)", lambda: analysis.logit_lens(model, ids, range(max(0, T - 16), T)))
timed("logit_attribution", lambda: analysis.logit_attribution(model, ids))
timed("attention_patterns (thumbnails)", lambda: analysis.attention_patterns(model, ids, reduce=thumbnail))
timed("head_scores", lambda: analysis.head_scores(model, ids))
clean_last, corrupt_last = timed("patching prompts: two forward passes",
                                 lambda: (model.logits(ids)[-1], model.logits(corrupt)[-1]))
answer, wrong = analysis.answer_and_wrong(clean_last, corrupt_last)
timed("patch_resid_pre, changed + last position",
      lambda: analysis.patch_resid_pre(model, ids, corrupt, answer, wrong, [T - 5, T - 1]))
timed("patch_head, last position", lambda: analysis.patch_head(model, ids, corrupt, answer, wrong, [T - 1]))
timed("steering: plain + steered, 10 tokens each",
      lambda: [analysis.steer(model, ids, ids[:1], corrupt[:1], 6, scale, 10) for scale in (0.0, 5.0)])
timed("patch_resid_pre, every position", lambda: analysis.patch_resid_pre(model, ids, corrupt, answer, wrong))
timed("patch_head, every position", lambda: analysis.patch_head(model, ids, corrupt, answer, wrong))
rows
'''
DEFAULT_ROWS = 9  # the forward pass and the default cells' calls; the full sweeps come after


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
                code = TIMING.replace("N_TOKENS", str(n_tokens))
                rows = page.evaluate("async (code) => (await window.gpt2cells.runtime.exec(code)).value", code)
                browser.close()
        finally:
            server.shutdown()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=15, help="prompt length (default 15)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = measure(args.tokens)
    forward = rows[0][1]
    print(f"| GPT-2-small shapes, {args.tokens} tokens, in the page | time | forward passes |\n|---|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} s | {seconds / forward:.1f} |")
    part = sum(seconds for _, seconds in rows[1:DEFAULT_ROWS])
    print(f"| the Analysis part's defaults, together | {part:.2f} s | {part / forward:.1f} |")
    if args.json:
        args.json.write_text(json.dumps({"tokens": args.tokens, "rows": rows, "analysis_part_s": part}, indent=1))


if __name__ == "__main__":
    main()
