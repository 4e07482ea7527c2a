"""Running the notebook like a spreadsheet: units, namespace snapshots, which units a run touches, stale marks.

The cells run top to bottom in one namespace, except that the cells of a group (the transformer block) run as
a unit: once per layer, in order. After each unit the session keeps a snapshot of the namespace (a shallow
dict copy: arrays are shared, not copied), so any unit can run again from the state before it. Running a cell
reruns its unit and then every later unit that reads a name a rerun unit (re)bound; the others keep their
outputs. A unit that fails stops nothing else: later units that read what it would have defined are marked
stale.

A group keeps none of its passes' values (at 1024 tokens every layer's [n_head × T × T] attention arrays
would not fit in the page's memory): each pass's value is summarized (`summarize`) and let go, and the names
each pass read are kept, so `value_at` computes any layer's value again, from the cells' own code, when the
page shows it (an unedited layer's grids take their rows from the engine instead: Notebook.engine_rows). Nor
does the namespace after a group keep the arrays it bound that no later cell reads (the last layer's scores,
pattern, MLP activations: 200 MB at 1024 tokens); a cell edited to read one gets it back, from the last pass
computed again (`restore_let_go`).

What the cells' values look like is not the session's business: after a unit runs it hands its cells and
the namespace they reached to `describe_outputs`.
"""
from __future__ import annotations

import numpy as np

from .execute import CellRun, execute
from .units import Cell, Replay, Unit, build_units


def changed_bindings(before: dict, after: dict) -> set[str]:
    """Names a run bound, rebound or deleted (by identity: an array recomputed is a new object)."""
    changed = {name for name, value in after.items() if name not in before or before[name] is not value}
    return changed | (set(before) - set(after))


