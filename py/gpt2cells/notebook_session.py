"""The page's notebook, on the Python side: what site/notebook.js calls in the worker.

One Session holds the cells of the default notebook (gpt2cells.default_notebook) for the active model, runs
them like a spreadsheet and describes their outputs for the page's tables.

Running. The cells run top to bottom in one namespace, except that the cells of a group (the transformer
block) run as a unit: once per layer, in order. After each unit the session keeps a snapshot of the
namespace (a shallow dict copy: arrays are shared, not copied), so any unit can run again from the state
before it. Running a cell reruns its unit and then every later unit that reads a name a rerun unit
(re)bound; the others keep their outputs. A unit that fails stops nothing else: later units that read what
it would have defined are marked stale.

The page calls the module-level functions (open, run, output_slice, ...) with plain data; tests can use
Session directly on CPython with a model from gpt2cells.load.
"""
from __future__ import annotations

import ast
import builtins
import codecs
import functools
import contextlib
import io
import linecache
import sys
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from . import notebook_format
from .default_notebook import GROUPS, CellSpec, default_cells
from .notebook_names import analyze_cell
from .notebook_output import Table, describe as describe_value

MAX_TABS = 8  # a tuple of up to this many arrays shows as tabs (q, k, v)
SATURATE_RMS = 3.0  # the heatmap's colour saturates this many root-mean-squares away from 0


# ---------------------------------------------------------------- running one cell

@dataclass
class CellRun:
    """What one execution of a cell's code produced."""
    value: object = None
    stdout: str = ""
    error: dict | None = None  # {"traceback": str, "line": int | None, "type": str}
    duration_ms: float = 0.0


def cell_filename(cell_id: str) -> str:
    return f"<cell {cell_id}>"


@functools.lru_cache(maxsize=512)  # a block cell runs once per layer: compile it once
def compile_cell(source: str, filename: str):
    """(code of all statements but a final expression, code of that expression or None)."""
    tree = ast.parse(source, filename=filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, filename, "exec")
    return body, (compile(last, filename, "eval") if last is not None else None)


def format_error(error: BaseException, filename: str) -> dict:
    """The traceback from the cell's own first frame on, and the cell line it points at."""
    line = None
    if isinstance(error, SyntaxError) and error.filename == filename:
        line = error.lineno
        text = "".join(traceback.format_exception_only(type(error), error))
        return {"type": type(error).__name__, "traceback": text.rstrip(), "line": line}
    frames = traceback.extract_tb(error.__traceback__)
    first = next((i for i, frame in enumerate(frames) if frame.filename == filename), 0)
    for frame in frames:
        if frame.filename == filename:
            line = frame.lineno
    summary = traceback.StackSummary.from_list(frames[first:])
    text = "Traceback (most recent call last):\n" + "".join(summary.format())
    text += "".join(traceback.format_exception_only(type(error), error))
    return {"type": type(error).__name__, "traceback": text.rstrip(), "line": line}


def execute(source: str, cell_id: str, namespace: dict) -> CellRun:
    """Run a cell's code in namespace; the value of a final expression is the cell's value."""
    filename = cell_filename(cell_id)
    # tracebacks (and inspect) read the cell's lines from here, as they would from a file
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    run = CellRun()
    out = io.StringIO()
    started = time.perf_counter()
    try:
        body, last = compile_cell(source, filename)
        with contextlib.redirect_stdout(out):
            exec(body, namespace)
            if last is not None:
                run.value = eval(last, namespace)
    except Exception as error:  # the learner's code failed: report it in the cell, keep going
        run.error = format_error(error, filename)
    run.duration_ms = (time.perf_counter() - started) * 1000
    run.stdout = out.getvalue()
    return run


def changed_bindings(before: dict, after: dict) -> set[str]:
    """Names a run bound, rebound or deleted (by identity: an array recomputed is a new object)."""
    changed = {name for name, value in after.items() if name not in before or before[name] is not value}
    return changed | (set(before) - set(after))


# ---------------------------------------------------------------- cells and units

@functools.lru_cache(maxsize=512)
def cell_names(source: str):
    """What a cell defines and reads (None when it does not parse); cached, as sources rarely change."""
    try:
        return analyze_cell(source)
    except (SyntaxError, ValueError):
        return None


