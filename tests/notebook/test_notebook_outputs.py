"""Cell outputs: last-expression values (`execute`) and the one output schema the page renders
(gpt2cells.notebook.outputs): grids for arrays (their numbers fetched as float32 windows), tables for
Tables and dicts, text for the rest. Oracles: the values themselves, numpy and repr in the test."""
import json

import numpy as np
import pytest

from gpt2cells.notebook.execute import execute
from gpt2cells.notebook.outputs import INLINE_LIMIT, Outputs
from gpt2cells.notebook_output import Table  # the path saved cells use


def strict_json(value):
    """JSON.parse in the page would accept it (no NaN/Infinity)."""
    return json.loads(json.dumps(value, allow_nan=False))


def run_one(source, globals=None, labels=None, vocab_size=None):
    run = execute(source, "cell", {"np": np, "Table": Table, **(globals or {})})
    assert run.error is None, run.error
    outputs = Outputs(vocab_size)
    return run, outputs.describe("cell", [run.value], source, labels), outputs


def window(outputs, rows, cols, head=0, tab=""):
    """The whole grid as the page fetches it: float32 bytes."""
    return np.frombuffer(outputs.slice("cell", tab, 0, head, 0, rows, 0, cols), dtype="<f4").reshape(rows, cols)


@pytest.mark.parametrize(
    "source, value",
    [
        ("1 + 1", 2),
        ("(1, 'two')", (1, "two")),
        ("np.float32(0.1)", np.float32(0.1)),
        ("np.array(3)", np.array(3)),
    ],
)
def test_last_expression_value_is_its_repr(source, value):
    run, output, _ = run_one(source)
    assert run.value == value
    assert strict_json(output) == {"kind": "text", "text": repr(value)}


def test_strings_and_dicts():
    _, output, _ = run_one("x = 'héllo'\nx")
    assert output == {"kind": "text", "text": "héllo"}
    _, output, _ = run_one("{'a': [1, 2.5, None], 'b': True}")
    assert strict_json(output) == {"kind": "table", "columns": ["name", "value"],
                                   "rows": [["a", "[1, 2.5, None]"], ["b", True]]}


def test_value_repr_and_non_json_values():
    _, output, _ = run_one("class Point:\n    def __repr__(self):\n        return 'Point()'\nPoint()")
    assert output == {"kind": "text", "text": "Point()"}
    _, output, _ = run_one("float('nan')")
    assert output == {"kind": "text", "text": "nan"}


@pytest.mark.parametrize("source", ["x = 5", "print('only print')", "None", "def f():\n    return 1", ""])
def test_no_output_without_a_last_expression_value(source):
    run, output, _ = run_one(source)
    assert output is None and run.value is None


def test_only_the_last_statement_is_the_value_and_prints_are_captured():
    run, output, _ = run_one("1\n2\nif True:\n    3")
    assert output is None
    run, _, _ = run_one("print('one')\nprint('two', 3, sep='-')\n1\n2")
    assert run.value == 2 and run.stdout == "one\ntwo-3\n"


def test_small_array_is_a_grid_with_exact_float32_values():
    values = np.array([[0.1, -2.5, 1 / 3], [1e-8, 123456.7, -0.0]], dtype=np.float32)
    _, output, outputs = run_one("x", {"x": values})
    output = strict_json(output)
    assert output["kind"] == "array" and output["shape"] == [2, 3]
    assert (output["rows"], output["cols"], output["heads"], output["layered"]) == (2, 3, 0, False)
    assert np.array_equal(window(outputs, 2, 3), values)
    rms = np.sqrt(np.mean(values.astype(np.float64) ** 2))
    assert output["scales"] == [{"kind": "diverging", "span": pytest.approx(min(123456.7, 3 * rms))}]


def test_non_finite_values_come_back_and_do_not_set_the_scale():
    scores = np.array([[0.5, -np.inf], [np.nan, -1.25]], dtype=np.float32)
    _, output, outputs = run_one("scores", {"scores": scores})
    output = strict_json(output)
    shown = window(outputs, 2, 2)
    assert shown[0, 1] == -np.inf and np.isnan(shown[1, 0]) and (shown[0, 0], shown[1, 1]) == (0.5, -1.25)
    assert output["scales"] == [{"kind": "diverging", "span": 1.25}]  # 3 rms of the finite values is more


