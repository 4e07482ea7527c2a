"""A small notebook kernel: Python cells that recalculate like a spreadsheet.

    nb = Notebook([("embed", "x = wte[ids]"), ("double", "y = 2 * x\\ny")], globals={"wte": wte, "ids": ids})
    nb.run_all()                    # every cell, top to bottom
    nb.set_source("embed", "x = wte[ids] + 1")
    nb.run("embed")                 # "embed", then "double" because it reads x

How it works:
- Each cell's code is read (not run) to find the names it defines and reads (`notebook_names`).
  A cell depends on the nearest cell above it that defines a name it reads or redefines, like
  a spreadsheet formula depends on the cells it mentions. The notebook's `globals` (e.g. `np`,
  the model) sit above the first cell.
- `run(cell)` runs the cell and then every cell below that depends on it, directly or through
  others; in lazy mode it marks them stale instead. Cells it needs that are not up to date run
  first. A cell that fails marks its dependents stale; independent cells still run.
- All cells share one namespace dict. Before a cell runs, the namespace is rewound to what a
  top-to-bottom run would hold at that point: the globals, overlaid with the names each cell
  above defined in its last run. So re-running any cell gives what running the whole notebook
  top to bottom gives, as long as cells do not change other cells' values in place through
  method calls (`xs.append(...)`) or use global random state. A cell that assigns into a value
  from another cell (`x[0] = 0`, `x += 1`) works on its own shallow copy of it.
- A cell's output is its last line's value when that line is an expression (as in Jupyter),
  described as JSON for the page by `notebook_output`; print() output is captured per cell.
- Tracebacks point at the cell's own lines: the code is compiled with the filename
  `<cell step-name>`, and the kernel's frames are left out.

Export and import (`.py` percent format, `.ipynb`, dict for storage) live in `notebook_format`.
"""
from __future__ import annotations

import ast
import copy
import io
import linecache
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field

from . import notebook_format
from .notebook_names import CellNames, analyze_cell
from .notebook_output import Table, as_table, describe, table_window, table_window_float32

__all__ = ["Notebook", "Cell", "CellResult", "Table"]

_UNBOUND = object()  # marks a name a cell deleted (or left unbound) in a cell's exports
_NO_PROVIDER = object()  # a name no cell above defines and no global provides


@dataclass(eq=False)
class CellResult:
    """What the page shows for one cell. `to_json()` is what travels to it."""

    id: str
    status: str = "idle"  # "idle" (never run) | "ok" | "error" | "stale" (out of date)
    duration_ms: float | None = None
    stdout: str = ""
    stderr: str = ""
    output: dict | None = None  # notebook_output.describe() of `value`
    error: dict | None = None  # {"type", "message", "line", "traceback"}
    execution_count: int = 0  # how many times the cell has run
    value: object = None  # the last expression's Python value (stays in Python)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "execution_count": self.execution_count,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "output": self.output,
            "error": self.error,
        }


@dataclass(eq=False)
class Cell:
    id: str  # the step name
    source: str
    names: CellNames = field(default_factory=CellNames)  # from the last source that parsed
    syntax_error: str | None = None  # set while the current source does not parse
    result: CellResult = None
    exports: dict | None = None  # {name: value} of `names.defines` after its last run of this source
    table: Table | None = None  # the output as a table, for windows of it
    compiled_source: str | None = None  # the source its code objects came from, for tracebacks

    def __post_init__(self):
        self.result = self.result or CellResult(self.id)