@dataclass
class Cell:
    spec: CellSpec
    source: str
    status: str = "idle"  # idle | ok | failed | stale
    run: CellRun | None = None
    values: list = field(default_factory=list)  # one per pass: one for a plain cell, n_layer for a block cell
    output: dict | None = None
    runs: int = 0  # how many times the cell's code has run (the page shows it; tests check recalculation)

    @property
    def id(self) -> str:
        return self.spec.id

    def names(self):
        return cell_names(self.source)


@dataclass
class Unit:
    """A plain cell, or a group whose cells run once per pass of its loop."""
    cells: list[Cell]
    group: object = None  # GroupSpec
    after: dict | None = None  # namespace snapshot after the unit last ran (None: never ran)
    bound: set[str] = field(default_factory=set)  # names the unit's last run bound

    def reads(self) -> set[str]:
        names = set()
        for cell in self.cells:
            analysis = cell.names()
            if analysis is None:
                return {"*"}  # unparsable: treat as reading everything
            names |= analysis.reads | {n for fn in analysis.function_globals.values() for n in fn}
        if self.group is not None:
            names.discard(self.group.loop_variable)
        return names

    def defines(self) -> set[str]:
        names = set()
        for cell in self.cells:
            analysis = cell.names()
            if analysis is not None:
                names |= analysis.defines
        if self.group is not None:
            names.add(self.group.loop_variable)
        return names


