"""`Table`: a labelled table a cell can return (the top-k next tokens, the BPE merges, ...).

Learners' saved cells import it as `gpt2cells.notebook_output.Table`, which re-exports this class.
"""
from __future__ import annotations

import numpy as np


class Table:
    """A labelled table a cell can return, e.g. the most likely next tokens:

        Table([[" Paris", 6342, 0.71], [" London", 3576, 0.08]],
              col_labels=["token", "id", "probability"], title="next token")

    data: a list of rows (a flat list is one row) of numbers and strings, or a NumPy array
    (1-D is one row; with more than 2 axes the last two are the rows and columns).
    row_labels / col_labels: one string per row / column, or None for the indices.
    """

    def __init__(self, data, row_labels=None, col_labels=None, title=None):
        self.data = _table_array(data)  # [..., rows, cols]
        n_rows, n_cols = self.data.shape[-2:]
        self.row_labels = _labels(row_labels, n_rows, "row_labels")
        self.col_labels = _labels(col_labels, n_cols, "col_labels")
        self.title = None if title is None else str(title)

    def __repr__(self) -> str:
        title = f" {self.title!r}" if self.title else ""
        return f"<Table{title} {' × '.join(map(str, self.data.shape))}>"


def _table_array(data) -> np.ndarray:
    if isinstance(data, np.ndarray):
        array = data
    else:
        rows = list(data)
        if any(_is_row(r) for r in rows):
            rows = [list(r) if _is_row(r) else [r] for r in rows]
        else:
            rows = [rows]
        width = len(rows[0]) if rows else 0
        for i, row in enumerate(rows):
            if len(row) != width:
                raise ValueError(f"Table rows must all have the same length: row 0 has {width} values, row {i} has {len(row)}")
        values = [v for row in rows for v in row]
        if all(_is_real(v) for v in values):
            array = np.array(rows) if values else np.zeros((len(rows), width))
        else:
            array = np.empty((len(rows), width), dtype=object)
            for i, row in enumerate(rows):
                array[i, :] = row
    if array.ndim == 0:
        return array.reshape(1, 1)
    if array.ndim == 1:
        return array[np.newaxis, :]
    return array


def _is_row(value) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _labels(labels, expected: int, what: str) -> list[str] | None:
    if labels is None:
        return None
    labels = [str(label) for label in labels]
    if len(labels) != expected:
        raise ValueError(f"Table {what}: expected {expected} labels (one per {what[:3]}), got {len(labels)}")
    return labels
