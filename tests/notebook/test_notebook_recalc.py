"""Spreadsheet recalculation: which cells re-run, and that the results always equal running the
whole notebook top to bottom. The oracle is plain `exec` of each cell's source, in order, in one
fresh dict — with snapshots after every cell to check each cell's own output."""
import copy
import random

import numpy as np
import pytest

from gpt2cells.notebook import Notebook

GLOBALS = {"np": np}


def oracle(cells):
    """Run the sources top to bottom with exec. Returns (final namespace, namespace after each cell)."""
    namespace = dict(GLOBALS)
    after = {}
    for name, source in cells:
        exec(compile(source, f"<oracle {name}>", "exec"), namespace)
        after[name] = {k: copy.deepcopy(v) for k, v in namespace.items() if k != "__builtins__" and k not in GLOBALS}
    return namespace, after


def assert_same(a, b, where):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert np.array_equal(np.asarray(a), np.asarray(b)), where
    elif callable(a):
        assert callable(b), where
    else:
        assert a == b, where


def assert_matches_oracle(nb):
    assert all(r.status == "ok" for r in nb.results()), [(r.id, r.status, r.error) for r in nb.results()]
    final, after = oracle(nb.sources())
    user_names = {k for k in final if k != "__builtins__" and k not in GLOBALS}
    assert user_names == {k for k in nb.namespace if k not in ("__builtins__", "__name__", "Table") and k not in GLOBALS}
    for name in user_names:
        assert_same(nb.namespace[name], final[name], f"namespace[{name!r}]")
    for cell in nb.cells:  # every cell ends with `out_<step>`: its output is that value at that point
        assert_same(cell.result.value, after[cell.id][f"out_{cell.id}"], f"output of {cell.id}")


# Each step has alternative sources; the last line of each is its output. They redefine names that
# other steps use (x, scale, f), read them back, change arrays in place, and use functions whose
# globals are looked up when called.
VARIANTS = {
    "a": [
        "x = np.arange(6.0).reshape(2, 3)\nscale = 2.0\nout_a = x.sum()\nout_a",
        "x = np.ones((2, 3)) * 3\nscale = 0.5\nout_a = x.sum()\nout_a",
    ],
    "b": [
        "def f(v):\n    return v * scale + bias\nbias = 1.0\nout_b = f(1.0)\nout_b",
        "def f(v):\n    return np.tanh(v) * scale\nbias = -1.0\nout_b = f(0.5)\nout_b",
    ],
    "c": [
        "y = f(x)\nout_c = y.copy()\nout_c",
        "y = f(x) + [[1.0], [2.0]]\nout_c = y.copy()\nout_c",
    ],
    "d": [
        "scale = 10.0\nout_d = scale\nout_d",
        "scale = -3.0\nout_d = scale\nout_d",
    ],
    "e": [
        "y += 1\nout_e = y.copy()\nout_e",
        "y[0, 0] = 100.0\nout_e = y.copy()\nout_e",
        "y = y * 2\nout_e = y.copy()\nout_e",
    ],
    "f": [
        "z = f(y)\nout_f = z.sum()\nout_f",
        "z = [f(v) for v in y[0]]\nout_f = sum(z)\nout_f",
    ],
    "g": [
        "x = x.T\nout_g = x.shape\nout_g",
        "w = [row.max() for row in x]\nout_g = w\nout_g",
    ],
    "h": [
        "total = float(np.sum(z)) + x.sum()\nout_h = total\nout_h",
        "if scale > 0:\n    total = 1.0\nelse:\n    total = -1.0\nout_h = total\nout_h",
    ],
}


def make_notebook(choice, lazy=False):
    return Notebook([(step, VARIANTS[step][choice[step]]) for step in VARIANTS], GLOBALS, lazy=lazy)


def test_run_all_equals_top_to_bottom():
    nb = make_notebook(dict.fromkeys(VARIANTS, 0))
    nb.run_all()
    assert_matches_oracle(nb)