class Session:
    def __init__(self, model, sources: dict | None = None):
        self.model = model
        kind = getattr(model.tokenizer, "kind", "bpe")
        self.specs = default_cells(kind)
        self.cells = {spec.id: Cell(spec, spec.source) for spec in self.specs}
        for cell_id, source in (sources or {}).items():
            if cell_id in self.cells and isinstance(source, str):
                self.cells[cell_id].source = source
        self.units: list[Unit] = []
        for spec in self.specs:
            cell = self.cells[spec.id]
            if spec.group and self.units and self.units[-1].group is not None and self.units[-1].group.id == spec.group:
                self.units[-1].cells.append(cell)
            elif spec.group:
                self.units.append(Unit([cell], group=next(g for g in GROUPS if g.id == spec.group)))
            else:
                self.units.append(Unit([cell]))
        self.arrays: dict[tuple[str, str], np.ndarray] = {}  # (cell id, tab) -> [passes?, selector?, rows, cols]
        self.generation = None

    # -------------------------------------------------------------- namespace

    def base_namespace(self) -> dict:
        return {"__name__": "__notebook__", "__builtins__": builtins, "model": self.model}

    def unit_of(self, cell_id: str) -> int:
        for index, unit in enumerate(self.units):
            if any(cell.id == cell_id for cell in unit.cells):
                return index
        raise KeyError(f"no cell named {cell_id!r}; cells are {', '.join(self.cells)}")

    def before(self, index: int) -> dict:
        for unit in reversed(self.units[:index]):
            if unit.after is not None:
                return unit.after
        return self.base_namespace()

    def final_namespace(self) -> dict:
        return self.before(len(self.units))

    def token_labels(self, namespace: dict):
        tokens = namespace.get("tokens")
        if isinstance(tokens, (list, tuple)) and all(isinstance(t, str) for t in tokens):
            return list(tokens)
        return None

    # -------------------------------------------------------------- running

    def update_sources(self, sources: dict | None) -> None:
        for cell_id, source in (sources or {}).items():
            if cell_id in self.cells and isinstance(source, str):
                self.cells[cell_id].source = source

    def plan(self, mode: str, cell_id: str | None) -> tuple[set[int], int]:
        """Units that must run, and the last unit a run may reach without being a dependent."""
        if mode == "all":
            return set(range(len(self.units))), len(self.units) - 1
        if mode not in ("to", "cell"):
            raise ValueError(f"mode must be 'all', 'to' or 'cell', got {mode!r}")
        target = self.unit_of(cell_id)
        upstream = {i for i in range(target) if any(c.status != "ok" for c in self.units[i].cells)}
        return upstream | {target}, target

    def run(self, mode: str = "all", cell_id: str | None = None, sources: dict | None = None, progress=None) -> list[str]:
        """Run cells like a spreadsheet; returns the ids of the cells that ran.

        mode "all": every cell. "to": the cells up to cell_id that are not up to date, and cell_id.
        "cell": the same, then every later cell that reads a name a rerun cell bound.
        progress(dict) hears {"event": "plan" | "start" | "done", ...} as the run goes.
        """
        self.update_sources(sources)
        self.generation = None
        planned, target = self.plan(mode, cell_id)
        report = progress or (lambda message: None)
        report({"event": "plan", "cells": [c.id for i in sorted(planned) for c in self.units[i].cells]})
        ran: list[str] = []
        changed: set[str] = set()  # names rebound by the units that ran
        broken: set[str] = set()  # names whose defining unit failed or is now stale
        for index, unit in enumerate(self.units):
            reads = unit.reads()
            if index <= target:
                wants = index in planned or bool(reads & changed)
            else:
                wants = mode == "cell" and bool(reads & (changed | {"*"}))
            if wants and reads & broken:
                wants = False  # an input failed: running would only repeat its error
            if wants:
                self.run_unit(index, report)
                ran += [c.id for c in unit.cells]
                if unit.after is None:
                    broken |= unit.defines()
                changed |= unit.bound
                continue
            if reads & (changed | broken | {"*"}) and (changed or broken):
                stale = [c for c in unit.cells if c.status != "idle"]
                for cell in stale:
                    cell.status = "stale"
                broken |= unit.defines()  # its outputs no longer follow from its inputs
                if stale:
                    report({"event": "done", "states": [self.state(c) for c in unit.cells]})
            self.refresh_snapshot(index)
        return ran

    def refresh_snapshot(self, index: int) -> None:
        """A unit that did not run: rebuild what follows it from the state before it plus what it bound."""
        unit = self.units[index]
        if unit.after is None:
            return
        namespace = dict(self.before(index))
        for name in unit.bound:
            if name in unit.after:
                namespace[name] = unit.after[name]
            else:
                namespace.pop(name, None)
        unit.after = namespace

    def run_unit(self, index: int, report) -> None:
        unit = self.units[index]
        before = self.before(index)
        namespace = dict(before)
        for cell in unit.cells:
            cell.values, cell.run, cell.output = [], CellRun(), None
            for key in [k for k in self.arrays if k[0] == cell.id]:
                del self.arrays[key]
        passes = [None]
        if unit.group is not None:
            try:
                passes = list(range(int(eval(unit.group.count, dict(namespace)))))
            except Exception as error:
                message = f"the {unit.group.title!r} group needs {unit.group.count} ({type(error).__name__}: {error})"
                for cell in unit.cells:
                    cell.status = "failed"
                    cell.run = CellRun(error={"type": type(error).__name__, "traceback": message, "line": None})
                unit.after, unit.bound = None, set()
                report({"event": "done", "states": [self.state(c) for c in unit.cells]})
                return
        failed = None
        for n, loop_value in enumerate(passes):
            if loop_value is not None:
                namespace[unit.group.loop_variable] = loop_value
                label = f"{unit.group.loop_variable} {loop_value + 1} of {len(passes)}"
            else:
                label = unit.cells[0].spec.title
            report({"event": "start", "cells": [c.id for c in unit.cells], "label": label})
            for cell in unit.cells:
                self.protect_mutated(cell, namespace)
                if loop_value in (None, 0):
                    cell.runs += 1
                run = execute(cell.source, cell.id, namespace)
                cell.run.duration_ms += run.duration_ms
                if run.stdout:
                    prefix = f"[{unit.group.loop_variable} {loop_value}] " if loop_value is not None else ""
                    cell.run.stdout += "".join(prefix + line for line in run.stdout.splitlines(keepends=True))
                if run.error is not None:
                    if loop_value is not None:
                        run.error["traceback"] = f"(at {unit.group.loop_variable} = {loop_value})\n" + run.error["traceback"]
                    cell.run.error = run.error
                    failed = cell
                    break
                cell.values.append(run.value)
            if failed is not None:
                break
        reached = unit.cells.index(failed) if failed is not None else len(unit.cells)
        for position, cell in enumerate(unit.cells):
            cell.status = "ok" if position < reached else "failed" if cell is failed else "stale"
        if failed is None:
            unit.after = namespace
            unit.bound = changed_bindings(before, namespace)
        else:
            unit.after, unit.bound = None, set()
        labels = self.token_labels(namespace)
        for cell in unit.cells:
            if cell.status == "ok" or cell.values:
                cell.output = self.describe_cell(cell, labels, grouped=unit.group is not None)
        report({"event": "done", "states": [self.state(c) for c in unit.cells]})

    def protect_mutated(self, cell: Cell, namespace: dict) -> None:
        """`x += 1` on an array from an earlier cell would change that cell's output too: copy it first."""
        analysis = cell.names()
        for name in analysis.mutates if analysis else ():
            if isinstance(namespace.get(name), np.ndarray):
                namespace[name] = namespace[name].copy()

    # -------------------------------------------------------------- outputs

    def describe_cell(self, cell: Cell, labels, grouped: bool) -> dict | None:
        values = cell.values
        if not values or all(v is None for v in values):
            return None
        names = last_expression_names(cell.source)
        parts = [split_arrays(v, names) for v in values]
        if grouped:
            first = parts[0]
            same = all(p is not None and first is not None and list(p) == list(first) and
                       all(p[k].shape == first[k].shape for k in p) for p in parts)
            if same:
                stacked = {key: np.stack([p[key] for p in parts]) for key in first}
                return self.describe_arrays(cell.id, stacked, labels, layered=True)
            return {"kind": "layers", "items": [self.describe_single(cell.id, v, p, labels, f"{i}")
                                                for i, (v, p) in enumerate(zip(values, parts))]}
        return self.describe_single(cell.id, values[0], parts[0], labels, "")

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
        return {"kind": "text", "text": describe_value(value)["repr"]}

    def describe_table(self, cell_id, table: Table, path_prefix):
        description = describe_value(table)
        if description["data"] is None or table.data.ndim != 2:  # big or stacked: a grid
            if table.data.dtype.kind in "biuf":
                return self.describe_arrays(cell_id, {"": table.data}, table.row_labels, layered=False,
                                            path_prefix=path_prefix, col_labels=table.col_labels)
            return {"kind": "text", "text": repr(table)}
        columns = list(description["col_labels"] or range(description["cols"]))
        rows = description["data"]
        if description["row_labels"] is not None:
            columns = [""] + columns
            rows = [[label] + list(row) for label, row in zip(description["row_labels"], rows)]
        return {"kind": "table", "title": table.title, "columns": [str(c) for c in columns], "rows": rows}

    def describe_arrays(self, cell_id, arrays: dict, labels, layered: bool, path_prefix="", col_labels=None):
        items = []
        for name, array in arrays.items():
            path = "/".join(part for part in (path_prefix, name) if part)  # what the page asks output_slice for
            items.append({"name": name, "output": self.describe_array(cell_id, path, array, labels, layered, col_labels)})
        if len(items) == 1 and items[0]["name"] in ("", "0"):
            return items[0]["output"]
        return {"kind": "tabs", "items": items}

    def describe_array(self, cell_id, path, array, labels, layered, col_labels=None) -> dict:
        array = np.asarray(array)
        if array.dtype.kind == "b":
            array = array.astype(np.float32)
        value_shape = list(array.shape[1:] if layered else array.shape)
        view = array
        if view.ndim - (1 if layered else 0) == 1:
            view = view[..., np.newaxis, :]  # a vector is one row
        lead = view.ndim - 2 - (1 if layered else 0)
        if lead > 1:  # [a, b, ..., rows, cols]: one selector over the flattened leading axes
            view = view.reshape(*view.shape[:1 if layered else 0], -1, *view.shape[-2:])
            lead = 1
        if not layered:
            view = view[np.newaxis]
        if lead == 0:
            view = view[:, np.newaxis]
        # view: [passes, selector, rows, cols]
        self.arrays[(cell_id, path)] = view
        n_rows, n_cols = view.shape[-2:]
        row_labels = labels if labels is not None and len(labels) == n_rows and len(value_shape) > 1 else None
        if col_labels is None and labels is not None and len(labels) == n_cols and n_rows == n_cols:
            col_labels = labels
        vocab = getattr(self.model.config, "vocab_size", None)
        focus = None
        if n_cols == vocab and np.issubdtype(view.dtype, np.number):
            focus = [int(n_rows - 1), int(np.argmax(view[0, 0, -1]))]
        return {
            "kind": "array",
            "shape": value_shape,
            "rows": int(n_rows),
            "cols": int(n_cols),
            "layered": layered,
            "heads": int(view.shape[1]) if lead else 0,
            "row_labels": row_labels,
            "col_labels": list(col_labels) if col_labels is not None and len(col_labels) <= 4096 else None,
            "col_kind": "vocab" if n_cols == vocab else None,
            "scales": [heat_scale(view[p]) for p in range(view.shape[0])],  # one per layer: heads compare
            "focus": focus,
        }

    def output_slice(self, cell_id, path, layer, head, r0, r1, c0, c1) -> bytes:
        view = self.arrays.get((cell_id, path or ""))
        if view is None:
            raise KeyError(f"cell {cell_id!r} has no table {path!r} (run it first)")
        p = min(int(layer), view.shape[0] - 1)
        s = min(int(head), view.shape[1] - 1)
        window = view[p, s, int(r0):int(r1), int(c0):int(c1)]  # [rows, cols]
        return np.ascontiguousarray(window, dtype="<f4").tobytes()

    # -------------------------------------------------------------- state for the page

    def state(self, cell: Cell) -> dict:
        run = cell.run or CellRun()
        return {
            "id": cell.id,
            "title": cell.spec.title,
            "doc": cell.spec.doc,
            "group": cell.spec.group,
            "source": cell.source,
            "default_source": cell.spec.source,
            "status": cell.status,
            "duration_ms": round(run.duration_ms, 3) if cell.run else None,
            "stdout": run.stdout,
            "error": run.error,
            "output": cell.output if cell.status in ("ok", "stale") else None,
            "runs": cell.runs,
        }

    def states(self) -> list[dict]:
        return [self.state(self.cells[spec.id]) for spec in self.specs]

    def prediction(self) -> dict | None:
        cell = self.cells.get("probabilities")
        if cell is None or cell.status != "ok":
            return None
        probs = self.final_namespace().get("probs")
        if not isinstance(probs, np.ndarray) or probs.ndim != 1 or probs.size == 0:
            return None
        token_id = int(np.argmax(probs))
        return {"id": token_id, "text": self.model.tokenizer.decode([token_id]), "prob": float(probs[token_id])}

    def description(self) -> dict:
        config = self.model.config
        return {
            "cells": self.states(),
            "groups": [{"id": g.id, "title": g.title, "doc": g.doc} for g in GROUPS],
            "model": {"n_layer": config.n_layer, "n_head": config.n_head, "n_embd": config.n_embd,
                      "vocab_size": config.vocab_size, "tokenizer": getattr(self.model.tokenizer, "kind", "bpe")},
            "prediction": self.prediction(),
        }

    # -------------------------------------------------------------- generation

    def generate_begin(self, settings: dict) -> dict:
        namespace = self.final_namespace()
        generate, ids = namespace.get("generate"), namespace.get("ids")
        if not callable(generate) or ids is None:
            raise RuntimeError("run the notebook first: the generation cell defines generate(ids, n_new, ...)")
        room = self.model.config.n_ctx - len(ids) + 1  # the last new token never needs a position
        if room < 1:
            raise ValueError(f"the prompt's {len(ids)} tokens fill the context window (n_ctx = {self.model.config.n_ctx})")
        n_new = max(1, min(int(settings.get("max_new_tokens", 20)), room))
        iterator = generate(list(ids), n_new, temperature=float(settings.get("temperature", 1.0)),
                            top_k=settings.get("top_k"), top_p=settings.get("top_p"), seed=settings.get("seed"))
        # a token may end inside a UTF-8 character: the decoder holds such bytes until the next token
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.generation = {"iterator": iterator, "ids": [], "decoder": decoder, "cache": None, "prompt_ids": list(ids)}
        return {"prompt_text": self.model.tokenizer.decode(list(ids)), "max_new_tokens": n_new}

    def generate_next(self) -> dict:
        if self.generation is None:
            raise RuntimeError("generate_next called without generate_begin")
        generation = self.generation
        try:
            token, cache = next(generation["iterator"])
        except StopIteration:
            return {"done": True, "text": generation["decoder"].decode(b"", final=True)}
        token = int(token)
        generation["ids"].append(token)
        generation["cache"] = cache
        tokenizer = self.model.tokenizer
        if hasattr(tokenizer, "decode_bytes"):
            text = generation["decoder"].decode(tokenizer.decode_bytes([token]))
        else:
            text = tokenizer.decode([token])
        return {"done": False, "id": token, "text": text}

    def generate_for(self, seconds: float, progress) -> dict:
        """generate_next for about `seconds` (at least once), each new token's step sent to progress as chosen.

        The page asks for a stretch of tokens per call rather than one: a worker round trip per token cost
        ~10 % of decoding speed, and Stop still takes effect within `seconds`.
        """
        deadline = time.perf_counter() + seconds
        while True:
            step = self.generate_next()
            if step["done"]:
                return step
            progress(step)
            if time.perf_counter() >= deadline:
                return {"done": False}

    def generate_end(self) -> dict:
        generation, self.generation = self.generation, None
        if generation is None:
            return {}
        cell = self.cells.get("generation")
        namespace = self.final_namespace()
        if cell is not None and generation["cache"] is not None and callable(namespace.get("cache_table")):
            try:
                cell.values = [namespace["cache_table"](generation["cache"])]
                cell.output = self.describe_cell(cell, self.token_labels(namespace), grouped=False)
            except Exception as error:
                cell.run.stdout += f"cache_table failed: {type(error).__name__}: {error}\n"
        result = {"ids": generation["ids"], "text": self.model.tokenizer.decode(generation["prompt_ids"] + generation["ids"])}
        if cell is not None:
            result["state"] = self.state(cell)
        return result

    # -------------------------------------------------------------- files

    def export(self, fmt: str, sources: dict | None = None) -> str:
        self.update_sources(sources)
        cells = [(spec.id, self.cells[spec.id].source) for spec in self.specs]
        if fmt == "py":
            return notebook_format.cells_to_py(cells)
        if fmt == "ipynb":
            return notebook_format.cells_to_ipynb(cells)
        raise ValueError(f"export format must be 'py' or 'ipynb', got {fmt!r}")

    def import_(self, text: str, filename: str = "") -> dict:
        if filename.endswith(".ipynb") or text.lstrip().startswith("{"):
            cells = notebook_format.cells_from_ipynb(text)
        else:
            cells = notebook_format.cells_from_py(text)
        sources, skipped = {}, 0
        for cell_id, source in cells:
            if cell_id in self.cells:
                sources[cell_id] = source
            else:
                skipped += 1
        if not sources:
            raise ValueError(f"{filename or 'the file'} has no cell named like this notebook's steps "
                             f"({', '.join(list(self.cells)[:4])}, …)")
        self.update_sources(sources)
        return {"sources": sources, "skipped": skipped}


