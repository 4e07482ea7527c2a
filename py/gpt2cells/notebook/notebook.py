"""One notebook open for one model: its cells, a Session running them, their outputs, Generate, files.

This is what the worker's notebook entry points (gpt2cells.worker.notebook) call with the model they pass
in; tests use it directly on CPython with a model from gpt2cells.load. Everything the page receives is
plain JSON-able data (`state`, `description`).
"""
from __future__ import annotations

import builtins
import time

import numpy as np

from ..matmul import ROWS_ALONE_EXACT
from . import files
from .default_cells import CONTRACT, GROUPS, PARTS, default_cells
from .execute import CellRun
from .generation import Generation, new_tokens_room
from .outputs import Outputs, grid_view, last_expression_names, split_arrays
from .reference import (BLOCK_PREFIX, CHUNK, EQUAL, LogitRows, Reference, combine, compare, difference, match_tabs,
                        prediction_change, shaped_prints, trace_names)
from .session import Session
from .units import Cell

PROMPT_CELL = "prompt"  # the reference follows the prompt: editing it is no edit of the model's computation


class Notebook:
    def __init__(self, model, sources: dict | None = None):
        self.model = model
        self.specs = default_cells(getattr(model.tokenizer, "kind", "bpe"))
        self.cells = {spec.id: Cell(spec, spec.source) for spec in self.specs}
        self.position = {spec.id: index for index, spec in enumerate(self.specs)}
        self.update_sources(sources)
        self.outputs = Outputs(getattr(model.config, "vocab_size", None))
        base = {"__name__": "__notebook__", "__builtins__": builtins, CONTRACT.model: model}
        self.session = Session(list(self.cells.values()), GROUPS, base, self.describe_outputs, self.summarize_layer,
                               observe=self.observe_pass, release=self.release_outputs)
        self.generation: Generation | None = None
        self.reference: Reference | None = None  # the engine's values for the current prompt
        self.traced = traced_names(self.specs)  # what a Reference records, the same for every prompt
        self.deltas: dict[str, list] = {}  # cell id -> per pass, how its value differs from the reference
        self.shown_reference = None  # (cell id, layer, {tab: reference array}) of the last reference/difference shown
        # check_later: what the page does not show yet is compared later. A run that edits nothing does not
        # wait for the engine's values of a new prompt: it keeps its cells' fingerprints in `unchecked`, and
        # `check` compares them afterwards (the page calls it in slices once the run is shown). And a block
        # cell that differs is compared in full only at the layer shown (`shown_layer`); another layer's Δ is
        # computed when the page shows it (`deltas_at`; at a long prompt that layer's engine pass too). At a
        # long prompt a big cell outside the block that differs (the logits) is compared by `check` too.
        # Off: every run compares everything at once (tests on CPython).
        self.check_later = False
        self.shown_layer = 0
        # (cell id, layer) -> (trace names, shaped_prints, or None for a value known to differ: compared in full)
        self.unchecked: dict[tuple[str, int], tuple[list, list | None]] = {}

    @property
    def arrays(self) -> dict:
        """(cell id, tab) -> the [passes, selector, rows, cols] view behind a grid (a LazyGrid for a block cell)."""
        return self.outputs.views

    def cell_value(self, cell_id: str, layer: int = 0):
        """A cell's value as its last run left it; a block cell's at `layer` (computed again if let go)."""
        cell = self.cells[cell_id]
        if cell.spec.group is None:
            return cell.values[0] if cell.values else None
        return self.session.value_at(cell_id, layer)

    def update_sources(self, sources: dict | None) -> None:
        for cell_id, source in (sources or {}).items():
            if cell_id in self.cells and isinstance(source, str):
                self.cells[cell_id].source = source
        # the cells whose code is not the default's, the prompt aside (what `pristine` asks, for every pass)
        self.edited = [spec for spec in self.specs if spec.id != PROMPT_CELL and self.cells[spec.id].source != spec.source]

    def final_namespace(self) -> dict:
        return self.session.final_namespace()

    def run(self, mode: str = "all", cell_id: str | None = None, sources: dict | None = None, progress=None,
            layer: int | None = None) -> list[str]:
        """Run cells like a spreadsheet (Session.run); progress hears each unit's cells as page states; layer:
        the layer the page shows."""
        report = progress or (lambda message: None)
        if layer is not None:
            self.shown_layer = int(layer)

        def relay(message):
            if message["event"] == "done":
                message = {"event": "done", "states": [self.state(cell) for cell in message["cells"]]}
            report(message)

        self.update_sources(sources)
        self.generation = None
        if self.reference is not None:
            self.reference.forget_windows()  # the run's arrays need the room more than the grids' windows
        try:
            return self.session.run(mode, cell_id, relay)
        finally:
            if self.reference is not None:
                self.reference.forget_layer()  # the last layer compared

    def describe_outputs(self, cells: list[Cell], namespace: dict, grouped: bool) -> None:
        labels = token_labels(namespace)
        self.reference_for(namespace)
        self.shown_reference = None
        for cell in cells:
            self.outputs.forget(cell.id)
            if not grouped:
                self.deltas[cell.id] = [self.delta_of(cell, cell.values[0], 0)] if cell.status == "ok" and cell.values else []
            if not (cell.status == "ok" or cell.values):
                continue
            if grouped:
                cell.output = self.outputs.describe_layers(
                    cell.id, cell.summaries, cell.source, labels, lambda layer, cell_id=cell.id: self.session.value_at(cell_id, layer))
            else:
                cell.output = self.outputs.describe(cell.id, cell.values, cell.source, labels)

    def release_outputs(self, cells: list[Cell]) -> None:
        """The cells run again: their grids' arrays (and a reference window shown of them) are no longer shown."""
        for cell in cells:
            self.outputs.forget(cell.id)
        self.shown_reference = None

    def summarize_layer(self, value, source: str, layer: int):
        # a long prompt's every layer is coloured as it runs: a grid shows another layer from a window of it
        # (engine_rows), which cannot give the whole layer's colour scale
        every_layer = self.reference is not None and not self.reference.short
        return self.outputs.summarize(value, source, shown=every_layer or layer == self.shown_layer)

    def output_slice(self, cell_id, path, layer, head, r0, r1, c0, c1) -> bytes:
        window = self.engine_rows(cell_id, path or "", int(layer), int(r0), int(r1))
        if window is None:
            return self.outputs.slice(cell_id, path, layer, head, r0, r1, c0, c1)
        first, grid = window  # [selector, rows from position first, cols]
        s = min(int(head), grid.shape[0] - 1)
        values = grid[s, int(r0) - first:int(r1) - first, int(c0):int(c1)]  # [rows, cols]
        return np.ascontiguousarray(values, dtype="<f4").tobytes()

    def engine_rows(self, cell_id: str, key: str, layer: int, r0: int, r1: int):
        """(first, [selector, rows, cols]): a block cell's grid at `layer` for positions first… covering
        [r0, r1), made by the engine (Reference.rows: a window of the layer, not the layer) when the cell's value
        there is the engine's bit for bit: pristine (no edit before it) and not found to differ (the engine's
        fingerprint, or "checking" until the check says), and the engine's rows computed alone are the whole
        layer's (in the page; not with BLAS). None: slice the cell's own value, computed again from its code if
        let go."""
        cell = self.cells.get(cell_id)
        if not ROWS_ALONE_EXACT or cell is None or cell.spec.group is None or cell.status != "ok" or self.reference is None:
            return None
        deltas = self.deltas.get(cell_id) or []
        delta = (deltas[layer] if 0 <= layer < len(deltas) else None) or {}
        exact = delta.get("mark") == "checking" or (delta.get("mark") == "engine" and delta.get("max_abs") == 0)
        if not (exact and delta.get("pristine")):
            return None
        shapes = cell.summaries[layer].shapes if layer < len(cell.summaries) else None
        names = trace_names(cell.spec.trace)
        if not shapes or key not in shapes or not all(name.startswith(BLOCK_PREFIX) for name in names):
            return None
        first, values = self.reference.rows(layer, r0, r1, self.reference.entering(layer))
        matched = match_tabs(shapes, [values[name[len(BLOCK_PREFIX):]] for name in names])
        return None if matched is None else (first, grid_view(matched[key], layered=False)[0])

    def output_scale(self, cell_id, path, layer) -> dict:
        return self.outputs.scale(cell_id, path, layer)

    # -------------------------------------------------------------- state for the page

    def state(self, cell: Cell) -> dict:
        run = cell.run or CellRun()
        return {
            "id": cell.id,
            "title": cell.spec.title,
            "doc": cell.spec.doc,
            "trace": cell.spec.trace,
            "group": cell.spec.group,
            "source": cell.source,
            "default_source": cell.spec.source,
            "status": cell.status,
            "duration_ms": round(run.duration_ms, 3) if cell.run else None,
            "stdout": run.stdout,
            "error": run.error,
            "output": cell.output if cell.status in ("ok", "stale") else None,
            "runs": cell.runs,
            "delta": self.delta_state(cell),
        }

    def states(self) -> list[dict]:
        return [self.state(self.cells[spec.id]) for spec in self.specs]

    def prediction(self) -> dict | None:
        cell = self.cells.get(CONTRACT.prediction_cell)
        if cell is None or cell.status != "ok":
            return None
        probs = self.final_namespace().get(CONTRACT.prediction)
        if not isinstance(probs, np.ndarray) or probs.ndim != 1 or probs.size == 0:
            return None
        token_id = int(np.argmax(probs))
        return {"id": token_id, "text": self.model.tokenizer.decode([token_id]), "prob": float(probs[token_id])}

    def prediction_change(self) -> dict | None:
        """The prediction before → after the edits: the engine's next-token probabilities beside the cells'."""
        reference = self.reference
        if self.prediction() is None or reference is None or self.unchecked:
            return None  # a run that edits nothing shows it once its values are checked
        namespace = self.final_namespace()
        if not reference.matches(self.model, namespace.get(CONTRACT.prompt_ids)):
            return None
        probs, before = namespace[CONTRACT.prediction], reference.last_probs  # [n_vocab] each
        return prediction_change(before, probs, self.model.tokenizer.decode) if before.shape == probs.shape else None

    def description(self) -> dict:
        config = self.model.config
        return {
            "cells": self.states(),
            "groups": [{"id": g.id, "title": g.title, "doc": g.doc} for g in GROUPS],
            "parts": [{"id": p.id, "title": p.title, "doc": p.doc, "first": p.first} for p in PARTS],
            "model": {"n_layer": config.n_layer, "n_head": config.n_head, "n_embd": config.n_embd,
                      "vocab_size": config.vocab_size, "tokenizer": getattr(self.model.tokenizer, "kind", "bpe")},
            "prediction": self.prediction(),
            "prediction_change": self.prediction_change(),
        }

    # -------------------------------------------------------------- the engine's values: what an edit changed

    def reference_for(self, namespace: dict) -> None:
        """The engine's values for the prompt's ids, computed again only when the ids (or the model) change."""
        ids = namespace.get(CONTRACT.prompt_ids)
        if ids is None or (self.reference is not None and self.reference.matches(self.model, ids)):
            return
        try:
            self.reference = Reference(self.model, ids, *self.traced, held=self.session.pass_input_arrays)
            self.unchecked.clear()  # fingerprints of another prompt's values
        except Exception:  # ids the engine refuses (the token_ids cell says why): nothing to compare with
            self.reference = None

    def observe_pass(self, cell: Cell, pass_index: int, value) -> None:
        """A block cell's value at one layer, before it is let go: compare it now, while it is here."""
        if pass_index == 0:
            self.deltas[cell.id] = []
        self.deltas.setdefault(cell.id, []).append(self.delta_of(cell, value, pass_index))

    def delta_of(self, cell: Cell, value, layer: int, now: bool = False) -> dict | None:
        """{"mark": "engine" | "unchanged" | "differs" | "shape" | "other" | "checking" | "pending", ...compare()'s
        numbers, "pristine"} ("checking", "pending": compared later, see check_later; now: not later)."""
        names = trace_names(cell.spec.trace)
        if not names or self.reference is None:
            return None
        pristine = self.pristine(cell, layer)
        arrays = split_arrays(value, last_expression_names(cell.source))
        if arrays is None:
            return {"mark": "other", "pristine": pristine, "text": f"not an array ({type(value).__name__}): nothing to compare"}
        self.unchecked.pop((cell.id, layer), None)
        cell_prints = shaped_prints(arrays)
        if self.check_later and pristine and not self.reference.has(names, layer):
            self.unchecked[(cell.id, layer)] = (names, cell_prints)
            return {"mark": "checking", "pristine": True}
        if self.reference.same(names, layer, cell_prints):
            return {"mark": "engine" if pristine else "unchanged", "pristine": pristine, **EQUAL}
        if self.check_later and cell.spec.group is not None and layer != self.shown_layer:
            return {"mark": "pending", "pristine": pristine}  # compared in full when its layer is shown
        if (self.check_later and not now and cell.spec.group is None and not self.reference.short
                and sum(np.size(a) for a in arrays.values()) > CHUNK):
            # a long prompt's engine logits are a second unembedding (as long as the logits cell itself): the
            # page shows the run first, this Δ right after it (check)
            self.unchecked[(cell.id, layer)] = (names, None)
            return {"mark": "checking", "pristine": pristine}
        references = self.reference.values(names, layer)
        matched = match_tabs(shapes_of(arrays), references)
        if matched is None:
            result = {"shape": [list(references[0].shape), list(np.shape(next(iter(arrays.values()))))]}
        else:
            result = combine([compare(arrays[key], matched[key]) for key in matched])
        mark = "shape" if "shape" in result else ("engine" if pristine else "unchanged") if result["equal"] else "differs"
        return {"mark": mark, "pristine": pristine, **result}

    def check(self, seconds: float) -> dict:
        """Compare the fingerprints a run kept (`unchecked`) with the engine's, and the values it left to compare
        in full, computing for about `seconds` (at least one cell's worth); {"states": cells whose mark changed,
        "done", "prediction_change"}."""
        deadline, changed = time.perf_counter() + seconds, {}
        while self.unchecked and (not changed or time.perf_counter() < deadline):
            (cell_id, layer), (names, cell_prints) = next(iter(self.unchecked.items()))
            del self.unchecked[(cell_id, layer)]
            cell = self.cells[cell_id]
            if cell_prints is not None and self.reference is not None and self.reference.same(names, layer, cell_prints):
                delta = {"mark": "engine", "pristine": True, **EQUAL}
            else:  # a value that differs, compared in full after the run (or a bug the page shows loudly)
                delta = self.delta_of(cell, self.cell_value(cell_id, layer), layer, now=True)
            self.deltas[cell_id][layer] = delta
            changed[cell_id] = cell
        if not self.unchecked and self.reference is not None:
            self.reference.forget_layer()
        return {"states": [self.state(cell) for cell in changed.values()], "done": not self.unchecked,
                "prediction_change": self.prediction_change()}

    def deltas_at(self, layer: int) -> dict:
        """The page shows another layer: its block cells that differ, compared in full now (their values and
        the engine's computed again for that layer); {"states": the cells whose marks changed}."""
        self.shown_layer, changed = int(layer), []
        for cell_id, deltas in self.deltas.items():
            cell = self.cells[cell_id]
            if cell.status == "ok" and layer < len(deltas) and (deltas[layer] or {}).get("mark") == "pending":
                deltas[layer] = self.delta_of(cell, self.cell_value(cell_id, layer), layer)
                changed.append(cell)
        return {"states": [self.state(cell) for cell in changed]}

    def pristine(self, cell: Cell, layer: int) -> bool:
        """No cell that runs before this one's value (or this one) has edited code, the prompt aside."""
        target = self.position[cell.id]
        for spec in self.edited:
            in_block = spec.group is not None and spec.group == cell.spec.group
            if self.position[spec.id] <= target or (in_block and layer > 0):
                return False
        return True

    def delta_state(self, cell: Cell) -> dict | None:
        deltas = self.deltas.get(cell.id)
        if cell.status != "ok" or not deltas or all(d is None for d in deltas):
            return None
        return {"passes": deltas}

    def compare_slice(self, kind: str, cell_id, path, layer, head, r0, r1, c0, c1) -> bytes:
        """A window of the engine's value ("reference") or of value − reference ("difference"), as float32 bytes."""
        if kind not in ("reference", "difference"):
            raise ValueError(f"kind must be 'reference' or 'difference', got {kind!r}")
        layer, key = int(layer), path or ""
        shown = self.shown_reference
        if shown is None or shown[:2] != (cell_id, layer):
            cell = self.cells[cell_id]
            if self.reference is None or not trace_names(cell.spec.trace):
                raise KeyError(f"cell {cell_id!r} has no engine value to compare with")
            arrays = split_arrays(self.cell_value(cell_id, layer), last_expression_names(cell.source))
            matched = match_tabs(shapes_of(arrays), self.reference.values(trace_names(cell.spec.trace), layer)) if arrays else None
            if matched is None:
                raise KeyError(f"cell {cell_id!r}: its value and the engine's differ in shape")
            shown = self.shown_reference = (cell_id, layer, matched, arrays)
        reference, value = shown[2].get(key), shown[3].get(key)
        if reference is None:
            raise KeyError(f"cell {cell_id!r} has no table {key!r}")
        s, rows, cols = int(head), slice(int(r0), int(r1)), slice(int(c0), int(c1))
        if isinstance(reference, LogitRows):  # a long prompt's logits: only the window's rows are unembedded
            window = reference.rows(rows.start, rows.stop)[:, cols]  # [rows, cols]
        else:
            window = grid_view(reference, False)[0][s, rows, cols]  # [rows, cols]
        if kind == "difference":
            window = difference(grid_view(value, False)[0][s, rows, cols], window)  # [rows, cols]
        return np.ascontiguousarray(window, dtype="<f4").tobytes()

    # -------------------------------------------------------------- generation

    def generate_begin(self, settings: dict) -> dict:
        namespace = self.final_namespace()
        generate, ids = namespace.get(CONTRACT.generate), namespace.get(CONTRACT.prompt_ids)
        if not callable(generate) or ids is None:
            raise RuntimeError(f"run the notebook first: the {CONTRACT.generation_cell} cell defines "
                               f"{CONTRACT.generate}(ids, n_new, ...)")
        n_new = new_tokens_room(len(ids), self.model.config.n_ctx, settings.get("max_new_tokens", 20))
        self.generation = Generation(self.model.tokenizer, generate, list(ids), n_new, settings)
        return {"prompt_text": self.model.tokenizer.decode(list(ids)), "max_new_tokens": n_new,
                "n_ctx": self.model.config.n_ctx}

    def generate_next(self) -> dict:
        if self.generation is None:
            raise RuntimeError("generate_next called without generate_begin")
        return self.generation.next()

    def generate_for(self, seconds: float, progress) -> dict:
        if self.generation is None:
            raise RuntimeError("generate_for called without generate_begin")
        return self.generation.stretch(seconds, progress)

    def generate_end(self) -> dict:
        generation, self.generation = self.generation, None
        if generation is None:
            return {}
        cell = self.cells.get(CONTRACT.generation_cell)
        if cell is not None and generation.cache is not None:
            self.show_cache(cell, generation.cache)
        result = {"ids": generation.ids, "text": generation.text()}
        if cell is not None:
            result["state"] = self.state(cell)
        return result

    def show_cache(self, cell: Cell, cache) -> None:
        """The generation cell's output becomes cache_table(the cache Generate left)."""
        namespace = self.final_namespace()
        cache_table = namespace.get(CONTRACT.cache_table)
        if not callable(cache_table):
            return
        try:
            cell.values = [cache_table(cache)]
            cell.output = self.outputs.describe(cell.id, cell.values, cell.source, token_labels(namespace))
        except Exception as error:
            cell.run.stdout += f"{CONTRACT.cache_table} failed: {type(error).__name__}: {error}\n"

    # -------------------------------------------------------------- files

    def export(self, fmt: str, sources: dict | None = None) -> str:
        self.update_sources(sources)
        return files.export_cells([(spec.id, self.cells[spec.id].source) for spec in self.specs], fmt)

    def import_(self, text: str, filename: str = "") -> dict:
        sources, skipped = files.import_cells(text, filename, list(self.cells))
        self.update_sources(sources)
        return {"sources": sources, "skipped": skipped}


def traced_names(specs) -> tuple[list[str], dict]:
    """What the cells trace, as Reference takes it: the block's trace names ("attn.pattern", ...), and each
    trace a default cell shows as several equal tabs ({"blocks.{i}.attn.qkv": 3}: q, k, v)."""
    block_names = [name[len("blocks.{i}."):] for spec in specs for name in trace_names(spec.trace)
                   if name.startswith("blocks.{i}.")]
    splits = {}
    for spec in specs:
        names, tabs = trace_names(spec.trace), last_expression_names(spec.source) or ()
        if len(names) == 1 and len(tabs) > 1:
            splits[names[0]] = len(tabs)
    return block_names, splits


def shapes_of(arrays: dict) -> dict:
    return {tab: np.shape(array) for tab, array in arrays.items()}


def token_labels(namespace: dict) -> list[str] | None:
    tokens = namespace.get(CONTRACT.token_labels)
    if isinstance(tokens, (list, tuple)) and all(isinstance(t, str) for t in tokens):
        return list(tokens)
    return None