@pytest.mark.parametrize("seed", range(6))
def test_random_edits_and_reruns_equal_top_to_bottom(seed):
    rng = random.Random(seed)
    choice = dict.fromkeys(VARIANTS, 0)
    nb = make_notebook(choice)
    nb.run_all()
    for _ in range(12):
        step = rng.choice(list(VARIANTS))
        choice[step] = rng.randrange(len(VARIANTS[step]))
        nb.set_source(step, VARIANTS[step][choice[step]])
        before = {c.id: c.result.execution_count for c in nb.cells}
        ran = [r.id for r in nb.run(step)]
        assert ran[0] == step and ran == sorted(ran, key=list(VARIANTS).index)
        assert {c.id for c in nb.cells if c.result.execution_count != before[c.id]} == set(ran)
        assert_matches_oracle(nb)


@pytest.mark.parametrize("seed", range(3))
def test_lazy_mode_marks_dependents_stale_then_catches_up(seed):
    rng = random.Random(100 + seed)
    choice = dict.fromkeys(VARIANTS, 0)
    nb = make_notebook(choice, lazy=True)
    nb.run_all()
    for _ in range(6):
        step = rng.choice(list(VARIANTS))
        choice[step] = rng.randrange(len(VARIANTS[step]))
        nb.set_source(step, VARIANTS[step][choice[step]])
        results = nb.run(step)
        assert results[0].id == step and results[0].status == "ok"
        assert all(r.status in ("stale", "idle") for r in results[1:])
        # running the last cell brings everything it needs up to date
        nb.run(list(VARIANTS)[-1])
        nb.run_all()
        assert_matches_oracle(nb)


def test_only_dependents_rerun():
    nb = Notebook(
        [
            ("prompt", "ids = np.array([3, 1, 4])"),
            ("table", "table = np.arange(20.0).reshape(5, 4)"),
            ("embed", "x = table[ids]"),
            ("other", "unrelated = 7"),
            ("double", "y = 2 * x"),
            ("total", "s = y.sum() + unrelated"),
        ],
        GLOBALS,
    )
    nb.run_all()
    counts = {c.id: c.result.execution_count for c in nb.cells}
    nb.set_source("table", "table = np.ones((5, 4))")
    assert [r.id for r in nb.run("table")] == ["table", "embed", "double", "total"]
    assert nb.cell("prompt").result.execution_count == counts["prompt"]
    assert nb.cell("other").result.execution_count == counts["other"]
    assert nb.namespace["s"] == 2 * 3 * 4 + 7
    assert nb.dependencies("total") == {"y": "double", "unrelated": "other"}
    assert nb.dependencies("embed") == {"ids": "prompt", "table": "table"}


def test_rerunning_an_early_cell_sees_values_from_above_not_later_redefinitions():
    nb = Notebook([("one", "x = 1"), ("two", "y = x + 1\ny"), ("three", "x = 10"), ("four", "z = x")], GLOBALS)
    nb.run_all()
    nb.set_source("two", "y = x + 2\ny")
    nb.run("two")
    assert nb.cell("two").result.value == 3  # x from "one", not the later x = 10
    assert nb.namespace["x"] == 10 and nb.namespace["z"] == 10


def test_function_uses_globals_at_call_time():
    cells = [
        ("weights", "W = 2"),
        ("define", "def f(v):\n    return W * v"),
        ("redefine", "W = 10"),
        ("call", "y = f(3)\ny"),
    ]
    nb = Notebook(cells, GLOBALS)
    nb.run_all()
    assert nb.cell("call").result.value == 30
    nb.set_source("redefine", "W = 5")
    assert "call" in [r.id for r in nb.run("redefine")]  # f looks W up when called
    assert nb.cell("call").result.value == oracle(nb.sources())[0]["y"] == 15


def test_in_place_change_does_not_leak_upstream_when_rerun():
    nb = Notebook([("make", "x = np.zeros(3)"), ("bump", "x += 1\nx[0] = 5"), ("use", "y = x * 2\ny")], GLOBALS)
    nb.run_all()
    for _ in range(3):
        nb.run("bump")
    assert np.array_equal(nb.cell("use").result.value, [10, 2, 2])
    assert np.array_equal(nb.cell("make").exports["x"], [0, 0, 0])
    assert_same(nb.namespace["y"], oracle(nb.sources())[0]["y"], "y")


