"""What a cell's value looks like to the page: the one output schema site/notebook.js renders.

A cell's output is the value of its last line when that line is an expression (as in Jupyter). The page gets

- {"kind": "array", "shape", "rows", "cols", "layered", "heads", "row_labels", "col_labels", "col_kind",
   "scales", "focus"} for a numeric array: a grid whose cells the page fetches as float32 windows
   (`Outputs.slice`) as the user scrolls, e.g. of a [10 × 50257] logits table. A block cell's per-layer
   values are one grid with a layer selector ("layered"); axes before the last two are flattened into one
   selector ("heads"). "scales" colour each layer; a block cell's are null but for the layer shown when it
   ran (`Outputs.scale` gives another's when the page shows it).
- {"kind": "tabs", "items": [{"name", "output"}]} for a tuple or dict of arrays (`q, k, v`).
- {"kind": "layers", "items": [output per layer]} for a block cell whose layers differ in shape.
- {"kind": "table", "title", "columns", "rows"} for a small `Table` or a dict with string keys; floats keep
  their shortest exact decimal form ("0.1", not "0.10000000149011612"), non-finite ones are "nan", "inf".
- {"kind": "text", "text"} for a string, or the (shortened) repr of anything else.
- {"kind": "heatmap", "title", "rows", "cols", "row_labels", "col_labels", "values", "text", "heads", "scale"}
  for a `Heatmap` (figures.py), sent whole; {"kind": "head_patterns", "title", "n_layer", "n_head", "n_seq",
  "size"} for `HeadPatterns`: its [n_layer · n_head · size, size] small multiples are one grid to slice. A dict
  of them shows as tabs.
"""
from __future__ import annotations

import ast
import functools
import math
from dataclasses import dataclass, field

import numpy as np

from .figures import HeadPatterns, Heatmap
from .table import Table

INLINE_LIMIT = 4096  # a Table of up to this many values travels whole; a bigger one is a grid
REPR_LIMIT = 10_000  # characters of repr kept for other values
MAX_TABS = 8  # a tuple of up to this many arrays shows as tabs (q, k, v)
SATURATE_RMS = 3.0  # the heatmap's colour saturates this many root-mean-squares away from 0
SCALE_SAMPLE = 1 << 14  # a bigger array's colour scale is read from evenly spaced values (logits, [12×T×T] scores)


@dataclass
class LayerSummary:
    """What describing a block cell needs from one layer's value once the value itself is let go: a block
    cell's values are not kept for every layer (at 1024 tokens three [12 × T × T] arrays a layer would not fit
    in the page's memory); the grid asks for a layer's value again (`value_at`) when it is shown (or, unedited,
    the rows it shows from the engine: Notebook.engine_rows)."""
    shapes: dict | None = None  # tab name -> the array's shape, when the value is numeric arrays
    # tab name -> heat_scale of this layer's array, for the layer the page shows (colouring every layer as it
    # runs was a tenth of a 10-token run's time; `Outputs.scale` colours another when it is shown; at a long prompt
    # every layer is coloured as it runs: Notebook.summarize_layer)
    scales: dict = field(default_factory=dict)
    focus: dict = field(default_factory=dict)  # tab name -> [row, col] of a vocabulary-wide array's prediction
    value: object = None  # any other value, kept as is (a dict, a small Table, text)


class LazyGrid:
    """A grid whose [selector, rows, cols] array for a pass is computed when asked (`grid_at(pass)`)."""

    def __init__(self, grid_at, shape):
        self.grid_at = grid_at
        self.shape = tuple(shape)  # [passes, selector, rows, cols]


