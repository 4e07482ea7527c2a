"""Cell outputs: last-expression values, captured prints, and the JSON the page gets for values,
arrays (with windows of big ones) and Tables."""
import json

import numpy as np
import pytest

from gpt2cells.notebook import Notebook, Table
from gpt2cells.notebook_output import INLINE_LIMIT


def strict_json(value):
    """What JSON.parse in the page would get (no NaN/Infinity allowed)."""
    return json.loads(json.dumps(value, allow_nan=False))


def run_one(source, globals=None, **options):
    nb = Notebook([("cell", source)], {"np": np, **(globals or {})}, **options)
    result = nb.run_all()[0]
    assert result.status == "ok", result.error
    return nb, result


def decode(values):
    """JSON table values back to float64 (non-finite numbers arrive as strings)."""
    return np.array([[float(v) for v in row] for row in values])


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
    _, result = run_one(source)
    output = strict_json(result.output)
    assert output["kind"] == "value"
    assert output["json"] == expected


def test_value_repr_and_non_json_values():
    _, result = run_one("class Point:\n    def __repr__(self):\n        return 'Point()'\nPoint()")
    assert result.output == {"kind": "value", "type": "Point", "repr": "Point()"}
    _, result = run_one("float('nan')")
    assert result.output["repr"] == "nan" and "json" not in result.output


@pytest.mark.parametrize("source", ["x = 5", "print('only print')", "None", "def f():\n    return 1", ""])
def test_no_output_without_a_last_expression_value(source):
    _, result = run_one(source)
    assert result.output is None and result.value is None


def test_only_the_last_statement_is_the_value():
    _, result = run_one("1\n2\nif True:\n    3")
    assert result.output is None
    _, result = run_one("1\n2")
    assert result.value == 2


def test_print_and_warnings_are_captured_per_cell_and_streamed():
    streamed = []
    nb = Notebook(
        [("a", "print('one')\nprint('two', 3, sep='-')"), ("b", "import warnings\nwarnings.warn('careful')\nprint('b')")],
        on_output=lambda step, name, text: streamed.append((step, name, text)),
    )
    a, b = nb.run_all()
    assert a.stdout == "one\ntwo-3\n" and a.stderr == ""
    assert b.stdout == "b\n" and "UserWarning: careful" in b.stderr
    assert "".join(t for s, n, t in streamed if (s, n) == ("a", "stdout")) == a.stdout
    assert any(s == "b" and n == "stderr" for s, n, _ in streamed)


def test_stale_cell_keeps_its_previous_output():
    nb = Notebook([("a", "x = 2"), ("b", "y = x * 3\ny")])
    nb.run_all()
    nb.set_source("a", "x = 1")
    assert nb.cell("b").result.status == "stale" and nb.cell("b").result.value == 6


def test_small_array_is_sent_whole_with_exact_float32_values():
    values = np.array([[0.1, -2.5, 1 / 3], [1e-8, 123456.7, -0.0]], dtype=np.float32)
    _, result = run_one("x", {"x": values})
    output = strict_json(result.output)
    assert output["kind"] == "array"
    assert output["shape"] == [2, 3] and output["dtype"] == "float32"
    assert (output["rows"], output["cols"], output["leading_shape"]) == (2, 3, [])
    assert output["data"][0][0] == 0.1  # shortest form, not 0.10000000149011612
    assert np.array_equal(np.array(output["data"], dtype=np.float32), values)
    assert (output["min"], output["max"]) == (float(str(values.min())), float(str(values.max())))


def test_non_finite_values_are_strings_and_do_not_set_the_range():
    scores = np.array([[0.5, -np.inf], [np.nan, -1.25]], dtype=np.float32)
    _, result = run_one("scores", {"scores": scores})
    output = strict_json(result.output)
    assert output["data"] == [[0.5, "-inf"], ["nan", -1.25]]
    assert (output["min"], output["max"]) == (-1.25, 0.5)


def test_big_logits_table_is_fetched_in_windows():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((10, 50257)).astype(np.float32)
    logits[3, 50256] = -np.inf
    tokens = [f"tok{i}" for i in range(10)]
    nb, result = run_one("logits", {"logits": logits, "tokens": tokens}, token_labels="tokens")
    output = strict_json(result.output)
    assert output["data"] is None and logits.size > INLINE_LIMIT
    assert (output["rows"], output["cols"]) == (10, 50257)
    finite = logits[np.isfinite(logits)]
    assert (output["min"], output["max"]) == (float(str(finite.min())), float(str(finite.max())))
    assert output["row_labels"] == tokens and output["col_labels"] is None

    window = strict_json(nb.output_slice("cell", rows=(2, 5), cols=(50200, 50300)))
    assert window["rows"] == [2, 5] and window["cols"] == [50200, 50257]  # clamped to the table
    assert window["row_labels"] == tokens[2:5] and window["col_labels"] is None
    assert np.array_equal(decode(window["data"]).astype(np.float32), logits[2:5, 50200:50257])
    assert window["data"][1][-1] == "-inf"

    raw = nb.output_slice_float32("cell", rows=(0, 10), cols=(7, 9))
    assert raw.dtype == np.float32 and raw.flags.c_contiguous
    assert np.array_equal(raw, logits[:, 7:9])


