"""The notebook kernel: GPT-2's steps as cells that recalculate like a spreadsheet (docs/notebook-kernel.md).

    default_cells  the default cells as data, and CONTRACT: which of their names the kernel reads
    names          which names a cell defines, reads and mutates (static analysis with ast)
    execute        running one cell: value of its last expression, printed text, error
    units          cells and the units they run in (a group's cells run together once per layer)
    session        Session: units, namespace snapshots, what a run touches, stale marks
    outputs        the one output schema the page renders, and the arrays behind its grids
    table          Table, the labelled table a cell can return
    figures        Heatmap and HeadPatterns, the analysis cells' pictures
    generation     streaming Generate, token by token
    files          .py and .ipynb notebook files
    notebook       Notebook: one notebook open for one model, tying the above together for the page
"""
from .figures import HeadPatterns, Heatmap
from .table import Table
from .notebook import Notebook

__all__ = ["HeadPatterns", "Heatmap", "Notebook", "Table"]