class Notebook:
    def __init__(
        self,
        cells: Iterable[tuple[str, str]] | Mapping[str, str] = (),
        globals: Mapping[str, object] | None = None,
        *,
        lazy: bool = False,
        token_labels: str | None = None,
        on_output: Callable[[str, str, str], None] | None = None,
    ):
        """cells: (step name, source) pairs in order; their sources are the defaults `reset_cell` restores.
        globals: names every cell can use (e.g. `np`, the model). `Table` is always there.
        lazy: `run` marks dependents stale instead of running them.
        token_labels: name of a list of token strings in the namespace; array outputs with that
            many rows (or columns) get them as labels.
        on_output: called as on_output(step_name, "stdout" | "stderr", text) while a cell prints.
        """
        self.globals = {"__name__": "__main__", "Table": Table, **(globals or {})}
        self.namespace = dict(self.globals)
        self.lazy = lazy
        self.token_labels = token_labels
        self.on_output = on_output
        self.cells: list[Cell] = []
        self._known_names = set(self.globals)  # every name the kernel may have put in the namespace
        self._graph_cache = None
        self._former_dependents: dict[str, set[str]] = {}  # step -> steps that depended on it before edits
        self.defaults: dict[str, str] = {}
        for name, source in _pairs(cells):
            self._insert(len(self.cells), name, source)
        self.defaults = {cell.id: cell.source for cell in self.cells}

    # -- cells -----------------------------------------------------------------------------------

    def cell(self, cell_id: str) -> Cell:
        return self.cells[self._index(cell_id)]

    def results(self) -> list[CellResult]:
        return [cell.result for cell in self.cells]

    def set_source(self, cell_id: str, source: str) -> list[CellResult]:
        """Edit a cell. It and its dependents (before and after the edit) become stale; returns them."""
        index = self._index(cell_id)
        cell = self.cells[index]
        if source == cell.source:
            return []
        affected = self._with_dependents({index})
        # cells that read from it before the edit re-run with it even if they no longer do
        self._former_dependents.setdefault(cell_id, set()).update(self.cells[i].id for i in affected)
        cell.source = source
        cell.exports = None
        self._analyze(cell)
        self._graph_cache = None
        return self._mark_stale([self.cells[i] for i in affected | self._with_dependents({index})])

    def reset_cell(self, cell_id: str) -> list[CellResult]:
        """Put back the cell's default source (the one it had when the notebook was made)."""
        if cell_id not in self.defaults:
            raise KeyError(f"cell {cell_id!r} has no default source (it was added or imported)")
        return self.set_source(cell_id, self.defaults[cell_id])

    def edited_cells(self) -> list[str]:
        return [cell.id for cell in self.cells if self.defaults.get(cell.id) != cell.source]

    def add_cell(self, cell_id: str, source: str = "", index: int | None = None) -> list[CellResult]:
        """Insert a cell (at the end by default). Cells below that now read from it become stale."""
        index = len(self.cells) if index is None else index
        self._insert(index, cell_id, source)
        return self._mark_stale([self.cells[i] for i in self._with_dependents({index})])

    def remove_cell(self, cell_id: str) -> list[CellResult]:
        index = self._index(cell_id)
        dependents = [self.cells[i] for i in self._with_dependents({index}) - {index}]
        del self.cells[index]
        self._graph_cache = None
        self._rewind(len(self.cells))
        return self._mark_stale(dependents)

    def replace_cells(self, cells: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        """Swap in other cells (an import); all start idle. The defaults stay for `reset_cell`."""
        old = self.cells
        self.cells = []
        self._graph_cache = None
        try:
            for name, source in _pairs(cells):
                self._insert(len(self.cells), name, source)
        except Exception:
            self.cells = old
            self._graph_cache = None
            raise
        self._former_dependents.clear()
        self._rewind(len(self.cells))

    def set_global(self, name: str, value) -> list[CellResult]:
        """Change a global (e.g. a newly loaded model). Cells using it become stale; returns them."""
        self.globals[name] = value
        self._known_names.add(name)
        self._graph_cache = None
        readers = {i for i, providers in enumerate(self._graph()) if name in providers and providers[name] is None}
        self._rewind(len(self.cells))
        return self._mark_stale([self.cells[i] for i in self._with_dependents(readers)])

    def dependencies(self, cell_id: str) -> dict[str, str | None]:
        """{name: step name of the cell it comes from, or None for the notebook's globals}."""
        providers = self._graph()[self._index(cell_id)]
        return {name: None if i is None else self.cells[i].id for name, i in sorted(providers.items())}

    # -- running --------------------------------------------------------------------------------

    def run(self, cell_id: str) -> list[CellResult]:
        """Run a cell, then (unless lazy) every cell that depends on it. Returns the results it touched."""
        index = self._index(cell_id)
        below = self._with_dependents({index}) - {index}
        former = self._former_dependents.pop(cell_id, set())
        below |= {i for i, cell in enumerate(self.cells) if cell.id in former and i > index}
        if self.lazy:
            return self._run_plan({index}, mark_stale=below)
        return self._run_plan({index} | below)

    def run_all(self) -> list[CellResult]:
        return self._run_plan(set(range(len(self.cells))))

    def run_to(self, cell_id: str) -> list[CellResult]:
        """Run every cell from the top down to this one; later cells depending on them become stale."""
        plan = set(range(self._index(cell_id) + 1))
        return self._run_plan(plan, mark_stale=self._with_dependents(plan) - plan)

    def _run_plan(self, plan: set[int], mark_stale: Iterable[int] = ()) -> list[CellResult]:
        plan = self._with_out_of_date_inputs(plan)
        interrupted = False
        for index in sorted(plan):
            cell = self.cells[index]
            inputs_ready = all(i is None or self.cells[i].result.status == "ok" for i in self._inputs(index))
            if interrupted or not inputs_ready:
                cell.result.status = "stale"  # it was asked to run but cannot yet
            else:
                interrupted = not self._execute(index)
        self._mark_stale([self.cells[i] for i in set(mark_stale) - plan])
        self._rewind(len(self.cells))  # leave the namespace as a full top-to-bottom run would
        return [self.cells[i].result for i in sorted(plan | set(mark_stale))]

    def _execute(self, index: int) -> bool:
        """Run one cell in the rewound namespace. Returns False if the user interrupted it."""
        cell = self.cells[index]
        result = cell.result
        self._rewind(index)
        self._known_names |= cell.names.defines
        for name in cell.names.mutates:
            if name in self.namespace:
                self.namespace[name] = _own_copy(self.namespace[name])
        filename = _filename(cell.id)
        stdout = _Stream(cell.id, "stdout", self.on_output)
        stderr = _Stream(cell.id, "stderr", self.on_output)
        value, error = None, None
        start = time.perf_counter()
        with redirect_stdout(stdout), redirect_stderr(stderr), warnings.catch_warnings():
            warnings.simplefilter("default")  # each run of a cell shows its warnings again
            warnings.showwarning = stderr.show_warning
            try:
                body, last_expression = _compile(cell.source, filename)
                cell.compiled_source = cell.source
                exec(body, self.namespace)
                if last_expression is not None:
                    value = eval(last_expression, self.namespace)
            except (Exception, KeyboardInterrupt, SystemExit) as caught:
                error = caught
        result.duration_ms = round((time.perf_counter() - start) * 1000, 3)
        result.execution_count += 1
        result.stdout, result.stderr = stdout.getvalue(), stderr.getvalue()
        result.value, result.output, result.error, cell.table = value, None, None, None
        if error is None:
            result.status = "ok"
            cell.exports = {name: self.namespace.get(name, _UNBOUND) for name in cell.names.defines}
            self._set_output(cell, value)
        else:
            result.status = "error"
            result.error = self._describe_error(error, cell)
            cell.exports = None
        return not isinstance(error, KeyboardInterrupt)

    def _set_output(self, cell: Cell, value) -> None:
        labels = self.namespace.get(self.token_labels) if self.token_labels else None
        if not (isinstance(labels, (list, tuple)) and all(isinstance(t, str) for t in labels)):
            labels = None
        try:
            cell.table = as_table(value, labels)
            cell.result.output = describe(value, labels)
        except Exception as error:  # a value that cannot be converted: say so, keep the page working
            cell.table = None
            cell.result.output = {"kind": "value", "type": type(value).__name__, "repr": f"<cannot show: {error}>"}

    # -- outputs --------------------------------------------------------------------------------

    def output(self, cell_id: str) -> dict | None:
        return self.cell(cell_id).result.output

    def output_slice(self, cell_id: str, rows, cols, index=()) -> dict:
        """Rows [r0, r1) × columns [c0, c1) of a cell's table output (see notebook_output.table_window)."""
        return table_window(self._table(cell_id), rows, cols, index)

    def output_slice_float32(self, cell_id: str, rows, cols, index=()):
        """The same window as a contiguous float32 NumPy array (a Float32Array in the page)."""
        return table_window_float32(self._table(cell_id), rows, cols, index)

    def _table(self, cell_id: str) -> Table:
        table = self.cell(cell_id).table
        if table is None:
            raise ValueError(f"cell {cell_id!r} has no array or Table output")
        return table

    # -- files and storage ------------------------------------------------------------------------

    def sources(self) -> list[tuple[str, str]]:
        return [(cell.id, cell.source) for cell in self.cells]

    def to_dict(self) -> dict:
        return notebook_format.cells_to_dict(self.sources())

    def load_dict(self, data: dict) -> None:
        self.replace_cells(notebook_format.cells_from_dict(data))

    @classmethod
    def from_dict(cls, data: dict, globals=None, *, defaults=None, **options) -> Notebook:
        """A notebook with the stored cells; `defaults` ((name, source) pairs) are what reset_cell restores."""
        notebook = cls(defaults if defaults is not None else notebook_format.cells_from_dict(data), globals, **options)
        if defaults is not None:
            notebook.load_dict(data)
        return notebook

    def export_py(self) -> str:
        return notebook_format.cells_to_py(self.sources())

    def export_ipynb(self) -> str:
        return notebook_format.cells_to_ipynb(self.sources())

    def import_py(self, text: str) -> None:
        self.replace_cells(notebook_format.cells_from_py(text))

    def import_ipynb(self, text) -> None:
        self.replace_cells(notebook_format.cells_from_ipynb(text))

    # -- dependencies ------------------------------------------------------------------------------

    def _graph(self) -> list[dict[str, int | None]]:
        """For each cell, {name: index of the cell providing it, or None for globals}, covering the
        names it reads and the names it redefines (a conditional `if c: x = 1` keeps the x above)."""
        if self._graph_cache is None:
            self._graph_cache = [self._providers(i) for i in range(len(self.cells))]
        return [providers for providers, _ in self._graph_cache]

    def _inputs(self, index: int) -> set[int | None]:
        """The cells (None: globals) whose values cell `index` reads; they must be ok before it runs."""
        self._graph()
        providers, read = self._graph_cache[index]
        return {providers[name] for name in read if name in providers}

    def _providers(self, index: int) -> tuple[dict[str, int | None], set[str]]:
        names = self.cells[index].names
        read = set(names.reads | names.builtins_read)
        pending = list(read | names.defines)
        providers = {}
        while pending:
            name = pending.pop()
            provider = self._definer_above(index, name)
            if provider is _NO_PROVIDER:
                continue
            providers[name] = provider
            if provider is not None:  # calling a function also reads the globals its body uses
                for used in self.cells[provider].names.function_globals.get(name, ()):
                    if used not in read:
                        read.add(used)
                        pending.append(used)
        return providers, read

    def _definer_above(self, index: int, name: str):
        for i in range(index - 1, -1, -1):
            if name in self.cells[i].names.defines:
                return i
        return None if name in self.globals else _NO_PROVIDER

    def _with_dependents(self, starts: set[int]) -> set[int]:
        """`starts` plus every cell below that depends on one of them, directly or through others."""
        graph = self._graph()
        affected = set(starts)
        for i in range(min(starts, default=len(self.cells)) + 1, len(self.cells)):
            if any(p in affected for p in graph[i].values() if p is not None):
                affected.add(i)
        return affected

    def _with_out_of_date_inputs(self, plan: set[int]) -> set[int]:
        """Add the cells the plan needs that are not up to date (idle, stale or failed)."""
        plan, pending = set(plan), list(plan)
        while pending:
            for provider in self._inputs(pending.pop()):
                if provider is not None and provider not in plan and self.cells[provider].result.status != "ok":
                    plan.add(provider)
                    pending.append(provider)
        return plan

    def _mark_stale(self, cells: Iterable[Cell]) -> list[CellResult]:
        touched = []
        position = {id(cell): i for i, cell in enumerate(self.cells)}
        unique = {id(cell): cell for cell in cells}.values()
        for cell in sorted(unique, key=lambda c: position[id(c)]):
            if cell.result.status in ("ok", "error"):
                cell.result.status = "stale"
            touched.append(cell.result)
        return touched

    # -- namespace --------------------------------------------------------------------------------

    def _rewind(self, index: int) -> None:
        """Make the namespace what a top-to-bottom run holds just before cell `index` runs."""
        state = dict(self.globals)
        for cell in self.cells[:index]:
            if cell.exports is not None:
                state.update(cell.exports)
        for name in self._known_names:
            value = state.get(name, _UNBOUND)
            if value is _UNBOUND:
                self.namespace.pop(name, None)
            else:
                self.namespace[name] = value

    def _insert(self, index: int, name: str, source: str) -> None:
        notebook_format.check_step_name(name)
        if any(cell.id == name for cell in self.cells):
            raise ValueError(f"step name {name!r} is used by another cell")
        if not isinstance(source, str):
            raise TypeError(f"cell {name!r}: source must be str, got {type(source).__name__}")
        cell = Cell(name, source)
        self._analyze(cell)
        self.cells.insert(index, cell)
        self._graph_cache = None

    def _analyze(self, cell: Cell) -> None:
        """Read the cell's names. A source that does not parse keeps the names it had (or those of
        its default source), so its dependents stay attached and go stale while it gets fixed."""
        try:
            cell.names = analyze_cell(cell.source)
            cell.syntax_error = None
        except (SyntaxError, ValueError) as error:
            cell.syntax_error = str(error)
            default = self.defaults.get(cell.id)
            if cell.names == CellNames() and default is not None:
                try:
                    cell.names = analyze_cell(default)
                except (SyntaxError, ValueError):
                    pass

    def _index(self, cell_id: str) -> int:
        for i, cell in enumerate(self.cells):
            if cell.id == cell_id:
                return i
        raise KeyError(f"no cell named {cell_id!r}; cells are {[c.id for c in self.cells]}")

    # -- errors -------------------------------------------------------------------------------------

    def _describe_error(self, error: BaseException, cell: Cell) -> dict:
        filename = _filename(cell.id)
        tb = error.__traceback__
        while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell "):
            tb = tb.tb_next  # the kernel's own frames
        line = None
        frame = tb
        while frame is not None:
            if frame.tb_frame.f_code.co_filename == filename:
                line = frame.tb_lineno  # the deepest line of this cell: where its code failed
            frame = frame.tb_next
        if line is None and isinstance(error, SyntaxError) and error.filename == filename:
            line = error.lineno
        with self._cell_sources_in_linecache():
            text = "".join(traceback.format_exception(type(error), error, tb))
        message = error.msg if isinstance(error, SyntaxError) else str(error)
        return {"type": type(error).__name__, "message": message, "line": line, "traceback": text}

    @contextmanager
    def _cell_sources_in_linecache(self):
        """Let `traceback` quote cells' lines, only while formatting (linecache is process-wide)."""
        entries = {_filename(c.id): c.compiled_source for c in self.cells if c.compiled_source is not None}
        saved = {name: linecache.cache.get(name) for name in entries}
        for name, source in entries.items():
            linecache.cache[name] = (len(source), None, source.splitlines(keepends=True), name)
        try:
            yield
        finally:
            for name, entry in saved.items():
                if entry is None:
                    linecache.cache.pop(name, None)
                else:
                    linecache.cache[name] = entry


def _pairs(cells) -> list[tuple[str, str]]:
    items = cells.items() if isinstance(cells, Mapping) else cells
    return [(name, source) for name, source in items]


def _filename(cell_id: str) -> str:
    return f"<cell {cell_id}>"


def _compile(source: str, filename: str):
    """Code for the cell's statements, and for its last line separately when that is an expression."""
    tree = ast.parse(source, filename)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    body = compile(tree, filename, "exec")
    return body, None if last is None else compile(ast.Expression(last.value), filename, "eval")


def _own_copy(value):
    """A shallow copy, so a cell assigning into a value leaves the cell that made it unchanged."""
    try:
        return copy.copy(value)
    except Exception:  # modules and other uncopyable objects are shared
        return value


class _Stream(io.TextIOBase):
    """Collects what a cell prints, passing it on as it comes (for streaming to the page)."""

    def __init__(self, cell_id: str, name: str, on_output):
        self.cell_id, self.name, self.on_output = cell_id, name, on_output
        self.parts: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.parts.append(text)
        if self.on_output is not None:
            self.on_output(self.cell_id, self.name, text)
        return len(text)

    def show_warning(self, message, category, filename, lineno, file=None, line=None) -> None:
        self.write(warnings.formatwarning(message, category, filename, lineno, line))

    def getvalue(self) -> str:
        return "".join(self.parts)