def test_attention_heads_are_picked_with_an_index():
    attention = np.arange(2 * 3 * 3, dtype=np.float64).reshape(2, 3, 3) / 10
    tokens = ["The", " cat", " sat"]
    nb, result = run_one("att", {"att": attention, "tokens": tokens}, token_labels="tokens")
    output = result.output
    assert (output["rows"], output["cols"], output["leading_shape"]) == (3, 3, [2])
    assert output["row_labels"] == tokens and output["col_labels"] == tokens
    assert output["data"] == attention.tolist()
    window = nb.output_slice("cell", rows=(1, 3), cols=(0, 2), index=(1,))
    assert window["data"] == attention[1, 1:3, 0:2].tolist()
    assert window["col_labels"] == ["The", " cat"]
    with pytest.raises(IndexError):
        nb.output_slice("cell", rows=(0, 1), cols=(0, 1), index=(2,))
    with pytest.raises(IndexError):
        nb.output_slice("cell", rows=(0, 1), cols=(0, 1))


def test_one_dimensional_array_is_one_row():
    nb, result = run_one("np.array([5, 7, 9])")
    assert (result.output["shape"], result.output["rows"], result.output["cols"]) == ([3], 1, 3)
    assert result.output["data"] == [5, 7, 9]
    assert nb.output_slice("cell", rows=(0, 1), cols=(1, 3))["data"] == [[7, 9]]


def test_top_k_table():
    source = (
        "probs = np.array([0.1, 0.6, 0.3])\n"
        "order = np.argsort(-probs)[:2]\n"
        "Table([[vocab[i], int(i), float(probs[i])] for i in order],\n"
        "      col_labels=['token', 'id', 'probability'], title='next token')"
    )
    nb, result = run_one(source, {"vocab": [" a", " b", " c"]})
    output = strict_json(result.output)
    assert output["kind"] == "table" and output["title"] == "next token"
    assert output["col_labels"] == ["token", "id", "probability"]
    assert output["data"] == [[" b", 1, 0.6], [" c", 2, 0.3]]
    assert output["min"] is None  # mixed columns: no single heatmap range
    assert nb.output_slice("cell", rows=(1, 2), cols=(0, 3))["data"] == [[" c", 2, 0.3]]
    with pytest.raises(ValueError, match="no float32 form"):
        nb.output_slice_float32("cell", rows=(0, 1), cols=(0, 1))


def test_numeric_table_with_labels_has_a_range():
    table = Table(np.array([[1.5, -2.0], [0.25, 4.0]], dtype=np.float32), row_labels=["x", "y"], col_labels=["p", "q"])
    _, result = run_one("t", {"t": table})
    assert (result.output["min"], result.output["max"]) == (-2.0, 4.0)
    assert result.output["row_labels"] == ["x", "y"]


def test_table_validation_errors_are_specific():
    with pytest.raises(ValueError, match="row 1 has 2"):
        Table([[1, 2, 3], [4, 5]])
    with pytest.raises(ValueError, match="row_labels: expected 2 labels"):
        Table([[1], [2]], row_labels=["only one"])
    result = Notebook([("cell", "rows = [[1], [2]]\nTable(rows, col_labels=['a', 'b'])")]).run_all()[0]
    assert result.status == "error" and result.error["line"] == 2
    assert "col_labels: expected 1 labels" in result.error["message"]


def test_output_slice_of_a_cell_without_table_output():
    nb, _ = run_one("3")
    with pytest.raises(ValueError, match="no array or Table output"):
        nb.output_slice("cell", rows=(0, 1), cols=(0, 1))


def test_every_result_is_strict_json():
    nb = Notebook(
        [
            ("a", "np.full((3, 3), np.nan)"),
            ("b", "{'x': np.float32(1.5)}"),
            ("c", "np.array(['a', 'b'])"),
            ("d", "np.array([True, False])"),
            ("e", "np.array([1 + 2j])"),
            ("f", "1 / 0"),
        ],
        {"np": np},
    )
    for result in nb.run_all():
        strict_json(result.to_json())
    assert nb.cell("d").result.output["min"] == 0 and nb.cell("d").result.output["max"] == 1
    assert nb.cell("a").result.output["min"] is None
