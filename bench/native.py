"""Native measurements on this machine: Hugging Face (torch CPU), gpt2cells in CPython, onnxruntime CPU.

Timed exactly like the browser runs (bench/engine_timing.py): 10-token prompt forward, 64 greedy tokens.
"""
from __future__ import annotations

import numpy as np

from engine_timing import decode_rate, measure_gpt2cells, median_seconds, timed
from models import NEW_TOKENS, BenchModel, load_hf_oracle, log


def hugging_face(model: BenchModel, threads: int, repeats: int, dtype: str = "float32") -> dict:
    """dtype: run on the weights of that zip (float16: every weight rounded to float16, computed in float32)."""
    import torch

    torch.set_num_threads(threads)
    hf = load_hf_oracle(model, dtype)
    ids = torch.tensor([model.prompt_ids])
    mask = torch.ones_like(ids)

    def forward():
        with torch.inference_mode():
            return hf(ids, attention_mask=mask).logits

    def generate():
        with torch.inference_mode():
            out = hf.generate(ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                              do_sample=False, pad_token_id=0)
        return out[0, ids.shape[1]:].tolist()

    forward_s = median_seconds(forward, repeats)
    rate, tokens = decode_rate(generate, max(1, repeats // 2))
    log(f"HF ({threads} thread{'s' * (threads > 1)}, {dtype} weights): prompt {forward_s * 1e3:.1f} ms, "
        f"decode {rate:.1f} tok/s")
    return {"threads": threads, "prompt_ms": forward_s * 1e3, "decode_tok_s": rate, "tokens": tokens}


def hugging_face_tokens(model: BenchModel, threads: int, dtype: str) -> dict:
    """One greedy generation, no warm-up (for the big shapes, where a run takes minutes); cached in the model's
    directory, since the weights never change."""
    import json

    import torch

    cached = model.directory / f"hf-tokens-{dtype}.json"
    if cached.exists():
        return json.loads(cached.read_text())

    torch.set_num_threads(threads)
    hf = load_hf_oracle(model, dtype)
    ids = torch.tensor([model.prompt_ids])
    with torch.inference_mode():
        out, seconds = timed(lambda: hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS,
                                                  min_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0))
    log(f"HF ({threads} threads, {dtype} weights): one generation {NEW_TOKENS / seconds:.2f} tok/s")
    result = {"threads": threads, "decode_tok_s": NEW_TOKENS / seconds, "tokens": out[0, ids.shape[1]:].tolist()}
    cached.write_text(json.dumps(result))
    return result


def gpt2cells_cpython(model: BenchModel, repeats: int) -> dict:
    """The engine itself in CPython (NumPy with whatever BLAS the wheel brings, all cores)."""
    import gpt2cells

    result = measure_gpt2cells(gpt2cells, model.zip_path, model.prompt_ids, NEW_TOKENS, repeats)
    log(f"gpt2cells CPython: load {result['load_s']:.2f} s, prompt {result['prompt_ms']:.1f} ms, "
        f"decode {result['decode_tok_s']:.1f} tok/s")
    return result


def onnxruntime_cpu(model: BenchModel, threads: int, repeats: int) -> dict:
    """The ONNX export in native onnxruntime: the ceiling the in-browser runtimes are measured against."""
    import onnxruntime

    from onnx_export import empty_past

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session, load_s = timed(lambda: onnxruntime.InferenceSession(str(model.onnx_path), options,
                                                                 providers=["CPUExecutionProvider"]))
    past0 = empty_past(model)
    prompt = np.array([model.prompt_ids], dtype=np.int64)

    def forward():
        return session.run(None, {"input_ids": prompt, "past": past0})

    def generate():
        logits, past = forward()
        tokens = [int(np.argmax(logits[0, -1]))]
        while len(tokens) < NEW_TOKENS:
            logits, past = session.run(None, {"input_ids": np.array([[tokens[-1]]], dtype=np.int64), "past": past})
            tokens.append(int(np.argmax(logits[0, -1])))
        return tokens

    forward_s = median_seconds(forward, repeats)
    rate, tokens = decode_rate(generate, max(1, repeats // 2))
    log(f"onnxruntime CPU ({threads} thread{'s' * (threads > 1)}): load {load_s:.2f} s, "
        f"prompt {forward_s * 1e3:.1f} ms, decode {rate:.1f} tok/s")
    return {"threads": threads, "load_s": load_s, "prompt_ms": forward_s * 1e3, "decode_tok_s": rate,
            "tokens": tokens}


def float16_accuracy(model: BenchModel, hf_tokens: list[int], hf16_tokens: list[int]) -> dict:
    """The float16 zip in gpt2cells (CPython) against Hugging Face in float32: on the same rounded weights (the
    exactness goal, relative to the largest logit) and on the float32 originals (what rounding the weights costs:
    max |Δlogit| over the prompt's positions, and how many of the 64 greedy tokens agree before the first
    difference)."""
    import torch

    import gpt2cells

    ours = gpt2cells.load(model.zip16_path)
    ids = model.prompt_ids
    logits = ours.logits(ids).astype(np.float64)  # [n_seq, vocab]
    tokens = ours.generate(ids, NEW_TOKENS)
    result = {"tokens": tokens}
    for dtype, reference_tokens in (("float16", hf16_tokens), ("float32", hf_tokens)):
        with torch.inference_mode():
            reference = load_hf_oracle(model, dtype)(torch.tensor([ids])).logits[0].double().numpy()  # [n_seq, vocab]
        delta = np.abs(logits - reference).max()
        agree = next((i for i, (a, b) in enumerate(zip(tokens, reference_tokens)) if a != b), len(tokens))
        result[dtype] = {"max_abs_dlogit": float(delta), "relative": float(delta / np.abs(reference).max()),
                         "greedy_agree": agree, "tokens_equal": tokens == reference_tokens}
    log(f"float16 zip vs HF: rounded weights {result['float16']}, float32 originals {result['float32']}")
    return result
