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


def measure_model(engine, prompt_ids, new_tokens, repeats):
    """Time a loaded gpt2cells Model: prompt forward and greedy KV-cache decode."""
    prompt_s = median_seconds(lambda: engine.logits(list(prompt_ids)), repeats)
    rate, tokens = decode_rate(lambda: engine.generate(list(prompt_ids), new_tokens, temperature=0.0),
                               max(1, repeats // 2))
    return {"prompt_ms": prompt_s * 1e3, "decode_tok_s": rate, "tokens": tokens}


def measure_gpt2cells(gpt2cells, zip_path, prompt_ids, new_tokens, repeats):
    """Load the packed zip with the engine, then time it (measure_model)."""
    engine, load_s = timed(lambda: gpt2cells.load(zip_path))
    return {"load_s": load_s, **measure_model(engine, prompt_ids, new_tokens, repeats)}
