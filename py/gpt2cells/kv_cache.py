"""Keys and values made once and read again: KVCache makes generation one new row per step instead of
re-running the prompt; KnownKeys lets a window of positions attend as the pass over all of them does."""
from __future__ import annotations

import numpy as np

from .errors import PromptTooLongError


class KVCache:
    """Keys and values of every position seen so far, preallocated for `capacity` positions.

    keys, values: [n_layer, n_head, capacity, d_head]; positions [0, length) are filled.
    """

    def __init__(self, config, capacity: int):
        if capacity > config.n_ctx:
            raise PromptTooLongError(f"a KV cache of {capacity} positions exceeds n_ctx = {config.n_ctx}")
        shape = (config.n_layer, config.n_head, capacity, config.d_head)
        self.keys = np.zeros(shape, dtype=np.float32)  # [n_layer, n_head, capacity, d_head]
        self.values = np.zeros(shape, dtype=np.float32)  # [n_layer, n_head, capacity, d_head]
        self.length = 0

    @property
    def capacity(self) -> int:
        return self.keys.shape[2]

    def extend(self, layer: int, k, v):
        """Store the new positions' k, v [n_head, n_seq, d_head]; return all so far [n_head, length + n_seq, d_head]."""
        end = self.length + k.shape[1]
        if end > self.capacity:
            raise PromptTooLongError(f"{end} positions do not fit a KV cache of capacity {self.capacity}")
        self.keys[layer, :, self.length:end] = k
        self.values[layer, :, self.length:end] = v
        return self.keys[layer, :, :end], self.values[layer, :, :end]

    def advance(self, n_seq: int) -> None:
        """Every layer has stored the n_seq new positions: they become part of the past."""
        self.length += n_seq


class KnownKeys:
    """Every position's keys and values in one block, made already (steps.keys_values). steps.block run on
    positions [first, first + n) of the block's input with this as its cache attends over all of them, as the
    pass over the whole input does, without the other positions' queries, scores or MLP: a window of a layer's
    values at a small part of the layer's cost (the notebook's grids at 1024 tokens)."""

    def __init__(self, first: int, keys, values):
        self.first = first  # the window's first position
        self.keys, self.values = keys, values  # [n_head, n_seq, d_head] each

    def extend(self, layer: int, k, v):
        """The window's own k, v are these keys' rows [first, first + n) already: every position's."""
        return self.keys, self.values
