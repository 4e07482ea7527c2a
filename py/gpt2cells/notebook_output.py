"""What a cell's value looks like to the page: a JSON-able description.

A cell's output is the value of its last line when that line is an expression (as in Jupyter).

- A NumPy array (1-D or more) is a table: its last axis gives the columns, the one before it the
  rows (a 1-D array is one row), and any axes before those are picked with an `index` (a layer
  or a head). Only small arrays travel whole; the page fetches windows of big ones as the user
  scrolls, e.g. of a [10 × 50257] logits table.
- `Table(data, row_labels, col_labels, title)` is a table with labels, e.g. the top-k next
  tokens with their text, id and probability.
- Anything else (numbers, strings, dicts, lists, ...) is shown by its repr, plus its JSON form
  when it has one.

Descriptions are strict JSON (no NaN or Infinity): non-finite floats appear as the strings
"nan", "inf" and "-inf", and float32 values as their shortest decimal form ("0.1", not
"0.10000000149011612").
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np

INLINE_LIMIT = 4096  # arrays (and label lists) up to this many values are sent whole
REPR_LIMIT = 10_000  # characters of repr kept for other values


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


def as_table(value, token_labels: Sequence[str] | None = None) -> Table | None:
    """The table view of a cell's value, or None when it is not a table.

    token_labels (the prompt's tokens) label any rows or columns of an array that number exactly
    as many: the T rows of a [T, 768] activation, both axes of a [T, T] attention pattern.
    """
    if isinstance(value, Table):
        return value
    if not isinstance(value, np.ndarray) or value.ndim == 0:
        return None
    n_rows = value.shape[-2] if value.ndim >= 2 else 1
    n_cols = value.shape[-1]
    labels = list(token_labels) if token_labels is not None else None
    return Table(
        value,
        row_labels=labels if labels is not None and len(labels) == n_rows else None,
        col_labels=labels if labels is not None and len(labels) == n_cols else None,
    )


def describe(value, token_labels: Sequence[str] | None = None) -> dict | None:
    """The JSON-able description of a cell's value (None when there is no value).

    Tables and arrays:
      {"kind": "array" | "table", "shape": [...], "dtype": "float32",
       "rows": R, "cols": C, "leading_shape": [...],      # the 2-D view and the axes before it
       "min": x | null, "max": x | null,                   # over finite numbers, for heatmap colours
       "title": str | null, "row_labels": [...] | null, "col_labels": [...] | null,
       "data": nested lists | null}                        # null when bigger than INLINE_LIMIT
    Anything else:
      {"kind": "value", "type": "dict", "repr": "{'a': 1}", "json": {"a": 1}}   # "json" only if JSON-able
    """
    if value is None:
        return None
    table = as_table(value, token_labels)
    if table is None:
        return _describe_value(value)
    data = table.data
    shape = list(value.shape) if isinstance(value, np.ndarray) else list(data.shape)
    low, high = _finite_range(data)
    return {
        "kind": "table" if isinstance(value, Table) else "array",
        "shape": shape,
        "dtype": str(data.dtype),
        "rows": data.shape[-2],
        "cols": data.shape[-1],
        "leading_shape": list(data.shape[:-2]),
        "min": low,
        "max": high,
        "title": table.title,
        "row_labels": _inline_labels(table.row_labels),
        "col_labels": _inline_labels(table.col_labels),
        "data": _json_values(np.reshape(data, shape)) if data.size <= INLINE_LIMIT else None,
    }


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


def _inline_labels(labels):
    return labels if labels is not None and len(labels) <= INLINE_LIMIT else None


def _finite_range(data: np.ndarray) -> tuple:
    if data.dtype.kind not in "biuf" or data.size == 0:
        return None, None
    if data.dtype.kind == "b":
        data = data.astype(np.int8)
    if data.dtype.kind == "f":
        data = data[np.isfinite(data)]
        if data.size == 0:
            return None, None
    return _json_scalar(data.min()), _json_scalar(data.max())


def _json_values(array: np.ndarray):
    """Nested lists of JSON values; floats keep their shortest exact decimal form."""
    if array.dtype.kind == "f":
        texts = array.astype(str)  # NumPy's shortest round-trip text for the dtype: '0.1', 'inf', 'nan'
        return _nested(texts, _float_from_text)
    if array.dtype.kind in "biu":
        return array.tolist()
    if array.dtype.kind == "U":
        return array.tolist()
    return _nested(array, _json_scalar)


def _nested(array: np.ndarray, convert):
    if array.ndim == 0:
        return convert(array[()])
    return [_nested(item, convert) if array.ndim > 1 else convert(item) for item in array]


def _float_from_text(text: str):
    value = float(text)
    return value if math.isfinite(value) else str(text)


def _json_scalar(value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        if isinstance(value, np.floating):
            return _float_from_text(str(value))
        value = value.item()
    if isinstance(value, (int, bool)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return repr(value)


def _describe_value(value) -> dict:
    plain = value[()] if isinstance(value, np.ndarray) else value  # a 0-d array is its scalar
    description = {"kind": "value", "type": type(value).__name__, "repr": _short_repr(value)}
    try:
        text = json.dumps(plain, allow_nan=False, default=_numpy_scalar)
    except (TypeError, ValueError, RecursionError):
        return description
    if len(text) <= INLINE_LIMIT * 8:
        description["json"] = json.loads(text)
    return description


def _numpy_scalar(value):
    if isinstance(value, np.generic) and not isinstance(value, np.floating) or (
        isinstance(value, np.floating) and np.isfinite(value)
    ):
        return _json_scalar(value)
    raise TypeError(f"{type(value).__name__} has no JSON form")


def _short_repr(value) -> str:
    try:
        text = repr(value)
    except Exception as error:  # a broken __repr__ in a learner's class must not break the page
        return f"<{type(value).__name__}: repr failed: {error!r}>"
    return text if len(text) <= REPR_LIMIT else text[:REPR_LIMIT] + f"… ({len(text)} characters)"