class Outputs:
    """The descriptions of the cells' values, and the 4-D views behind their grids that the page slices."""

    def __init__(self, vocab_size: int | None):
        self.vocab_size = vocab_size
        # (cell id, tab path) -> [passes, selector, rows, cols]: an array, or a LazyGrid for a block cell
        self.views: dict[tuple[str, str], np.ndarray | LazyGrid] = {}

    def forget(self, cell_id: str) -> None:
        for key in [key for key in self.views if key[0] == cell_id]:
            del self.views[key]

    def grid(self, cell_id, path, layer) -> np.ndarray:
        """A grid's [selector, rows, cols] array at one layer (a block cell's computed again if let go)."""
        view = self.views.get((cell_id, path or ""))
        if view is None:
            raise KeyError(f"cell {cell_id!r} has no table {path!r} (run it first)")
        p = min(int(layer), view.shape[0] - 1)
        return view[p] if isinstance(view, np.ndarray) else view.grid_at(p)  # [selector, rows, cols]

    def slice(self, cell_id, path, layer, head, r0, r1, c0, c1) -> bytes:
        """A window of a grid as little-endian float32 bytes."""
        grid = self.grid(cell_id, path, layer)  # [selector, rows, cols]
        s = min(int(head), grid.shape[0] - 1)
        window = grid[s, int(r0):int(r1), int(c0):int(c1)]  # [rows, cols]
        return np.ascontiguousarray(window, dtype="<f4").tobytes()

    def scale(self, cell_id, path, layer) -> dict:
        """How the page colours a grid at one layer (its heads share it): what "scales" holds, for a layer the
        description left null."""
        return heat_scale(self.grid(cell_id, path, layer))

    def describe(self, cell_id: str, values: list, source: str, labels) -> dict | None:
        """A plain cell's output from its value (values: [the value])."""
        if not values or values[0] is None:
            return None
        return self.describe_single(cell_id, values[0], split_arrays(values[0], last_expression_names(source)), labels, "")

    def summarize(self, value, source: str, shown: bool) -> LayerSummary:
        """One layer's value of a block cell, as describe_layers needs it after the value is let go; shown:
        the layer the page shows (coloured now)."""
        arrays = split_arrays(value, last_expression_names(source))
        if arrays is None:
            return LayerSummary(value=value)
        summary = LayerSummary(shapes={key: np.shape(array) for key, array in arrays.items()})
        for key, array in arrays.items():
            if shown or array.shape[-1] == self.vocab_size:  # what needs the grid: a scale, a focus
                grid = grid_view(array, layered=False)[0]  # [selector, rows, cols]
                if shown:
                    summary.scales[key] = heat_scale(grid)
                summary.focus[key] = self.focus_of(grid)
        return summary

    def describe_layers(self, cell_id: str, summaries: list, source: str, labels, value_at) -> dict | None:
        """A block cell's output from its layers' summaries; value_at(layer) gives a layer's value again."""
        if not summaries or all(s.shapes is None and s.value is None for s in summaries):
            return None
        names = last_expression_names(source)

        def grid_at(layer, key):
            return grid_view(split_arrays(value_at(layer), names)[key], layered=False)[0]  # [selector, rows, cols]

        first = summaries[0]
        if first.shapes is not None and all(s.shapes == first.shapes for s in summaries):
            items = []
            for key, shape in first.shapes.items():
                grid = LazyGrid(lambda layer, key=key: grid_at(layer, key), (len(summaries), *grid_shape(shape)))
                self.views[(cell_id, key)] = grid
                items.append({"name": key, "output": self.grid_description(
                    grid.shape, list(shape), labels, True, None, [s.scales.get(key) for s in summaries], first.focus.get(key))})
            return self.tabs_or_one(items)
        layers = []
        for layer, summary in enumerate(summaries):
            if summary.shapes is None:
                layers.append(self.describe_single(cell_id, summary.value, None, labels, f"{layer}"))
                continue
            items = []
            for key, shape in summary.shapes.items():
                path = "/".join(part for part in (f"{layer}", key) if part)
                grid = LazyGrid(lambda _, layer=layer, key=key: grid_at(layer, key), (1, *grid_shape(shape)))
                self.views[(cell_id, path)] = grid
                items.append({"name": key, "output": self.grid_description(
                    grid.shape, list(shape), labels, False, None, [summary.scales.get(key)], summary.focus.get(key))})
            layers.append(self.tabs_or_one(items))
        return {"kind": "layers", "items": layers}

    def describe_single(self, cell_id, value, arrays, labels, path_prefix):
        if arrays is not None:
            return self.describe_arrays(cell_id, arrays, labels, layered=False, path_prefix=path_prefix)
        if value is None:
            return None
        if isinstance(value, Table):
            return self.describe_table(cell_id, value, path_prefix)
        if isinstance(value, (Heatmap, HeadPatterns)) or is_figure_dict(value):
            return self.describe_figure(cell_id, value, path_prefix)
        if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
            return {"kind": "table", "columns": ["name", "value"], "rows": [[k, short_text(v)] for k, v in value.items()]}
        if isinstance(value, str):
            return {"kind": "text", "text": value}
        return {"kind": "text", "text": short_repr(value)}

    def describe_figure(self, cell_id, figure, path):
        """A Heatmap, a HeadPatterns, or a dict of them (tabs)."""
        if isinstance(figure, dict):
            return {"kind": "tabs", "items": [{"name": name, "output": self.describe_figure(
                cell_id, item, "/".join(part for part in (path, name) if part))} for name, item in figure.items()]}
        if isinstance(figure, Heatmap):
            scale = (heat_scale(figure.data) if figure.lo is None or figure.hi is None
                     else {"kind": "range", "lo": float(figure.lo), "hi": float(figure.hi)})
            return {"kind": "heatmap", "title": figure.title, "rows": figure.data.shape[0], "cols": figure.data.shape[1],
                    "row_labels": figure.row_labels, "col_labels": figure.col_labels, "text": figure.text,
                    "values": json_values(figure.data.astype(np.float32)), "heads": figure.heads, "scale": scale}
        n_layer, n_head, size = figure.small.shape[:3]
        # every small multiple in one grid of rows (layer, head, query), fetched at once like any grid's window
        self.views[(cell_id, path)] = figure.small.reshape(1, 1, n_layer * n_head * size, size)
        return {"kind": "head_patterns", "title": figure.title, "n_layer": n_layer, "n_head": n_head,
                "n_seq": figure.n_seq, "size": size}

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
        return self.tabs_or_one(items)

    @staticmethod
    def tabs_or_one(items: list) -> dict:
        if len(items) == 1 and items[0]["name"] in ("", "0"):
            return items[0]["output"]
        return {"kind": "tabs", "items": items}

    def describe_array(self, cell_id, path, array, labels, layered, col_labels=None) -> dict:
        view = grid_view(array, layered)  # [passes, selector, rows, cols]
        self.views[(cell_id, path)] = view
        value_shape = list(np.shape(array)[1:] if layered else np.shape(array))
        return self.grid_description(view.shape, value_shape, labels, layered, col_labels,
                                     [heat_scale(view[p]) for p in range(view.shape[0])], self.focus_of(view[0]))

    def focus_of(self, grid) -> list | None:
        """[row, col] of the last row's largest value, for a grid [selector, rows, cols] as wide as the vocabulary."""
        n_rows, n_cols = grid.shape[-2:]
        if n_cols != self.vocab_size or grid.dtype.kind not in "biuf":
            return None
        return [int(n_rows - 1), int(np.argmax(grid[0, -1]))]

    def grid_description(self, view_shape, value_shape, labels, layered, col_labels, scales, focus) -> dict:
        """scales: one per layer (heads of a layer share one, so they compare)."""
        n_rows, n_cols = view_shape[-2:]
        row_labels = labels if labels is not None and len(labels) == n_rows and len(value_shape) > 1 else None
        if col_labels is None and labels is not None and len(labels) == n_cols and n_rows == n_cols:
            col_labels = labels
        return {
            "kind": "array",
            "shape": list(value_shape),
            "rows": int(n_rows),
            "cols": int(n_cols),
            "layered": layered,
            "heads": int(view_shape[1]) if len(value_shape) > 2 else 0,
            "row_labels": row_labels,
            "col_labels": list(col_labels) if col_labels is not None and len(col_labels) <= INLINE_LIMIT else None,
            "col_kind": "vocab" if n_cols == self.vocab_size else None,
            "scales": scales,
            "focus": focus,
        }


