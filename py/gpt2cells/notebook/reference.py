"""The unedited model's values for the current prompt, and what an edit changed (issue #16).

`Reference(model, ids)` runs the engine's own steps (`steps.block`, the functions `Model.run` goes through)
once per prompt and model. It keeps only the residual stream entering each layer ([n_layer + 1] × [T, n_embd]),
never every layer's trace: at 1024 tokens each layer's [n_head × T × T] arrays would not fit in the page's
memory. A layer's other values are computed again from its resid_pre when a cell is compared or shown
(one layer at a time), so a run-all costs one extra pass through the blocks, not one per edit.

`compare(value, reference)` says how a cell's value differs from the engine's: equal within RELATIVE, the
largest |Δ| and its size relative to the reference's largest value, NaN/inf the edit brought in, or a
changed shape.
"""
from __future__ import annotations

import numpy as np

from .. import steps

RELATIVE = 1e-5  # a value equals the engine's when max |Δ| ≤ RELATIVE × max |reference|
BLOCK_PREFIX = "blocks.{i}."


def trace_names(trace: str | None) -> list[str]:
    """A cell's `trace` field ("blocks.{i}.attn.q, blocks.{i}.attn.k, ...") as a list of names."""
    return [name.strip() for name in (trace or "").split(",") if name.strip()]


class Reference:
    def __init__(self, model, ids, layer_names=()):
        """layer_names: the block's trace names ("attn.pattern", ...) kept when a layer is computed, so the
        cells of one layer are compared with one computation of it."""
        self.model = model
        self.layer_names = set(layer_names) | {"resid_post"}
        self.ids = np.asarray(model.check_ids(list(ids)))  # [T]
        config, params = model.config, model.params
        tokens = steps.embed(params["wte.weight"], self.ids)  # [T, n_embd]
        self.resid = [tokens + steps.pos_embed(params["wpe.weight"], 0, len(self.ids))]  # resid_pre of layer 0
        self.n_layer = config.n_layer
        self.shown: tuple[int, dict] | None = None  # (layer, its recorded trace): the one layer kept whole

    def matches(self, model, ids) -> bool:
        return model is self.model and ids is not None and np.array_equal(np.asarray(ids), self.ids)

    def layer(self, index: int, names) -> dict:
        """The trace names of block `index` ("attn.pattern", ...) the caller asks for, computed from the block's
        resid_pre; blocks before it are computed first, once, keeping only their output."""
        wanted = set(names) | self.layer_names
        if self.shown is not None and self.shown[0] == index and wanted <= set(self.shown[1]):
            return self.shown[1]
        config, params = self.model.config, self.model.params
        while len(self.resid) <= index:
            self.layer(len(self.resid) - 1, ())
        recorded: dict = {}

        def record(name, value):
            if name in wanted:
                recorded[name] = value
            return value

        steps.block(self.resid[index], steps.block_params(params, index), config.n_head, config.layer_norm_epsilon,
                    layer=index, record=record)
        if len(self.resid) == index + 1:
            self.resid.append(recorded["resid_post"])  # [T, n_embd]
        self.shown = (index, recorded)
        return recorded

    def forget_layer(self) -> None:
        """Let the layer kept whole go (its [n_head × T × T] arrays); it is computed again when asked for."""
        self.shown = None

    def values(self, names: list[str], layer: int = 0) -> list[np.ndarray]:
        """The engine's arrays for trace names ({i} = layer), in the order asked."""
        block = [n[len(BLOCK_PREFIX):] for n in names if n.startswith(BLOCK_PREFIX)]
        recorded = self.layer(layer, block) if block else {}
        return [recorded[n[len(BLOCK_PREFIX):]] if n.startswith(BLOCK_PREFIX) else self.outside_blocks(n) for n in names]

    def outside_blocks(self, name: str) -> np.ndarray:
        params, eps = self.model.params, self.model.config.layer_norm_epsilon
        if name == "embed":
            return steps.embed(params["wte.weight"], self.ids)  # [T, n_embd]
        if name == "pos_embed":
            return steps.pos_embed(params["wpe.weight"], 0, len(self.ids))  # [T, n_embd]
        if name == "blocks.0.resid_pre":
            return self.resid[0]
        if name in ("ln_final.out", "logits"):
            if len(self.resid) <= self.n_layer:
                self.layer(self.n_layer - 1, ())
            final = steps.scale_shift(steps.normalize(self.resid[self.n_layer], eps), params["ln_f.weight"], params["ln_f.bias"])
            return final if name == "ln_final.out" else steps.unembed(final, params["wte.weight"])  # [T, n_vocab]
        raise KeyError(f"no reference for trace name {name!r}")

    def last_probs(self) -> np.ndarray:
        """The unedited model's next-token probabilities after the prompt: [n_vocab]."""
        params, eps = self.model.params, self.model.config.layer_norm_epsilon
        if len(self.resid) <= self.n_layer:
            self.layer(self.n_layer - 1, ())
        last = steps.scale_shift(steps.normalize(self.resid[self.n_layer][-1:], eps), params["ln_f.weight"], params["ln_f.bias"])
        return steps.softmax(steps.unembed(last, params["wte.weight"])[0])  # [n_vocab]