class Session:
    def __init__(self, cells: list[Cell], groups, base_namespace: dict, describe_outputs, summarize, observe=None,
                 release=None):
        """describe_outputs(cells, namespace, grouped) sets each cell's output after its unit ran;
        summarize(value, source, pass_index) keeps what describing a group cell's pass needs once its value is let go;
        observe(cell, pass_index, value) sees each group pass's value first (the notebook compares it with the engine's);
        release(cells) lets go of what describing the cells' last values kept, as their unit runs again."""
        self.units: list[Unit] = build_units(cells, groups)
        self.base_namespace = base_namespace
        self.describe_outputs = describe_outputs
        self.summarize = summarize
        self.observe = observe
        self.release = release

    def unit_of(self, cell_id: str) -> int:
        for index, unit in enumerate(self.units):
            if any(cell.id == cell_id for cell in unit.cells):
                return index
        known = ", ".join(cell.id for unit in self.units for cell in unit.cells)
        raise KeyError(f"no cell named {cell_id!r}; cells are {known}")

    def before(self, index: int) -> dict:
        for unit in reversed(self.units[:index]):
            if unit.after is not None:
                return unit.after
        return dict(self.base_namespace)

    def final_namespace(self) -> dict:
        return self.before(len(self.units))

    def plan(self, mode: str, cell_id: str | None) -> tuple[set[int], int]:
        """Units that must run, and the last unit a run may reach without being a dependent."""
        if mode == "all":
            return set(range(len(self.units))), len(self.units) - 1
        if mode not in ("to", "cell"):
            raise ValueError(f"mode must be 'all', 'to' or 'cell', got {mode!r}")
        target = self.unit_of(cell_id)
        upstream = {i for i in range(target) if any(c.status != "ok" for c in self.units[i].cells)}
        return upstream | {target}, target

    def run(self, mode: str, cell_id: str | None, report) -> list[str]:
        """Run units like a spreadsheet; returns the ids of the cells that ran.

        mode "all": every cell. "to": the cells up to cell_id that are not up to date, and cell_id.
        "cell": the same, then every later cell that reads a name a rerun cell bound.
        report(dict) hears {"event": "plan" | "start" | "done", ...}; "done" carries the unit's Cell objects.
        """
        planned, target = self.plan(mode, cell_id)
        report({"event": "plan", "cells": [c.id for i in sorted(planned) for c in self.units[i].cells]})
        ran: list[str] = []
        changed: set[str] = set()  # names rebound by the units that ran
        broken: set[str] = set()  # names whose defining unit failed or is now stale
        for index, unit in enumerate(self.units):
            reads = unit.reads()
            if index <= target:
                wants = index in planned or bool(reads & changed)
            else:
                wants = mode == "cell" and bool(reads & (changed | {"*"}))
            if wants and reads & broken:
                wants = False  # an input failed: running would only repeat its error
            if wants:
                self.run_unit(index, report)
                ran += [c.id for c in unit.cells]
                if unit.after is None:
                    broken |= unit.defines()
                changed |= unit.bound
                continue
            if reads & (changed | broken | {"*"}) and (changed or broken):
                broken |= unit.defines()  # its outputs no longer follow from its inputs
                self.mark_stale(unit, report)
            self.refresh_snapshot(index)
        return ran

    def mark_stale(self, unit: Unit, report) -> None:
        stale = [c for c in unit.cells if c.status != "idle"]
        for cell in stale:
            cell.status = "stale"
        if stale:
            report({"event": "done", "cells": unit.cells})

    def refresh_snapshot(self, index: int) -> None:
        """A unit that did not run: rebuild what follows it from the state before it plus what it bound."""
        unit = self.units[index]
        if unit.after is None:
            return
        namespace = dict(self.before(index))
        for name in unit.bound:
            if name in unit.after:
                namespace[name] = unit.after[name]
            else:
                namespace.pop(name, None)
        unit.after = namespace

    def run_unit(self, index: int, report) -> None:
        unit = self.units[index]
        before = {**self.before(index), **self.restore_let_go(index, unit.reads())}
        namespace = dict(before)
        self.let_go_of_last_run(index)
        for cell in unit.cells:
            cell.values, cell.summaries, cell.run, cell.output = [], [], CellRun(), None
        unit.ran_sources, unit.pass_inputs, unit.replay, unit.let_go = [c.source for c in unit.cells], [], None, set()
        unit.ran_from = before if unit.group is not None else None  # value_at computes a group's passes from it
        inputs = unit.inputs()
        passes = self.passes(unit, namespace)
        failed = None if passes is not None else unit.cells[0]
        for loop_value in passes or ():
            label = unit.cells[0].spec.title
            if loop_value is not None:
                let_go_of_last_pass(namespace, before, inputs)
                namespace[unit.group.loop_variable] = loop_value
                label = f"{unit.group.loop_variable} {loop_value + 1} of {len(passes)}"
            report({"event": "start", "cells": [c.id for c in unit.cells], "label": label})
            if loop_value is not None:
                unit.pass_inputs.append(dict(namespace) if "*" in inputs else
                                        {name: namespace[name] for name in inputs if name in namespace})
            failed = self.run_pass(unit, loop_value, namespace)
            if loop_value is not None:
                self.summarize_pass(unit, keep=failed is not None)
            if failed is not None:
                break
        if passes is None:
            for cell in unit.cells:
                cell.status = "failed"
        else:
            reached = unit.cells.index(failed) if failed is not None else len(unit.cells)
            for position, cell in enumerate(unit.cells):
                cell.status = "ok" if position < reached else "failed" if cell is failed else "stale"
        if failed is None:
            if unit.group is not None:
                self.let_go_of_unread(index, before, namespace)
            unit.after, unit.bound = namespace, changed_bindings(before, namespace) | unit.let_go
        else:
            unit.after, unit.bound = None, set()
        self.describe_outputs(unit.cells, namespace, unit.group is not None)
        report({"event": "done", "cells": unit.cells})

    def let_go_of_last_run(self, index: int) -> None:
        """Before a unit runs again, drop every reference to its last run's values (its snapshot, the later
        snapshots that merely passed them on, what describing them kept), so its new values do not need memory
        beside the old ones (at 1024 tokens: the [T × 50257] logits, a layer's [n_head × T × T] arrays)."""
        unit = self.units[index]
        replayed_from = [u.ran_from for u in self.units if u.ran_from is not None]  # a group's stale passes replay from these
        if unit.after is not None:
            for later in self.units[index + 1:]:
                if later.after is None or any(later.after is kept for kept in replayed_from):
                    continue
                for name in unit.bound - later.bound:
                    later.after.pop(name, None)  # refresh_snapshot takes it from the snapshot before that unit
        unit.after = None
        if self.release is not None:
            self.release(unit.cells)

    def summarize_pass(self, unit: Unit, keep: bool) -> None:
        """Summarize a group pass's values; let them go unless `keep` (a pass that failed: it cannot be computed
        again, and the page shows what it reached)."""
        for cell in unit.cells:
            if len(cell.values) > len(cell.summaries):
                if self.observe is not None:
                    self.observe(cell, len(cell.summaries), cell.values[-1])
                cell.summaries.append(self.summarize(cell.values[-1], cell.source, len(cell.summaries)))
                if not keep:
                    cell.values[-1] = None

    def let_go_of_unread(self, index: int, before: dict, namespace: dict) -> None:
        """Drop from a group's namespace the arrays it bound that no later unit reads (`unit.let_go`)."""
        later = set().union(*(unit.reads() for unit in self.units[index + 1:]))
        if "*" in later:
            return
        unit = self.units[index]
        unit.let_go = {name for name, value in namespace.items()
                       if name not in before and name not in later and isinstance(value, np.ndarray)}
        for name in unit.let_go:
            del namespace[name]

    def restore_let_go(self, index: int, reads: set) -> dict:
        """The names an earlier group let go that the unit at index reads (a cell edited since): computed again
        from that group's last pass."""
        restored = {}
        for unit in self.units[:index]:
            wanted = unit.let_go if "*" in reads else unit.let_go & reads
            if wanted and unit.after is not None:
                namespace = self.replayed(unit, len(unit.pass_inputs) - 1, len(unit.cells) - 1).namespace
                restored.update({name: namespace[name] for name in wanted if name in namespace})
        return restored

    def pass_input_arrays(self, pass_index: int) -> list:
        """The arrays a group's pass read (the residual stream entering a layer), as its last run kept them."""
        return [value for unit in self.units if unit.group is not None and pass_index < len(unit.pass_inputs)
                for value in unit.pass_inputs[pass_index].values() if isinstance(value, np.ndarray)]

    def value_at(self, cell_id: str, pass_index: int):
        """A group cell's value at one pass of its last run, computed again from the pass's inputs if let go."""
        unit = self.units[self.unit_of(cell_id)]
        position = next(i for i, cell in enumerate(unit.cells) if cell.id == cell_id)
        values = unit.cells[position].values
        if pass_index < len(values) and values[pass_index] is not None:
            return values[pass_index]
        if not 0 <= pass_index < len(unit.pass_inputs):
            raise KeyError(f"cell {cell_id!r} has no value for {unit.group.loop_variable} = {pass_index}")
        return self.replayed(unit, pass_index, position).values[position]

    def replayed(self, unit: Unit, pass_index: int, position: int) -> Replay:
        """A pass of a group's last run computed again, up to (and with) the cell at `position`."""
        replay = unit.replay
        if replay is None or replay.pass_index != pass_index:
            namespace = dict(unit.ran_from)
            namespace.update(unit.pass_inputs[pass_index])
            namespace[unit.group.loop_variable] = pass_index
            replay = unit.replay = Replay(pass_index, namespace)
        while len(replay.values) <= position:
            cell, source = unit.cells[len(replay.values)], unit.ran_sources[len(replay.values)]
            protect_mutated(cell, replay.namespace)
            run = execute(source, cell.id, replay.namespace)
            if run.error is not None:
                unit.replay = None
                raise RuntimeError(f"computing cell {cell.id!r} again for {unit.group.loop_variable} = {pass_index} "
                                   f"failed (it ran before; does it depend on something outside the notebook?):\n"
                                   f"{run.error['traceback']}")
            replay.values.append(run.value)
        return replay

    def passes(self, unit: Unit, namespace: dict) -> list | None:
        """[None] for a plain cell; the loop's values for a group (None, with the cells' error set, if unknown)."""
        if unit.group is None:
            return [None]
        try:
            return list(range(int(eval(unit.group.count, dict(namespace)))))
        except Exception as error:
            message = f"the {unit.group.title!r} group needs {unit.group.count} ({type(error).__name__}: {error})"
            for cell in unit.cells:
                cell.run = CellRun(error={"type": type(error).__name__, "traceback": message, "line": None})
            return None

    def run_pass(self, unit: Unit, loop_value, namespace: dict) -> Cell | None:
        """One pass over the unit's cells; the cell that failed, if one did."""
        for cell in unit.cells:
            protect_mutated(cell, namespace)
            if loop_value in (None, 0):
                cell.runs += 1
            run = execute(cell.source, cell.id, namespace)
            cell.run.duration_ms += run.duration_ms
            if run.stdout:
                prefix = f"[{unit.group.loop_variable} {loop_value}] " if loop_value is not None else ""
                cell.run.stdout += "".join(prefix + line for line in run.stdout.splitlines(keepends=True))
            if run.error is not None:
                if loop_value is not None:
                    run.error["traceback"] = f"(at {unit.group.loop_variable} = {loop_value})\n" + run.error["traceback"]
                cell.run.error = run.error
                return cell
            cell.values.append(run.value)
        return None


def let_go_of_last_pass(namespace: dict, before: dict, inputs: set) -> None:
    """Before a group's pass, drop what the last pass bound that this one binds again before reading it, so the
    new values do not need memory beside the old (at 1024 tokens a layer's scores, masked scores and pattern:
    150 MB for GPT-2 small). The pass's inputs (x) and the names from before the group stay."""
    if "*" not in inputs:
        for name in [name for name in namespace if name not in before and name not in inputs]:
            del namespace[name]


def protect_mutated(cell: Cell, namespace: dict) -> None:
    """`x += 1` on an array from an earlier cell would change that cell's output too: copy it first."""
    analysis = cell.names()
    for name in analysis.mutates if analysis else ():
        if isinstance(namespace.get(name), np.ndarray):
            namespace[name] = namespace[name].copy()