def test_big_logits_table_is_fetched_in_windows_and_focuses_the_prediction():
    logits = np.random.default_rng(0).standard_normal((10, 50257)).astype(np.float32)
    logits[3, 50256] = -np.inf
    tokens = [f"tok{i}" for i in range(10)]
    _, output, outputs = run_one("logits", {"logits": logits}, labels=tokens, vocab_size=50257)
    output = strict_json(output)
    assert logits.size > INLINE_LIMIT and (output["rows"], output["cols"]) == (10, 50257)
    assert output["row_labels"] == tokens and output["col_labels"] is None and output["col_kind"] == "vocab"
    assert output["focus"] == [9, int(np.argmax(logits[9]))]
    part = np.frombuffer(outputs.slice("cell", "", 0, 0, 2, 4, 50250, 50257), dtype="<f4").reshape(2, 7)
    assert np.array_equal(part, logits[2:4, 50250:])


def test_attention_heads_are_a_selector_with_token_labels():
    attention = np.arange(2 * 3 * 3, dtype=np.float64).reshape(2, 3, 3) / 10
    tokens = ["The", " cat", " sat"]
    _, output, outputs = run_one("attention", {"attention": attention}, labels=tokens)
    assert (output["shape"], output["rows"], output["cols"], output["heads"]) == ([2, 3, 3], 3, 3, 2)
    assert output["row_labels"] == tokens and output["col_labels"] == tokens
    assert np.array_equal(window(outputs, 3, 3, head=1), attention[1].astype(np.float32))


def test_one_dimensional_array_is_one_row():
    _, output, outputs = run_one("np.array([5, 7, 9])")
    assert (output["shape"], output["rows"], output["cols"]) == ([3], 1, 3)
    assert window(outputs, 1, 3).tolist() == [[5, 7, 9]]


def test_a_tuple_of_arrays_is_tabs_named_by_the_last_line():
    q, k = np.ones((2, 4)), np.zeros((2, 4))
    _, output, outputs = run_one("q, k", {"q": q, "k": k})
    assert output["kind"] == "tabs" and [item["name"] for item in output["items"]] == ["q", "k"]
    assert np.array_equal(window(outputs, 2, 4, tab="q"), q) and np.array_equal(window(outputs, 2, 4, tab="k"), k)


def test_top_k_table():
    source = (
        "probs = np.array([0.1, 0.6, 0.3])\n"
        "order = np.argsort(-probs)[:2]\n"
        "Table([[vocab[i], int(i), float(probs[i])] for i in order],\n"
        "      col_labels=['token', 'id', 'probability'], title='next token')"
    )
    _, output, _ = run_one(source, {"vocab": [" a", " b", " c"]})
    assert strict_json(output) == {"kind": "table", "title": "next token", "columns": ["token", "id", "probability"],
                                   "rows": [[" b", 1, 0.6], [" c", 2, 0.3]]}


def test_numeric_table_with_labels_keeps_shortest_floats():
    table = Table(np.array([[1.5, -2.0], [0.1, np.inf]], dtype=np.float32), row_labels=["x", "y"], col_labels=["p", "q"])
    _, output, _ = run_one("table", {"table": table})
    assert strict_json(output)["columns"] == ["", "p", "q"]
    assert output["rows"] == [["x", 1.5, -2.0], ["y", 0.1, "inf"]]  # 0.1, not 0.10000000149011612


def test_big_table_is_a_grid_with_its_labels():
    data = np.arange(3 * 2000, dtype=np.float32).reshape(3, 2000)
    table = Table(data, row_labels=["a", "b", "c"])
    _, output, outputs = run_one("table", {"table": table})
    assert data.size > INLINE_LIMIT and output["kind"] == "array" and output["row_labels"] == ["a", "b", "c"]
    assert np.array_equal(window(outputs, 3, 2000), data)


def test_table_validation_errors_are_specific():
    with pytest.raises(ValueError, match="row 1 has 2"):
        Table([[1, 2, 3], [4, 5]])
    with pytest.raises(ValueError, match="row_labels: expected 2 labels"):
        Table([[1], [2]], row_labels=["only one"])
    run = execute("rows = [[1], [2]]\nTable(rows, col_labels=['a', 'b'])", "cell", {"Table": Table})
    assert run.error["line"] == 2 and "col_labels: expected 1 labels" in run.error["traceback"]


@pytest.mark.parametrize("source", ["np.full((3, 3), np.nan)", "{'x': np.float32(1.5)}", "np.array(['a', 'b'])",
                                    "np.array([True, False])", "np.array([1 + 2j])"])
def test_every_description_is_strict_json(source):
    _, output, _ = run_one(source)
    strict_json(output)
    if source.startswith("np.array([True") or source.startswith("np.full"):  # no finite span: the default 0…1
        assert output["scales"] == [{"kind": "range", "lo": 0.0, "hi": 1.0}]