def grid_shape(shape) -> tuple:
    """[selector, rows, cols] of the grid an array of this shape shows as (grid_view without the data)."""
    shape = tuple(shape)
    if len(shape) == 1:
        shape = (1, *shape)
    return (math.prod(shape[:-2]), *shape[-2:])


def is_figure_dict(value) -> bool:
    return (isinstance(value, dict) and 0 < len(value) <= MAX_TABS and
            all(isinstance(k, str) and isinstance(v, (Heatmap, HeadPatterns)) for k, v in value.items()))


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


@functools.lru_cache(maxsize=512)  # a block cell's layers are described one by one: parse its source once
def last_expression_names(source: str) -> tuple[str, ...] | None:
    """`q, k, v` as a cell's last line names its tabs q, k and v."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return None
    value = tree.body[-1].value
    if isinstance(value, (ast.Tuple, ast.List)):
        return tuple(element.id if isinstance(element, ast.Name) else str(i) for i, element in enumerate(value.elts))
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
    """How the page colours a view: around 0 when it has both signs, else from its min to its max (of at most
    SCALE_SAMPLE evenly spaced values: a colour scale needs no more)."""
    step = -(-view.size // SCALE_SAMPLE) or 1
    # [≤ SCALE_SAMPLE] evenly spaced values: a strided view where view is contiguous (NumPy's flat iterator costs
    # ~100 µs in Pyodide even for a few thousand values, once per grid a run shows), else read through that iterator
    # (no copy of a large strided view)
    flat = view.reshape(-1) if view.flags.c_contiguous or view.size <= SCALE_SAMPLE * 4 else view.flat
    values = flat[::step]
    if values.size == 0:
        return {"kind": "range", "lo": 0.0, "hi": 1.0}
    # the ufuncs' reduce, not values.min(): in the page the method's Python wrapper costs more than the
    # arithmetic on a few thousand values, and this runs for every cell (a block cell's at the layer shown)
    lo, hi = float(np.minimum.reduce(values)), float(np.maximum.reduce(values))
    if not (math.isfinite(lo) and math.isfinite(hi)):  # −inf (masked scores) or nan: colour by the finite ones
        values = values[np.isfinite(values)]
        if values.size == 0:
            return {"kind": "range", "lo": 0.0, "hi": 1.0}
        lo, hi = float(np.minimum.reduce(values)), float(np.maximum.reduce(values))
    if lo < 0 < hi:
        # saturate at SATURATE_RMS root-mean-squares, so a few outliers do not wash out the rest (a float32
        # sum of squares is plenty for a colour scale)
        rms = math.sqrt(float(np.dot(values, values)) / values.size)
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
