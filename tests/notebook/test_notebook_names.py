"""Static name analysis of cells, checked two ways:

1. against expectations written from Python's scoping rules, case by case;
2. against CPython itself: running the snippet with a globals dict that records every lookup and
   store. What the interpreter actually read before storing must be among the static reads, and
   what it stored among the static defines (static analysis may only over-approximate).
"""
import textwrap

import pytest

from gpt2cells.notebook.names import analyze_cell

# (source, defines, reads, builtins_read, mutates, environment to run it in, or None to skip running)
CASES = {
    "tuple unpacking": ("a, (b, *c) = t", "a b c", "t", "", "", {"t": (1, (2, 3, 4))}),
    "augmented assignment of an outside name": ("x += 1", "x", "x", "", "x", {"x": 1}),
    "augmented assignment of an own name": ("x = 1\nx += 1", "x", "", "", "", {}),
    "read before write in the same cell": ("y = x\nx = 2", "x y", "x", "", "", {"x": 1}),
    "x = x + 1 reads x": ("x = x + 1", "x", "x", "", "", {"x": 1}),
    "comprehension": ("y = [i * k for i in range(n) if i % m]", "y", "k n m", "range", "", {"k": 2, "n": 5, "m": 2}),
    "nested comprehension": (
        "grid = [[i * j for j in row] for i, row in enumerate(rows)]", "grid", "rows", "enumerate", "",
        {"rows": [[1, 2], [3]]},
    ),
    "comprehension variable does not leak": ("[i for i in xs]\nprint(i)", "", "xs i", "print", "", {"xs": [1], "i": 7}),
    "first iterable uses the cell's names": ("xs = [1]\nys = [x for x in xs]", "xs ys", "", "", "", {}),
    "dict comprehension": ("inv = {v: k for k, v in d.items()}", "inv", "d", "", "", {"d": {"a": 1}}),
    "walrus in a comprehension binds in the cell": ("[last := v for v in vals]", "last", "vals", "", "", {"vals": [1, 2]}),
    "walrus in a condition": ("if (n := len(items)) > 1:\n    big = n", "n big", "items", "len", "", {"items": [1, 2, 3]}),
    "function reads its free names": (
        "def f(a, b=B):\n    return a * W + b", "f", "B W", "", "", {"B": 1, "W": 2},
    ),
    "closure over a local of the outer function": (
        "def outer():\n    s = S\n    def inner():\n        return s + T\n    return inner", "outer", "S T", "", "", {},
    ),
    "recursion is not a read": (
        "def fact(n):\n    return 1 if n == 0 else n * fact(n - 1)\nsix = fact(3)", "fact six", "", "", "", {},
    ),
    "lambda": ("g = lambda v: v * scale\nh = g(2)", "g h", "scale", "", "", {"scale": 3}),
    "imports": (
        "import numpy as np, os.path\nfrom math import sqrt as root, pi", "np os root pi", "", "", "", {},
    ),
    "del": ("del tmp", "tmp", "tmp", "", "", {"tmp": 1}),
    "a global that shadows a builtin": ("max = 3\nprint(max)", "max", "", "print", "", {}),
    "builtins are kept apart": ("print(len(xs))", "", "xs", "print len", "", {"xs": [1]}),
    "global statement in a function": (
        "def bump():\n    global counter\n    counter = counter + 1\nbump()", "bump counter", "counter", "", "",
        {"counter": 1},
    ),
    "class body is not visible to its methods": (
        "class C:\n    a = A\n    b = a + 1\n    def m(self):\n        return b\nout = C().m()", "C out", "A b", "", "",
        {"A": 1, "b": 5},
    ),
    "with targets": (
        "with ctx as (f1, f2):\n    data = f1 + f2", "f1 f2 data", "ctx", "", "", None,
    ),
    "for targets": ("for i, (a, b) in enumerate(pairs):\n    total = a + b", "i a b total", "pairs", "enumerate", "",
                    {"pairs": [(1, 2), (3, 4)]}),
    "item assignment changes an outside value": ("x[0] = v", "x", "x v", "", "x", {"x": [0, 0], "v": 1}),
    "item augmented assignment": ("h[0] += d", "h", "h d", "", "h", {"h": [1], "d": 2}),
    "attribute assignment": ("cfg.tag = 't'", "cfg", "cfg", "", "cfg", None),
    "item assignment into an own value": ("z = [0]\nz[0] = 1", "z", "", "", "", {}),
    "try / except as": (
        "try:\n    r = risky()\nexcept ValueError as err:\n    r = None", "r err", "risky", "ValueError", "",
        {"risky": lambda: 1},
    ),
    "annotated assignment": ("n: int = size\nm: float", "n", "size", "int float", "", {"size": 3}),
    "match captures": (
        "match cmd:\n    case [op, *args]:\n        res = op\n    case {'k': val, **rest}:\n        res = val",
        "op args res val rest", "cmd", "", "", {"cmd": ["go", 1]},
    ),
    "nonlocal": (
        "def make():\n    count = 0\n    def inc():\n        nonlocal count\n        count += 1\n        return count\n"
        "    return inc\nc = make()()", "make c", "", "", "", {},
    ),
    "attribute chain reads the base": ("y = np.exp(x).sum()", "y", "np x", "", "", None),
    "decorator": ("@cache\ndef f():\n    return 1", "f", "cache", "", "", {"cache": lambda fn: fn}),
    "method closing over a later cell-level name": (
        "def show():\n    return later\nlater = 1\nshown = show()", "show later shown", "later", "", "", {},
    ),
}