# ---------------------------------------------------------------- helpers

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


# ---------------------------------------------------------------- what the worker calls

_session: Session | None = None


def _active_model():
    from . import worker_api
    if worker_api.model is None:
        raise RuntimeError("no model is loaded: drop a weights zip or pick a stored model")
    return worker_api.model


def _current() -> Session:
    if _session is None or _session.model is not _active_model():
        raise RuntimeError("the notebook is not open for the active model (call open first)")
    return _session


def open(sources=None) -> dict:  # noqa: A001 - the page's verb
    """A fresh session for the active model, with the page's saved edits; nothing runs yet."""
    global _session
    _session = Session(_active_model(), dict(sources or {}))
    return _session.description()


def run(mode="all", cell_id=None, sources=None, progress=None) -> dict:
    session = _current()
    ran = session.run(mode, cell_id, dict(sources or {}), progress=progress)
    return {"cells": session.states(), "ran": ran, "prediction": session.prediction()}


def output_slice(cell_id, path, layer, head, r0, r1, c0, c1) -> bytes:
    return _current().output_slice(cell_id, path, layer, head, r0, r1, c0, c1)


def token_text(token_id) -> str:
    return _current().model.tokenizer.decode([int(token_id)])


def generate_begin(settings) -> dict:
    return _current().generate_begin(dict(settings))


def generate_for(seconds, progress) -> dict:
    return _current().generate_for(float(seconds), progress)


def generate_end() -> dict:
    return _current().generate_end()


def export_notebook(fmt, sources=None) -> str:
    return _current().export(fmt, dict(sources or {}))


def import_notebook(text, filename="") -> dict:
    return _current().import_(text, filename)
