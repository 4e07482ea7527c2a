"""What a cell's value looks like to the page: the one output schema site/notebook.js renders.

A cell's output is the value of its last line when that line is an expression (as in Jupyter). The page gets

- {"kind": "array", "shape", "rows", "cols", "layered", "heads", "row_labels", "col_labels", "col_kind",
   "scales", "focus"} for a numeric array: a grid whose cells the page fetches as float32 windows
   (`Outputs.slice`) as the user scrolls, e.g. of a [10 × 50257] logits table. A block cell's per-layer
   values are stacked ("layered"); axes before the last two are flattened into one selector ("heads").
- {"kind": "tabs", "items": [{"name", "output"}]} for a tuple or dict of arrays (`q, k, v`).
- {"kind": "layers", "items": [output per layer]} for a block cell whose layers differ in shape.
- {"kind": "table", "title", "columns", "rows"} for a small `Table` or a dict with string keys; floats keep
  their shortest exact decimal form ("0.1", not "0.10000000149011612"), non-finite ones are "nan", "inf".
- {"kind": "text", "text"} for a string, or the (shortened) repr of anything else.
"""
from __future__ import annotations

import ast
import math

import numpy as np

from .table import Table

INLINE_LIMIT = 4096  # a Table of up to this many values travels whole; a bigger one is a grid
REPR_LIMIT = 10_000  # characters of repr kept for other values
MAX_TABS = 8  # a tuple of up to this many arrays shows as tabs (q, k, v)
SATURATE_RMS = 3.0  # the heatmap's colour saturates this many root-mean-squares away from 0


class Outputs:
    """The descriptions of the cells' values, and the 4-D views behind their grids that the page slices."""

    def __init__(self, vocab_size: int | None):
        self.vocab_size = vocab_size
        self.views: dict[tuple[str, str], np.ndarray] = {}  # (cell id, tab path) -> [passes, selector, rows, cols]

    def forget(self, cell_id: str) -> None:
        for key in [key for key in self.views if key[0] == cell_id]:
            del self.views[key]

    def slice(self, cell_id, path, layer, head, r0, r1, c0, c1) -> bytes:
        """A window of a grid as little-endian float32 bytes."""
        view = self.views.get((cell_id, path or ""))
        if view is None:
            raise KeyError(f"cell {cell_id!r} has no table {path!r} (run it first)")
        p = min(int(layer), view.shape[0] - 1)
        s = min(int(head), view.shape[1] - 1)
        window = view[p, s, int(r0):int(r1), int(c0):int(c1)]  # [rows, cols]
        return np.ascontiguousarray(window, dtype="<f4").tobytes()

    def describe(self, cell_id: str, values: list, source: str, labels, grouped: bool) -> dict | None:
        """A cell's output from its values (one per pass: n_layer of them for a block cell)."""
        if not values or all(v is None for v in values):
            return None
        names = last_expression_names(source)
        parts = [split_arrays(v, names) for v in values]
        if not grouped:
            return self.describe_single(cell_id, values[0], parts[0], labels, "")
        first = parts[0]
        same = all(p is not None and first is not None and list(p) == list(first) and
                   all(p[k].shape == first[k].shape for k in p) for p in parts)
        if same:
            stacked = {key: np.stack([p[key] for p in parts]) for key in first}  # [n_layer, ...]
            return self.describe_arrays(cell_id, stacked, labels, layered=True)
        return {"kind": "layers", "items": [self.describe_single(cell_id, v, p, labels, f"{i}")
                                            for i, (v, p) in enumerate(zip(values, parts))]}

    def describe_single(self, cell_id, value, arrays, labels, path_prefix):
        if arrays is not None:
            return self.describe_arrays(cell_id, arrays, labels, layered=False, path_prefix=path_prefix)
        if value is None:
            return None
        if isinstance(value, Table):
            return self.describe_table(cell_id, value, path_prefix)
        if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
            return {"kind": "table", "columns": ["name", "value"], "rows": [[k, short_text(v)] for k, v in value.items()]}
        if isinstance(value, str):
            return {"kind": "text", "text": value}
        return {"kind": "text", "text": short_repr(value)}

    def describe_table(self, cell_id, table: Table, path_prefix):
        data = table.data  # [..., rows, cols]
        if data.size > INLINE_LIMIT or data.ndim != 2:  # big or stacked: a grid
            if data.dtype.kind in "biuf":
                return self.describe_arrays(cell_id, {"": data}, table.row_labels, layered=False,
                                            path_prefix=path_prefix, col_labels=table.col_labels)
            return {"kind": "text", "text": repr(table)}
        columns = list(table.col_labels or range(data.shape[1]))
        rows = json_values(data)
        if table.row_labels is not None:
            columns = [""] + columns
            rows = [[label] + list(row) for label, row in zip(table.row_labels, rows)]
        return {"kind": "table", "title": table.title, "columns": [str(c) for c in columns], "rows": rows}

    def describe_arrays(self, cell_id, arrays: dict, labels, layered: bool, path_prefix="", col_labels=None):
        items = []
        for name, array in arrays.items():
            path = "/".join(part for part in (path_prefix, name) if part)  # what the page asks slice for
            items.append({"name": name, "output": self.describe_array(cell_id, path, array, labels, layered, col_labels)})
        if len(items) == 1 and items[0]["name"] in ("", "0"):
            return items[0]["output"]
        return {"kind": "tabs", "items": items}

    def describe_array(self, cell_id, path, array, labels, layered, col_labels=None) -> dict:
        view = grid_view(array, layered)  # [passes, selector, rows, cols]
        self.views[(cell_id, path)] = view
        value_shape = list(np.shape(array)[1:] if layered else np.shape(array))
        n_rows, n_cols = view.shape[-2:]
        row_labels = labels if labels is not None and len(labels) == n_rows and len(value_shape) > 1 else None
        if col_labels is None and labels is not None and len(labels) == n_cols and n_rows == n_cols:
            col_labels = labels
        vocab = n_cols == self.vocab_size
        focus = [int(n_rows - 1), int(np.argmax(view[0, 0, -1]))] if vocab and view.dtype.kind in "biuf" else None
        return {
            "kind": "array",
            "shape": value_shape,
            "rows": int(n_rows),
            "cols": int(n_cols),
            "layered": layered,
            "heads": int(view.shape[1]) if len(value_shape) > 2 else 0,
            "row_labels": row_labels,
            "col_labels": list(col_labels) if col_labels is not None and len(col_labels) <= INLINE_LIMIT else None,
            "col_kind": "vocab" if vocab else None,
            "scales": [heat_scale(view[p]) for p in range(view.shape[0])],  # one per layer: heads compare
            "focus": focus,
        }


