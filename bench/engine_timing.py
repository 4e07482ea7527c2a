"""How the bench times an engine: the same code in CPython (bench/native.py) and in Pyodide (web/engine-worker.mjs).

Standard library only, so the browser worker can import it next to gpt2cells.
- prompt: one forward pass over the prompt (all positions' logits), median of `repeats` runs after a warm-up;
- decode: `new_tokens` greedy tokens with the KV cache, prefill included; tok/s = new_tokens / wall time,
  median of runs after a warm-up run.
"""
import statistics
import time


def timed(action):
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def median_seconds(action, repeats):
    """Median wall time of `repeats` calls, after one untimed warm-up call."""
    action()
    return statistics.median(timed(action)[1] for _ in range(repeats))


def decode_rate(generate, repeats):
    """(median tok/s over `repeats` timed runs after one warm-up, the last run's tokens)."""
    generate()
    rates, tokens = [], []
    for _ in range(repeats):
        tokens, seconds = timed(generate)
        rates.append(len(tokens) / seconds)
    return statistics.median(rates), [int(t) for t in tokens]


def prompt_ms(engine, prompt_ids, repeats):
    """Median ms of one forward pass over the prompt (all positions' logits)."""
    return median_seconds(lambda: engine.logits(list(prompt_ids)), repeats) * 1e3


def decode_once(engine, prompt_ids, new_tokens):
    """One greedy generation with the KV cache, prefill included."""
    tokens, seconds = timed(lambda: engine.generate(list(prompt_ids), new_tokens, temperature=0.0))
    return {"decode_tok_s": len(tokens) / seconds, "tokens": [int(t) for t in tokens]}


def measure_model(engine, prompt_ids, new_tokens, repeats):
    """Time a loaded gpt2cells Model: prompt forward and greedy KV-cache decode."""
    rate, tokens = decode_rate(lambda: engine.generate(list(prompt_ids), new_tokens, temperature=0.0),
                               max(1, repeats // 2))
    return {"prompt_ms": prompt_ms(engine, prompt_ids, repeats), "decode_tok_s": rate, "tokens": tokens}


def measure_gpt2cells(gpt2cells, zip_path, prompt_ids, new_tokens, repeats):
    """Load the packed zip with the engine, then time it (measure_model)."""
    engine, load_s = timed(lambda: gpt2cells.load(zip_path))
    return {"load_s": load_s, **measure_model(engine, prompt_ids, new_tokens, repeats)}


# Leaf steps of gpt2cells.steps (the ones that do the arithmetic); composite steps would double count.
# Steps over the growing key axis are grouped without shapes (one row per step, not one per past length).
PROFILED_STEPS = ("embed", "pos_embed", "normalize", "scale_shift", "linear", "split_qkv", "split_heads",
                  "attention_scores", "scale_scores", "causal_mask", "apply_mask", "softmax", "weighted_values",
                  "merge_heads", "gelu", "unembed", "greedy")
GROWING_STEPS = {"attention_scores", "scale_scores", "causal_mask", "apply_mask", "softmax", "weighted_values",
                 "KVCache.extend"}


def profile_steps(gpt2cells, engine, prompt_ids, new_tokens):
    """Where the time goes: every leaf step of gpt2cells.steps (and KVCache.extend) timed during one
    prompt forward and one greedy generation, keyed by step and argument shapes, largest total first."""
    import gpt2cells.steps as steps
    from gpt2cells.kv_cache import KVCache

    totals = {}

    def timed_step(name, original):
        def step(*args, **kwargs):
            start = time.perf_counter()
            result = original(*args, **kwargs)
            shapes = ("(n_past grows)" if name in GROWING_STEPS else
                      "×".join(str(list(a.shape)) for a in args if hasattr(a, "shape") and a.ndim))
            entry = totals.setdefault((phase[0], name, shapes), [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - start
            return result
        return step

    originals = {name: getattr(steps, name) for name in PROFILED_STEPS}
    original_extend = KVCache.extend
    phase = ["prompt"]
    try:
        for name, original in originals.items():
            setattr(steps, name, timed_step(name, original))
        KVCache.extend = timed_step("KVCache.extend", original_extend)
        _, prompt_s = timed(lambda: engine.logits(list(prompt_ids)))
        phase[0] = "generate"
        _, generate_s = timed(lambda: engine.generate(list(prompt_ids), new_tokens, temperature=0.0))
    finally:
        for name, original in originals.items():
            setattr(steps, name, original)
        KVCache.extend = original_extend
    wall = {"prompt": prompt_s, "generate": generate_s}
    rows = [{"phase": p, "step": n, "shapes": s, "calls": c, "total_ms": t * 1e3, "share": t / wall[p]}
            for (p, n, s), (c, t) in totals.items()]
    for p, seconds in wall.items():  # what no step accounts for: Python glue between the steps
        glue = seconds - sum(t for (q, _, _), (_, t) in totals.items() if q == p)
        rows.append({"phase": p, "step": "(between steps)", "shapes": "", "calls": 1, "total_ms": glue * 1e3,
                     "share": glue / seconds})
    return {"prompt_ms": prompt_s * 1e3, "generate_ms": generate_s * 1e3,
            "steps": sorted(rows, key=lambda r: -r["total_ms"])}