def match_tabs(arrays: dict, references: list) -> dict | None:
    """The reference array for each of a cell's arrays ({tab: array}): one trace name per tab, or one trace
    split along its last axis into the tabs (the qkv cell shows [T, 3·n_embd] as q, k, v). None: no match."""
    names = list(arrays)
    if len(references) == len(names):
        return dict(zip(names, references))
    if len(references) == 1 and len(names) > 1:
        widths = [np.shape(arrays[n])[-1] for n in names]
        reference = references[0]
        if sum(widths) == reference.shape[-1]:
            parts = np.split(reference, np.cumsum(widths)[:-1], axis=-1)
            return dict(zip(names, parts))
    return None


def compare(value: np.ndarray, reference: np.ndarray) -> dict:
    """How value differs from the engine's reference: {"shape": [ref shape, value shape]} when the shapes
    differ; else {"max_abs", "relative", "equal", "nan", "inf"} where nan/inf count the non-finite values the
    reference has not at those places (both −inf, as masked scores are, is no difference)."""
    value = np.asarray(value)
    if value.shape != reference.shape:
        return {"shape": [list(reference.shape), list(value.shape)]}
    value32 = value.astype(np.float32, copy=False)
    same_place = (value32 == reference) | (np.isnan(value32) & np.isnan(reference))  # incl. equal infinities
    brought = ~same_place & ~np.isfinite(value32)  # [...]: non-finite where the reference is not the same
    n_nan = int(np.count_nonzero(brought & np.isnan(value32)))
    n_inf = int(np.count_nonzero(brought)) - n_nan
    with np.errstate(invalid="ignore", over="ignore"):
        delta = np.where(same_place, np.float32(0), np.abs(value32 - reference))  # [...]
    finite_delta = delta[np.isfinite(delta)]
    max_abs = float(finite_delta.max()) if finite_delta.size else 0.0
    finite_reference = np.abs(reference[np.isfinite(reference)])
    scale = float(finite_reference.max()) if finite_reference.size else 0.0
    relative = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else None)  # None: the reference is all 0
    equal = relative is not None and relative <= RELATIVE and n_nan == 0 and n_inf == 0 and not np.any(~same_place & ~np.isfinite(reference))
    return {"max_abs": max_abs, "relative": relative, "equal": bool(equal), "nan": n_nan, "inf": n_inf}


def combine(results: list[dict]) -> dict:
    """One mark for a cell's tabs: the worst of them (a changed shape wins)."""
    for result in results:
        if "shape" in result:
            return result
    return {"max_abs": max(r["max_abs"] for r in results),
            "relative": None if any(r["relative"] is None for r in results) else max(r["relative"] for r in results),
            "equal": all(r["equal"] for r in results),
            "nan": sum(r["nan"] for r in results),
            "inf": sum(r["inf"] for r in results)}


def difference(value: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """value − reference, 0 where both hold the same non-finite value (−inf masked scores)."""
    value32 = np.asarray(value, dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(value32 == reference, np.float32(0), value32 - reference).astype(np.float32)  # [...]


def prediction_change(before: np.ndarray, after: np.ndarray, decode, k: int = 5) -> dict:
    """The prediction before → after an edit: the top-k tokens after, with both probabilities, and the old
    top token with its new rank (1 = still first)."""
    old_top = int(np.argmax(before))
    order_after = np.argsort(-after, kind="stable")  # [n_vocab] most likely first
    rank = int(np.flatnonzero(order_after == old_top)[0]) + 1

    def entry(token_id):
        return {"id": int(token_id), "text": decode([int(token_id)]),
                "before": float(before[token_id]), "after": float(after[token_id])}

    return {"top": [entry(i) for i in order_after[:k]], "old_top": {**entry(old_top), "rank_after": rank},
            "changed": not compare(after, before)["equal"]}
