"""Notebook files: `.py` in the percent format and Jupyter `.ipynb`.

Every format keeps each cell's step name and its exact source, so exporting and importing gives
back the same cells. A notebook here is just a list of `(step_name, source)` pairs.

- `.py`: each cell starts with a line `# %% [step-name]`; one blank line separates cells. Lines
  before the first marker are a comment header (ignored on import unless they hold code).
- `.ipynb`: nbformat 4.5 — code cells whose `id` is the step name, metadata
  `{"gpt2cells": {"step": name}}`, no outputs. Markdown and raw cells are skipped on import.
"""
from __future__ import annotations

import json
import re
import sys

STEP_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # also a valid nbformat cell id and data-testid suffix
PY_MARKER = re.compile(r"^# %%(?:[ \t]+\[([^\]\n]*)\])?(?:[ \t][^\n]*)?\r?$", re.MULTILINE)
FORMAT_VERSION = 1  # of the cells layout in our files (recorded in .ipynb metadata)
PY_HEADER = "# GPT-2 Cells notebook. Each `# %% [step]` line starts a cell; the page provides its globals.\n\n"


def check_step_name(name: str) -> str:
    if not isinstance(name, str) or not STEP_NAME.fullmatch(name):
        raise ValueError(f"step name {name!r} must be 1-64 letters, digits, '-' or '_'")
    return name


# -- .py (percent format) ----------------------------------------------------------------------

def cells_to_py(cells, header: str = PY_HEADER) -> str:
    for name, source in cells:
        check_step_name(name)
        if PY_MARKER.search(source):
            raise ValueError(f"cell {name!r} has a line starting with '# %%', which would split it in a .py file")
    body = "\n\n".join(f"# %% [{name}]\n{source}" for name, source in cells)
    return header + body + "\n"


def cells_from_py(text: str) -> list[tuple[str, str]]:
    markers = list(PY_MARKER.finditer(text))
    if not markers:
        return [("cell-1", text)]
    cells = []
    preamble = text[: markers[0].start()]
    if any(line.strip() and not line.lstrip().startswith("#") for line in preamble.splitlines()):
        cells.append(("preamble", _strip_one(preamble, "\n\n")))
    for i, marker in enumerate(markers):
        is_last = i + 1 == len(markers)
        chunk = text[marker.end() + 1 : len(text) if is_last else markers[i + 1].start()]
        source = _strip_one(chunk, "\n") if is_last else _strip_one(chunk, "\n\n")
        cells.append((marker.group(1) or f"cell-{i + 1}", source))
    return _unique_step_names(cells)


def _strip_one(chunk: str, separator: str) -> str:
    """Remove the separator the exporter added (or a shorter one a hand edit left)."""
    for ending in (separator, "\n"):
        if chunk.endswith(ending):
            return chunk[: -len(ending)]
    return chunk


# -- .ipynb (nbformat 4.5) ---------------------------------------------------------------------

def cells_to_ipynb(cells) -> str:
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": check_step_name(name),
                "metadata": {"gpt2cells": {"step": name}},
                "outputs": [],
                "source": source.splitlines(keepends=True),
            }
            for name, source in cells
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {
                "name": "python",
                "version": sys.version.split()[0],
                "file_extension": ".py",
                "mimetype": "text/x-python",
                "codemirror_mode": {"name": "ipython", "version": 3},
                "pygments_lexer": "ipython3",
                "nbconvert_exporter": "python",
            },
            "gpt2cells": {"format_version": FORMAT_VERSION},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def cells_from_ipynb(notebook) -> list[tuple[str, str]]:
    """Code cells of an .ipynb (its JSON text or the parsed dict)."""
    if isinstance(notebook, (str, bytes)):
        notebook = json.loads(notebook)
    if not isinstance(notebook, dict) or notebook.get("nbformat") != 4 or not isinstance(notebook.get("cells"), list):
        raise ValueError(".ipynb: expected a Jupyter notebook with nbformat 4 and a list of cells")
    cells = []
    for i, cell in enumerate(notebook["cells"]):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        step = ((cell.get("metadata") or {}).get("gpt2cells") or {}).get("step")
        cells.append((step or cell.get("id") or f"cell-{i + 1}", source))
    return _unique_step_names(cells)


def _unique_step_names(cells: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Imported names may come from anywhere: make them valid and distinct."""
    taken: set[str] = set()
    result = []
    for name, source in cells:
        base = name if STEP_NAME.fullmatch(name) else re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:60] or "cell"
        unique, n = base, 2
        while unique in taken:
            unique, n = f"{base}-{n}", n + 1
        taken.add(unique)
        result.append((unique, source))
    return result


# -- the notebook's export and import ----------------------------------------------------------

def export_cells(cells, fmt: str) -> str:
    """The (step, source) pairs as a .py ("py") or .ipynb ("ipynb") file's text."""
    if fmt == "py":
        return cells_to_py(cells)
    if fmt == "ipynb":
        return cells_to_ipynb(cells)
    raise ValueError(f"export format must be 'py' or 'ipynb', got {fmt!r}")


def import_cells(text: str, filename: str, known_steps: list[str]) -> tuple[dict, int]:
    """({step: source} of a file's cells this notebook has, how many other cells the file had)."""
    if filename.endswith(".ipynb") or text.lstrip().startswith("{"):
        cells = cells_from_ipynb(text)
    else:
        cells = cells_from_py(text)
    sources = {step: source for step, source in cells if step in known_steps}
    if not sources:
        raise ValueError(f"{filename or 'the file'} has no cell named like this notebook's steps "
                         f"({', '.join(known_steps[:4])}, …)")
    return sources, len(cells) - len(sources)