def _words(text):
    return frozenset(text.split())


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_static_names_match_python_scoping(case):
    source, defines, reads, builtins_read, mutates, _ = CASES[case]
    names = analyze_cell(source)
    assert names.defines == _words(defines)
    assert names.reads == _words(reads)
    assert names.builtins_read == _words(builtins_read)
    assert names.mutates == _words(mutates)


class RecordingGlobals(dict):
    """A globals dict that logs every lookup and store CPython makes in it, in order."""

    def __init__(self, values):
        super().__init__(values)
        self.events = []

    def __getitem__(self, name):
        self.events.append(("load", name))
        return super().__getitem__(name)

    def __setitem__(self, name, value):
        self.events.append(("store", name))
        super().__setitem__(name, value)

    def __delitem__(self, name):
        self.events.append(("store", name))
        super().__delitem__(name)


@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][5] is not None], ids=lambda c: c)
def test_static_names_cover_what_cpython_does(case):
    source, *_, environment = CASES[case]
    names = analyze_cell(source)
    namespace = RecordingGlobals(environment)
    exec(compile(source, "<case>", "exec"), namespace)
    first_event = {}
    for kind, name in namespace.events:
        if not name.startswith("__"):  # the interpreter's own bookkeeping (__annotations__, __builtins__)
            first_event.setdefault(name, kind)
    read_first = {name for name, kind in first_event.items() if kind == "load"}
    stored = {name for name, kind in first_event.items() if kind == "store"} | {
        name for kind, name in namespace.events if kind == "store" and name in first_event}
    assert read_first <= names.reads | names.builtins_read
    assert stored <= names.defines


def test_function_globals_record_call_time_lookups():
    names = analyze_cell(textwrap.dedent("""
        W = 2
        def f(x):
            return helper(x) * W
        g = lambda v: v + bias
        class Model:
            def forward(self, x):
                return f(x) + offset
        plain = 3
    """))
    assert names.function_globals == {
        "f": {"helper", "W"},  # W is bound in this cell, but f looks it up again each call
        "g": {"bias"},
        "Model": {"f", "offset"},
    }
    assert names.reads == {"helper", "bias", "offset"}


def test_redefinition_replaces_function_globals():
    names = analyze_cell("def f():\n    return A\nf = 3")
    assert "f" not in names.function_globals


def test_star_import_is_flagged():
    assert analyze_cell("from math import *").star_import


def test_syntax_error_is_raised():
    with pytest.raises(SyntaxError):
        analyze_cell("x = (1,\ny = 2")
