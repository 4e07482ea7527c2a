"""Errors: the traceback points at the line the error was planted on, the kernel's own frames are
hidden, dependents go stale, and independent cells keep working."""
import json
import textwrap

import numpy as np
import pytest

from gpt2cells.notebook import Notebook


def source_with(lines: list[str]) -> str:
    return "\n".join(lines)


def test_runtime_error_points_at_the_planted_line():
    lines = ["a = np.ones((2, 3))", "b = np.ones((4, 5))", "", "c = a @ b  # planted", "d = 1"]
    planted = lines.index("c = a @ b  # planted") + 1
    nb = Notebook([("matmul", source_with(lines)), ("after", "e = c + 1"), ("free", "f = 2\nf")], {"np": np})
    results = {r.id: r for r in nb.run_all()}
    error = results["matmul"].error
    assert results["matmul"].status == "error"
    assert error["type"] == "ValueError" and "matmul" in error["message"]
    assert error["line"] == planted
    assert f'File "<cell matmul>", line {planted}, in <module>' in error["traceback"]
    assert "c = a @ b  # planted" in error["traceback"]  # the user's line is quoted
    assert "notebook.py" not in error["traceback"]  # no kernel frames
    assert results["after"].status == "stale"
    assert results["free"].status == "ok" and results["free"].value == 2
    json.dumps([r.to_json() for r in results.values()], allow_nan=False)


def test_syntax_error_points_at_the_planted_line_and_dependents_go_stale():
    nb = Notebook(
        [("setup", "x = 1"), ("step", "y = x + 1"), ("use", "z = y * 2"), ("free", "w = 3")],
        {"np": np},
    )
    nb.run_all()
    broken = ["y = x + 1", "", "if y >", "    pass"]
    planted = 3
    nb.set_source("step", source_with(broken))
    results = {r.id: r for r in nb.run("step")}
    error = nb.cell("step").result.error
    assert nb.cell("step").result.status == "error"
    assert error["type"] == "SyntaxError" and error["line"] == planted
    assert f'File "<cell step>", line {planted}' in error["traceback"]
    assert "if y >" in error["traceback"]
    assert results["use"].status == "stale"  # still known to depend on step's y
    assert "free" not in results and nb.cell("free").result.status == "ok"
    assert nb.run("free")[0].status == "ok"
    nb.set_source("step", "y = x + 5")
    assert [(r.id, r.status) for r in nb.run("step")] == [("step", "ok"), ("use", "ok")]
    assert nb.namespace["z"] == 12


def test_error_inside_a_function_from_another_cell_shows_both_cells():
    helpers = textwrap.dedent("""\
        def normalize(v):
            total = v.sum()
            return v / total.item(7)
        """)
    nb = Notebook([("helpers", helpers), ("use", "x = np.arange(3.0)\n\ny = normalize(x)")], {"np": np})
    nb.run_all()
    error = nb.cell("use").result.error
    assert error["line"] == 3  # the line of "use" that called into helpers
    trace = error["traceback"]
    assert 'File "<cell use>", line 3, in <module>' in trace
    assert 'File "<cell helpers>", line 3, in normalize' in trace
    assert "return v / total.item(7)" in trace
    assert trace.index("<cell use>") < trace.index("<cell helpers>")
    assert "notebook.py" not in trace


def test_error_in_last_expression_line():
    nb = Notebook([("c", "x = {'a': 1}\nx['b']")])
    nb.run_all()
    error = nb.cell("c").result.error
    assert (error["type"], error["line"], error["message"]) == ("KeyError", 2, "'b'")


def test_a_notebook_loaded_with_a_broken_cell_keeps_its_dependents_stale():
    defaults = [("a", "x = 1"), ("b", "y = x + 1"), ("c", "z = y + 1")]
    nb = Notebook(defaults)
    nb.replace_cells([("a", "x = 1"), ("b", "y = (x +"), ("c", "z = y + 1")])  # e.g. a stored broken edit
    statuses = {r.id: r.status for r in nb.run_all()}
    assert statuses == {"a": "ok", "b": "error", "c": "stale"}


def test_failure_clears_partial_definitions():
    nb = Notebook([("a", "x = 1"), ("b", "x = 2\nboom = 1 / 0"), ("c", "q = 5")])
    nb.run_all()
    assert nb.namespace["x"] == 1 and "boom" not in nb.namespace


def test_interrupt_stops_the_run():
    nb = Notebook([("a", "x = 1"), ("b", "raise KeyboardInterrupt"), ("c", "y = 2")])
    results = {r.id: r for r in nb.run_all()}
    assert results["b"].status == "error" and results["b"].error["type"] == "KeyboardInterrupt"
    assert results["c"].status == "stale"  # not independent work to continue: the user asked to stop


@pytest.mark.parametrize("bad", ["return 5", "nonlocal q", "x = 1\n  y = 2"])
def test_compile_time_errors_are_reported(bad):
    nb = Notebook([("c", bad)])
    result = nb.run_all()[0]
    assert result.status == "error" and result.error["type"] in ("SyntaxError", "IndentationError")
    assert result.error["line"] == bad.count("\n") + 1
