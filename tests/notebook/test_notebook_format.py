"""Export and import: .py (percent format), .ipynb (validated with nbformat when installed), and the
dict the page stores; plus reset to default sources."""
import json

import numpy as np
import pytest

from gpt2cells.notebook import Notebook
from gpt2cells.notebook_format import (
    cells_from_dict,
    cells_from_ipynb,
    cells_from_py,
    cells_to_dict,
    cells_to_ipynb,
    cells_to_py,
)

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


@pytest.mark.parametrize("dump, load", [(cells_to_py, cells_from_py), (cells_to_ipynb, cells_from_ipynb),
                                        (cells_to_dict, cells_from_dict)])
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


def test_dict_format_errors():
    with pytest.raises(ValueError, match="format"):
        cells_from_dict({"cells": []})
    with pytest.raises(ValueError, match="version 9"):
        cells_from_dict({"format": "gpt2cells-notebook", "version": 9, "cells": []})
    with pytest.raises(ValueError, match="step name"):
        cells_from_dict({"format": "gpt2cells-notebook", "version": 1, "cells": [{"id": "a b", "source": ""}]})


DEFAULTS = [("a", "x = np.arange(4.0)"), ("b", "y = x * 2\ny"), ("c", "s = y.sum()\ns")]


def test_notebook_export_import_keeps_cells_and_results():
    nb = Notebook(DEFAULTS, {"np": np})
    nb.set_source("b", "y = x * 3\ny")
    nb.run_all()
    for export, load in [(nb.export_py, "import_py"), (nb.export_ipynb, "import_ipynb")]:
        other = Notebook(DEFAULTS, {"np": np})
        getattr(other, load)(export())
        assert other.sources() == nb.sources()
        assert all(r.status == "idle" for r in other.results())
        other.run_all()
        assert other.namespace["s"] == nb.namespace["s"] == 18


def test_storage_dict_and_reset_to_defaults():
    nb = Notebook(DEFAULTS, {"np": np})
    nb.run_all()
    nb.set_source("b", "y = x + 100\ny")
    assert nb.edited_cells() == ["b"]
    stored = json.loads(json.dumps(nb.to_dict()))  # what localStorage would give back

    reloaded = Notebook.from_dict(stored, {"np": np}, defaults=DEFAULTS)
    assert reloaded.sources() == nb.sources() and reloaded.edited_cells() == ["b"]
    reloaded.run_all()
    assert reloaded.namespace["s"] == 406

    stale = reloaded.reset_cell("b")
    assert [r.id for r in stale] == ["b", "c"]
    assert reloaded.cell("b").source == dict(DEFAULTS)["b"] and reloaded.edited_cells() == []
    reloaded.run("b")
    assert reloaded.namespace["s"] == 12

    reloaded.add_cell("extra", "q = 1")
    with pytest.raises(KeyError, match="no default source"):
        reloaded.reset_cell("extra")


def test_replace_cells_clears_old_names():
    nb = Notebook(DEFAULTS, {"np": np})
    nb.run_all()
    nb.replace_cells([("only", "k = 1")])
    assert "x" not in nb.namespace and "np" in nb.namespace
    with pytest.raises(ValueError, match="used by another cell"):
        nb.replace_cells([("same", ""), ("same", "")])
    assert nb.sources() == [("only", "k = 1")]  # a failed import leaves the notebook as it was