def grid_view(array, layered: bool) -> np.ndarray:
    """An array as [passes, selector, rows, cols]: a vector is one row, leading axes flatten into the selector."""
    view = np.asarray(array)
    if view.dtype.kind == "b":
        view = view.astype(np.float32)
    if view.ndim - (1 if layered else 0) == 1:
        view = view[..., np.newaxis, :]  # a vector is one row
    if not layered:
        view = view[np.newaxis]
    return view.reshape(view.shape[0], -1, *view.shape[-2:])


def last_expression_names(source: str) -> list[str] | None:
    """`q, k, v` as a cell's last line names its tabs q, k and v."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return None
    value = tree.body[-1].value
    if isinstance(value, (ast.Tuple, ast.List)):
        return [element.id if isinstance(element, ast.Name) else str(i) for i, element in enumerate(value.elts)]
    return None


def split_arrays(value, names=None) -> dict | None:
    """A cell value as named numeric arrays (one array; a tuple or dict of them), else None."""
    def numeric(a):
        return isinstance(a, np.ndarray) and a.ndim >= 1 and a.dtype.kind in "biuf" and a.size > 0
    if numeric(value):
        return {"": value}
    if isinstance(value, (tuple, list)) and 1 < len(value) <= MAX_TABS and all(numeric(a) for a in value):
        names = names if names and len(names) == len(value) and len(set(names)) == len(names) else [str(i) for i in range(len(value))]
        return dict(zip(names, value))
    if isinstance(value, dict) and 0 < len(value) <= MAX_TABS and all(isinstance(k, str) and numeric(a) for k, a in value.items()):
        return dict(value)
    return None


def heat_scale(view: np.ndarray) -> dict:
    """How the page colours a 2-D view: around 0 when it has both signs, else from its min to its max."""
    finite = view[np.isfinite(view)] if view.dtype.kind == "f" else view.ravel()
    if finite.size == 0:
        return {"kind": "range", "lo": 0.0, "hi": 1.0}
    lo, hi = float(finite.min()), float(finite.max())
    if lo < 0 < hi:
        # saturate at SATURATE_RMS root-mean-squares, so a few outliers do not wash out the rest
        rms = float(np.sqrt(np.mean(np.square(finite, dtype=np.float64))))
        span = min(max(-lo, hi), SATURATE_RMS * rms)
        return {"kind": "diverging", "span": span or max(-lo, hi)}
    return {"kind": "range", "lo": lo, "hi": hi if hi > lo else lo + 1.0}


def short_text(value) -> object:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"


def short_repr(value) -> str:
    try:
        text = repr(value)
    except Exception as error:  # a broken __repr__ in a learner's class must not break the page
        return f"<{type(value).__name__}: repr failed: {error!r}>"
    return text if len(text) <= REPR_LIMIT else text[:REPR_LIMIT] + f"… ({len(text)} characters)"


def json_values(array: np.ndarray):
    """Nested lists of JSON values; floats keep their shortest exact decimal form, non-finite ones are strings."""
    if array.dtype.kind == "f":
        texts = array.astype(str)  # NumPy's shortest round-trip text for the dtype: '0.1', 'inf', 'nan'
        return _nested(texts, _float_from_text)
    if array.dtype.kind in "biuU":
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
