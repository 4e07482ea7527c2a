"""Running one cell's code in a namespace: its value, printed text, time and error (with the cell's line)."""
from __future__ import annotations

import ast
import contextlib
import functools
import io
import linecache
import time
import traceback
from dataclasses import dataclass


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
