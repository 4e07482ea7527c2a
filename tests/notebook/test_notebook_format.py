"""Export and import: .py (percent format) and .ipynb (validated with nbformat when installed)."""
import json

import pytest

from gpt2cells.notebook.files import cells_from_ipynb, cells_from_py, cells_to_ipynb, cells_to_py

TRICKY = [
    ("prompt", 'prompt = "Hello, my name is"'),
    ("empty", ""),
    ("trailing-newline", "x = 1\n"),
    ("two-trailing-newlines", "y = 2\n\n"),
    ("leading_blank", "\n\nz = 3"),
    ("inner-blank-lines", "def f(v):\n\n    return v\n\n\nw = f(4)"),
    ("unicode", "s = 'héllo ☃ ␣'  # comment with # %% inside the line"),
    ("tabs-and-crlf", "if True:\r\n\tq = 1\r\n"),
    ("only-newline", "\n"),
    ("last", "result = 42"),
]


@pytest.mark.parametrize("dump, load", [(cells_to_py, cells_from_py), (cells_to_ipynb, cells_from_ipynb)])
def test_round_trip_is_exact(dump, load):
    assert load(dump(TRICKY)) == TRICKY
    assert load(dump(TRICKY[::-1])) == TRICKY[::-1]
    assert load(dump(TRICKY[:1])) == TRICKY[:1]
    assert load(dump([("only-empty", "")])) == [("only-empty", "")]


def test_py_file_layout():
    text = cells_to_py([("a", "x = 1"), ("b", "y = x + 1")])
    body = text[text.index("# %% [a]"):]
    assert body == "# %% [a]\nx = 1\n\n# %% [b]\ny = x + 1\n"
    assert all(line.startswith("#") for line in text[: text.index("# %% [a]")].splitlines() if line)


def test_py_export_refuses_a_source_that_would_split():
    with pytest.raises(ValueError, match="cell 'a'"):
        cells_to_py([("a", "x = 1\n# %% [b]\ny = 2")])


def test_py_import_of_hand_written_files():
    text = "import numpy as np\n\n# %%\nx = 1\n# %% [my step] extra title\ny = 2\n# %% [my step]\nz = 3"
    assert cells_from_py(text) == [
        ("preamble", "import numpy as np"),
        ("cell-1", "x = 1"),
        ("my-step", "y = 2"),
        ("my-step-2", "z = 3"),
    ]
    assert cells_from_py("print('no markers')\n") == [("cell-1", "print('no markers')\n")]


def test_ipynb_structure():
    notebook = json.loads(cells_to_ipynb(TRICKY))
    assert (notebook["nbformat"], notebook["nbformat_minor"]) == (4, 5)
    assert notebook["metadata"]["kernelspec"]["language"] == "python"
    assert notebook["metadata"]["language_info"]["name"] == "python"
    ids = [cell["id"] for cell in notebook["cells"]]
    assert ids == [name for name, _ in TRICKY] and len(set(ids)) == len(ids)
    for cell, (name, source) in zip(notebook["cells"], TRICKY):
        assert cell["cell_type"] == "code" and cell["outputs"] == [] and cell["execution_count"] is None
        assert cell["metadata"] == {"gpt2cells": {"step": name}}
        assert isinstance(cell["source"], list) and "".join(cell["source"]) == source
        assert all(line.endswith(("\n", "\r")) for line in cell["source"][:-1])


def test_ipynb_is_valid_nbformat_4_5():
    nbformat = pytest.importorskip("nbformat")
    text = cells_to_ipynb(TRICKY)
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)  # raises ValidationError if not valid
    assert notebook.nbformat_minor == 5
    assert ["".join(cell.source) for cell in notebook.cells] == [source for _, source in TRICKY]
    # and what nbformat itself writes imports back to the same cells
    assert cells_from_ipynb(nbformat.writes(notebook)) == TRICKY


def test_ipynb_import_skips_markdown_and_uses_ids_when_no_step_metadata():
    notebook = {
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": "# Title"},
            {"cell_type": "code", "id": "abc", "metadata": {}, "outputs": [], "execution_count": 1, "source": "a = 1"},
            {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": ["b = 2\n", "b"]},
        ],
    }
    assert cells_from_ipynb(notebook) == [("abc", "a = 1"), ("cell-3", "b = 2\nb")]
    with pytest.raises(ValueError, match="nbformat 4"):
        cells_from_ipynb({"nbformat": 3, "worksheets": []})
