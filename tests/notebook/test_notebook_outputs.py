"""Cell outputs: last-expression values (the session's `execute`) and the strict JSON `describe` gives
the page for values, arrays and Tables."""
import json

import numpy as np
import pytest

from gpt2cells.notebook_output import INLINE_LIMIT, Table, describe
from gpt2cells.notebook_session import execute


def strict_json(value):
    """What JSON.parse in the page would get (no NaN/Infinity allowed)."""
    return json.loads(json.dumps(value, allow_nan=False))


def run_one(source, globals=None):
    run = execute(source, "cell", {"np": np, "Table": Table, **(globals or {})})
    assert run.error is None, run.error
    return run, describe(run.value)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("1 + 1", 2),
        ("x = 'héllo'\nx", "héllo"),
        ("{'a': [1, 2.5, None], 'b': True}", {"a": [1, 2.5, None], "b": True}),
        ("(1, 'two')", [1, "two"]),
        ("np.float32(0.1)", 0.1),
        ("np.array(3)", 3),
    ],
)
def test_last_expression_value(source, expected):
    _, output = run_one(source)
    output = strict_json(output)
    assert output["kind"] == "value"
    assert output["json"] == expected


def test_value_repr_and_non_json_values():
    _, output = run_one("class Point:\n    def __repr__(self):\n        return 'Point()'\nPoint()")
    assert output == {"kind": "value", "type": "Point", "repr": "Point()"}
    _, output = run_one("float('nan')")
    assert output["repr"] == "nan" and "json" not in output


@pytest.mark.parametrize("source", ["x = 5", "print('only print')", "None", "def f():\n    return 1", ""])
def test_no_output_without_a_last_expression_value(source):
    run, output = run_one(source)
    assert output is None and run.value is None


def test_only_the_last_statement_is_the_value_and_prints_are_captured():
    run, output = run_one("1\n2\nif True:\n    3")
    assert output is None
    run, _ = run_one("print('one')\nprint('two', 3, sep='-')\n1\n2")
    assert run.value == 2 and run.stdout == "one\ntwo-3\n"


def test_small_array_is_sent_whole_with_exact_float32_values():
    values = np.array([[0.1, -2.5, 1 / 3], [1e-8, 123456.7, -0.0]], dtype=np.float32)
    _, output = run_one("x", {"x": values})
    output = strict_json(output)
    assert output["kind"] == "array"
    assert output["shape"] == [2, 3] and output["dtype"] == "float32"
    assert (output["rows"], output["cols"], output["leading_shape"]) == (2, 3, [])
    assert output["data"][0][0] == 0.1  # shortest form, not 0.10000000149011612
    assert np.array_equal(np.array(output["data"], dtype=np.float32), values)
    assert (output["min"], output["max"]) == (float(str(values.min())), float(str(values.max())))


def test_non_finite_values_are_strings_and_do_not_set_the_range():
    scores = np.array([[0.5, -np.inf], [np.nan, -1.25]], dtype=np.float32)
    _, output = run_one("scores", {"scores": scores})
    output = strict_json(output)
    assert output["data"] == [[0.5, "-inf"], ["nan", -1.25]]
    assert (output["min"], output["max"]) == (-1.25, 0.5)


def test_big_logits_table_is_not_inlined():
    logits = np.random.default_rng(0).standard_normal((10, 50257)).astype(np.float32)
    logits[3, 50256] = -np.inf
    tokens = [f"tok{i}" for i in range(10)]
    output = strict_json(describe(logits, tokens))
    assert output["data"] is None and logits.size > INLINE_LIMIT
    assert (output["rows"], output["cols"]) == (10, 50257)
    finite = logits[np.isfinite(logits)]
    assert (output["min"], output["max"]) == (float(str(finite.min())), float(str(finite.max())))
    assert output["row_labels"] == tokens and output["col_labels"] is None


def test_attention_heads_are_leading_axes_with_token_labels():
    attention = np.arange(2 * 3 * 3, dtype=np.float64).reshape(2, 3, 3) / 10
    tokens = ["The", " cat", " sat"]
    output = describe(attention, tokens)
    assert (output["rows"], output["cols"], output["leading_shape"]) == (3, 3, [2])
    assert output["row_labels"] == tokens and output["col_labels"] == tokens
    assert output["data"] == attention.tolist()


def test_one_dimensional_array_is_one_row():
    _, output = run_one("np.array([5, 7, 9])")
    assert (output["shape"], output["rows"], output["cols"]) == ([3], 1, 3)
    assert output["data"] == [5, 7, 9]


def test_top_k_table():
    source = (
        "probs = np.array([0.1, 0.6, 0.3])\n"
        "order = np.argsort(-probs)[:2]\n"
        "Table([[vocab[i], int(i), float(probs[i])] for i in order],\n"
        "      col_labels=['token', 'id', 'probability'], title='next token')"
    )
    _, output = run_one(source, {"vocab": [" a", " b", " c"]})
    output = strict_json(output)
    assert output["kind"] == "table" and output["title"] == "next token"
    assert output["col_labels"] == ["token", "id", "probability"]
    assert output["data"] == [[" b", 1, 0.6], [" c", 2, 0.3]]
    assert output["min"] is None  # mixed columns: no single heatmap range


def test_numeric_table_with_labels_has_a_range():
    table = Table(np.array([[1.5, -2.0], [0.25, 4.0]], dtype=np.float32), row_labels=["x", "y"], col_labels=["p", "q"])
    output = describe(table)
    assert (output["min"], output["max"]) == (-2.0, 4.0)
    assert output["row_labels"] == ["x", "y"]


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
    _, output = run_one(source)
    strict_json(output)
    if source.startswith("np.array([True"):
        assert (output["min"], output["max"]) == (0, 1)
    if source.startswith("np.full"):
        assert output["min"] is None