def test_del_and_conditional_definitions():
    cells = [("a", "x = 1\nt = 5"), ("b", "del t\nif x > 5:\n    x = 100"), ("c", "has_t = 't' in globals()\ny = x")]
    nb = Notebook(cells, GLOBALS)
    nb.run_all()
    final = oracle(cells)[0]
    assert nb.namespace["y"] == final["y"] == 1
    assert nb.namespace["has_t"] is final["has_t"] is False
    assert "t" not in nb.namespace
    nb.set_source("a", "x = 7\nt = 5")
    nb.run("a")
    assert nb.namespace["y"] == 100


def test_removed_definitions_leave_the_namespace():
    nb = Notebook([("a", "old = 1"), ("b", "y = 2")], GLOBALS)
    nb.run_all()
    nb.set_source("a", "new = 1")
    nb.run("a")
    assert "old" not in nb.namespace and nb.namespace["new"] == 1


def test_globals_shadowed_by_a_cell_and_builtins_redefined():
    nb = Notebook([("a", "max = lambda *v: -1"), ("b", "m = max(1, 2)"), ("c", "np = None"), ("d", "ok = np is None")],
                  GLOBALS)
    nb.run_all()
    assert nb.namespace["m"] == -1 and nb.namespace["ok"] is True
    assert nb.dependencies("b") == {"max": "a"}
    nb.set_source("a", "mx = 0")  # max is the builtin again for b
    assert [r.id for r in nb.run("a")] == ["a", "b"]
    assert nb.namespace["m"] == 2 and "max" not in nb.namespace


def test_set_global_marks_users_stale_and_rerun_uses_new_value():
    nb = Notebook([("a", "y = scale * 2"), ("b", "z = y + 1"), ("c", "other = 1")], {"scale": 3})
    nb.run_all()
    stale = nb.set_global("scale", 5)
    assert [r.id for r in stale] == ["a", "b"] and all(r.status == "stale" for r in stale)
    assert nb.cell("c").result.status == "ok"
    nb.run_all()
    assert nb.namespace["z"] == 11


def test_run_brings_idle_inputs_up_to_date():
    nb = Notebook([("a", "x = 2"), ("b", "y = x * 3"), ("c", "z = y + 1"), ("d", "q = 0")], GLOBALS)
    ran = [r.id for r in nb.run("c")]
    assert ran == ["a", "b", "c"] and nb.namespace["z"] == 7
    assert nb.cell("d").result.status == "idle"


def test_run_to_runs_everything_above_and_marks_later_dependents_stale():
    nb = Notebook([("a", "x = 2"), ("b", "q = 1"), ("c", "y = x + 1"), ("d", "z = y * 2"), ("e", "w = 5")], GLOBALS)
    nb.run_all()
    results = nb.run_to("c")
    assert [(r.id, r.status) for r in results] == [("a", "ok"), ("b", "ok"), ("c", "ok"), ("d", "stale")]
    assert nb.cell("e").result.status == "ok"


def test_edit_marks_cell_and_dependents_stale():
    nb = Notebook([("a", "x = 2"), ("b", "y = x + 1"), ("c", "w = 1")], GLOBALS)
    nb.run_all()
    assert [(r.id, r.status) for r in nb.set_source("a", "x = 3")] == [("a", "stale"), ("b", "stale")]
    assert nb.cell("c").result.status == "ok"


def test_add_and_remove_cells():
    nb = Notebook([("a", "x = 1"), ("c", "y = x + 1")], GLOBALS)
    nb.run_all()
    stale = nb.add_cell("b", "x = 10", index=1)
    assert [r.id for r in stale] == ["b", "c"]
    nb.run("b")
    assert nb.namespace["y"] == 11
    assert [r.id for r in nb.remove_cell("b")] == ["c"]
    nb.run("c")
    assert nb.namespace["y"] == 2
    with pytest.raises(ValueError, match="used by another cell"):
        nb.add_cell("a", "")
    with pytest.raises(ValueError, match="step name"):
        nb.add_cell("bad name!", "")
