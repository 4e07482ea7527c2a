"""The in-browser peer's model: the bench's Hugging Face GPT-2 exported to ONNX with an explicit KV cache.

The graph is what transformers.js runs for GPT-2 (optimum's `decoder_model_merged`): token ids plus the past
keys/values in, logits for every position plus the grown cache out. The cache travels as ONE tensor
`past` [n_layer, 2, 1, n_head, past_len, head_dim] so the browser loop only hands one tensor back; an empty
cache (past_len 0) makes the first call the prefill. The head reuses the `wte` weight (GPT-2 ties them), so
the file holds one copy of the embedding and is ~500 MB for GPT-2 small.

The blocks' layers are Hugging Face's own modules (ln_1, c_attn, c_proj, mlp, ln_f, lm_head); only the
attention core is spelled out here, because the cache has to be an explicit graph input.
"""
from __future__ import annotations

import math

import numpy as np

from models import BenchModel, is_done, log, mark_done


def empty_past(model: BenchModel) -> np.ndarray:
    shape = model.shape
    return np.zeros((shape.n_layer, 2, 1, shape.n_head, 0, shape.n_embd // shape.n_head), dtype=np.float32)


def kv_cache_module(hf):
    import torch

    config = hf.config
    n_head, n_embd = config.n_head, config.n_embd
    head_dim = n_embd // n_head

    class KVCacheGPT2(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hf = hf

        def attention(self, attn, x, past_kv):
            batch, n_new, _ = x.shape
            q, k, v = attn.c_attn(x).split(n_embd, dim=2)  # [1, T, C] each
            q, k, v = (t.view(batch, n_new, n_head, head_dim).transpose(1, 2) for t in (q, k, v))  # [1, H, T, D]
            k = torch.cat([past_kv[0], k], dim=2)  # [1, H, P+T, D]
            v = torch.cat([past_kv[1], v], dim=2)  # [1, H, P+T, D]
            n_past = past_kv.shape[3]
            key_pos = torch.arange(n_past + n_new, device=x.device)  # [P+T]
            query_pos = torch.arange(n_new, device=x.device) + n_past  # [T]
            allowed = key_pos[None, :] <= query_pos[:, None]  # [T, P+T]
            scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim)  # [1, H, T, P+T]
            scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
            out = torch.softmax(scores, dim=-1) @ v  # [1, H, T, D]
            out = out.transpose(1, 2).reshape(batch, n_new, n_embd)  # [1, T, C]
            return attn.c_proj(out), torch.stack([k, v])  # [1, T, C], [2, 1, H, P+T, D]

        def forward(self, input_ids, past):
            transformer = self.hf.transformer
            n_past = past.shape[4]
            positions = torch.arange(input_ids.shape[1], device=input_ids.device) + n_past  # [T]
            x = transformer.wte(input_ids) + transformer.wpe(positions)[None]  # [1, T, C]
            presents = []
            for layer, block in enumerate(transformer.h):
                attn_out, present = self.attention(block.attn, block.ln_1(x), past[layer])
                x = x + attn_out  # [1, T, C]
                x = x + block.mlp(block.ln_2(x))  # [1, T, C]
                presents.append(present)
            logits = self.hf.lm_head(transformer.ln_f(x))  # [1, T, vocab]
            return logits, torch.stack(presents)  # [1, T, vocab], [L, 2, 1, H, P+T, D]

    return KVCacheGPT2().eval()


def export(model: BenchModel) -> dict:
    """Write model.onnx_path once (cached); check the export's greedy tokens against Hugging Face's."""
    if is_done(model.onnx_path):
        return {"onnx_bytes": model.onnx_path.stat().st_size, "cached": True}
    import torch
    from transformers import GPT2LMHeadModel

    log(f"exporting {model.shape.name} to ONNX with a KV cache (once)")
    hf = GPT2LMHeadModel.from_pretrained(model.hf_dir).eval()
    assert hf.lm_head.weight.data_ptr() == hf.transformer.wte.weight.data_ptr(), "head must be tied to wte"
    module = kv_cache_module(hf)
    shape = model.shape
    example_ids = torch.tensor([model.prompt_ids[:3]])
    example_past = torch.zeros(shape.n_layer, 2, 1, shape.n_head, 5, shape.n_embd // shape.n_head)
    seq, past_len = torch.export.Dim("seq", max=shape.n_ctx), torch.export.Dim("past_len", max=shape.n_ctx)
    partial = model.onnx_path.with_suffix(".partial.onnx")
    with torch.no_grad():
        program = torch.onnx.export(
            module, (example_ids, example_past), dynamo=True, external_data=False,
            input_names=["input_ids", "past"], output_names=["logits", "present"],
            dynamic_shapes={"input_ids": {1: seq}, "past": {4: past_len}}, optimize=True,
        )
    program.save(str(partial), external_data=False)
    partial.replace(model.onnx_path)
    mark_done(model.onnx_path)
    return {"onnx_bytes": model.onnx_path.stat().st_size, "cached": False}


def quantize_q8(model: BenchModel) -> dict:
    """The int8 variant of the export (cached): what transformers.js loads on wasm by default (its "q8" dtype).
    Made as transformers.js's conversion script makes it: onnxruntime's dynamic quantization (weights int8,
    per channel, reduced range; activations quantized at run time)."""
    if is_done(model.q8_onnx_path):
        return {"onnx_bytes": model.q8_onnx_path.stat().st_size, "cached": True}
    from onnxruntime.quantization import QuantType, quantize_dynamic

    log(f"quantizing {model.onnx_path.name} to int8 (once)")
    partial = model.q8_onnx_path.with_suffix(".partial.onnx")
    quantize_dynamic(str(model.onnx_path), str(partial), weight_type=QuantType.QInt8, per_channel=True,
                     reduce_range=True)
    partial.replace(model.q8_onnx_path)
    mark_done(model.q8_onnx_path)
    return {"onnx_bytes": model.q8_onnx_path.stat().st_size, "cached": False}
