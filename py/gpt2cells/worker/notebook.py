"""The page's notebook entry points (`gpt2cells.worker.notebook.<function>`), called with plain data.

The notebook is opened for the model gpt2cells.worker.models holds and passes in; a call after another model
was loaded fails until the page opens the notebook again.
"""
from __future__ import annotations

from ..notebook import Notebook
from . import models

_notebook: Notebook | None = None


def _current() -> Notebook:
    if _notebook is None or _notebook.model is not models.active_model():
        raise RuntimeError("the notebook is not open for the active model (call open first)")
    return _notebook


def open(sources=None) -> dict:  # noqa: A001 - the page's verb
    """A fresh notebook for the active model, with the page's saved edits; nothing runs yet."""
    global _notebook
    _notebook = Notebook(models.active_model(), dict(sources or {}))
    _notebook.check_later = True  # the page shows a run at once and calls check() after it
    return _notebook.description()


def run(mode="all", cell_id=None, sources=None, layer=None, progress=None) -> dict:
    """layer: the layer the page shows (a long prompt's other layers are compared when shown: deltas_at)."""
    notebook = _current()
    ran = notebook.run(mode, cell_id, dict(sources or {}), progress=progress, layer=layer)
    return {"cells": notebook.states(), "ran": ran, "prediction": notebook.prediction(),
            "prediction_change": notebook.prediction_change(), "unchecked": len(notebook.unchecked)}


def check(seconds) -> dict:
    """After a run: compare what it left unchecked with the engine's values for about `seconds`."""
    return _current().check(float(seconds))


def deltas_at(layer) -> dict:
    """The page shows another layer: compare that layer's block cells whose Δ waited for it."""
    return _current().deltas_at(int(layer))


def output_slice(cell_id, path, layer, head, r0, r1, c0, c1) -> bytes:
    return _current().output_slice(cell_id, path, layer, head, r0, r1, c0, c1)


def output_scale(cell_id, path, layer) -> dict:
    """How to colour a grid at a layer its description left without a scale (a block cell's other layers)."""
    return _current().output_scale(cell_id, path, layer)


def compare_slice(kind, cell_id, path, layer, head, r0, r1, c0, c1) -> bytes:
    """A window of the engine's value ("reference") or of the cell's value minus it ("difference")."""
    return _current().compare_slice(kind, cell_id, path, layer, head, r0, r1, c0, c1)


def token_text(token_id) -> str:
    return _current().model.tokenizer.decode([int(token_id)])


def generate_begin(settings) -> dict:
    return _current().generate_begin(dict(settings))


def generate_for(seconds, progress) -> dict:
    return _current().generate_for(float(seconds), progress)


def generate_end() -> dict:
    return _current().generate_end()


def export_notebook(fmt, sources=None) -> str:
    return _current().export(fmt, dict(sources or {}))


def import_notebook(text, filename="") -> dict:
    return _current().import_(text, filename)
