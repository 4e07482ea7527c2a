"""Pictures an analysis cell can return: `Heatmap` (a labelled layers × heads or layers × positions table
coloured by value) and `HeadPatterns` (every layer × head attention pattern side by side, small multiples).

Both may point at attention heads: clicking a head in the page shows that layer and head in the block cells.
outputs.py turns them into the "heatmap" and "head_patterns" outputs.
"""
from __future__ import annotations

import numpy as np

HEATMAP_LIMIT = 65_536  # values sent whole to the page (GPT-2 small's logit lens at 1024 tokens: 13 × 1024)
PATTERN_SIZE = 32  # a small multiple shows at most this many query × key cells (longer prompts are averaged)


class Heatmap:
    """A small 2-D table of numbers shown as coloured cells, e.g. what patching recovers per layer and position:

        Heatmap(recovered, row_labels=["0_pre", "1_pre"], col_labels=tokens, title="patched resid_pre")

    text: optional strings, one per cell, written in the cells instead of the numbers (the logit lens's top
    tokens, coloured by their probability). heads: the first `heads` columns are the attention heads of the
    row's layer (rows = layers): clicking one shows that layer and head in the attention cells. lo, hi: a fixed
    colour range (e.g. 0 and 1 for probabilities); by default values of both signs colour around 0.
    """

    def __init__(self, data, row_labels=None, col_labels=None, title=None, text=None, heads=0, lo=None, hi=None):
        self.data = np.asarray(data, dtype=np.float64)  # [rows, cols]
        if self.data.ndim == 1:
            self.data = self.data[np.newaxis, :]
        if self.data.ndim != 2 or self.data.size > HEATMAP_LIMIT:
            raise ValueError(f"Heatmap data must be 1-D or 2-D with at most {HEATMAP_LIMIT} values, "
                             f"got shape {list(self.data.shape)}")
        n_rows, n_cols = self.data.shape
        self.row_labels = labels(row_labels, n_rows, "row_labels")
        self.col_labels = labels(col_labels, n_cols, "col_labels")
        self.text = None
        if text is not None:
            self.text = [[str(t) for t in row] for row in text]
            if [len(row) for row in self.text] != [n_cols] * n_rows:
                raise ValueError(f"Heatmap text must have the data's shape [{n_rows}, {n_cols}]")
        if not isinstance(heads, (int, np.integer)) or not 0 <= heads <= n_cols:
            raise ValueError(f"Heatmap heads must be a number of columns in [0, {n_cols}], got {heads!r}")
        self.heads = int(heads)
        self.title = None if title is None else str(title)
        self.lo, self.hi = lo, hi

    def __repr__(self) -> str:
        title = f" {self.title!r}" if self.title else ""
        return f"<Heatmap{title} {' × '.join(map(str, self.data.shape))}>"


class HeadPatterns:
    """Every head's attention pattern, [n_layer, n_head, n_seq, n_seq] (query row, key column), as small multiples.

    Prompts longer than PATTERN_SIZE tokens are shown averaged over blocks of tokens (each query block's mean
    attention to each key block, `thumbnail`); clicking a pattern shows that layer and head in full in the
    attention cells. Patterns already made thumbnails (attention_patterns(..., reduce=thumbnail), which never
    holds every layer's full pattern) pass n_seq, the prompt's length.
    """

    def __init__(self, patterns, title=None, n_seq=None):
        patterns = np.asarray(patterns, dtype=np.float32)  # [n_layer, n_head, n_seq, n_seq]
        if patterns.ndim != 4 or patterns.shape[2] != patterns.shape[3] or patterns.shape[2] == 0:
            raise ValueError(f"HeadPatterns takes attention patterns [n_layer, n_head, n_seq, n_seq], "
                             f"got shape {list(patterns.shape)}")
        self.n_layer, self.n_head = patterns.shape[:2]
        self.n_seq = patterns.shape[2] if n_seq is None else int(n_seq)
        self.small = thumbnail(patterns)  # [n_layer, n_head, size, size]
        self.title = None if title is None else str(title)

    def __repr__(self) -> str:
        return f"<HeadPatterns {self.n_layer} layers × {self.n_head} heads, {self.n_seq} tokens>"


def thumbnail(patterns):
    """[..., n, n] → [..., size, size] with size = min(n, PATTERN_SIZE): block means (a short prompt as it is)."""
    return block_means(patterns, min(patterns.shape[-1], PATTERN_SIZE))


def block_means(patterns, size):
    """[..., n, n] → [..., size, size]: the mean of each block of rows × columns (blocks as even as they can be)."""
    n = patterns.shape[-1]
    starts = np.linspace(0, n, size + 1).astype(int)[:-1]  # [size]: first row/column of each block
    counts = np.diff(np.append(starts, n))  # [size]
    sums = np.add.reduceat(np.add.reduceat(patterns, starts, axis=-1), starts, axis=-2)  # [..., size, size]
    return sums / counts[:, None] / counts[None, :]  # [..., size, size]


def labels(values, expected, what):
    if values is None:
        return None
    values = [str(v) for v in values]
    if len(values) != expected:
        raise ValueError(f"Heatmap {what}: expected {expected} labels, got {len(values)}")
    return values
