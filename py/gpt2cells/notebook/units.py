"""The notebook's cells and the units they run in: a plain cell alone, a group's cells together once per pass."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from .default_cells import CellSpec, GroupSpec
from .execute import CellRun
from .names import analyze_cell


@functools.lru_cache(maxsize=512)
def cell_names(source: str):
    """What a cell defines and reads (None when it does not parse); cached, as sources rarely change."""
    try:
        return analyze_cell(source)
    except (SyntaxError, ValueError):
        return None


@dataclass
class Cell:
    spec: CellSpec
    source: str
    status: str = "idle"  # idle | ok | failed | stale
    run: CellRun | None = None
    # one per pass: one for a plain cell; for a block cell only the last layer's (earlier ones are None once
    # summarized: Session.value_at computes them again)
    values: list = field(default_factory=list)
    summaries: list = field(default_factory=list)  # a block cell's LayerSummary per pass
    output: dict | None = None
    runs: int = 0  # how many times the cell's code has run (the page shows it; tests check recalculation)

    @property
    def id(self) -> str:
        return self.spec.id

    def names(self):
        return cell_names(self.source)


@dataclass
class Unit:
    """A plain cell, or a group whose cells run once per pass of its loop."""
    cells: list[Cell]
    group: GroupSpec | None = None
    after: dict | None = None  # namespace snapshot after the unit last ran (None: never ran)
    bound: set[str] = field(default_factory=set)  # names the unit's last run bound
    # what a pass of a group's last run can be computed again from: the namespace before the unit, the
    # sources it ran, and per pass the names it read then (e.g. x, the residual stream entering the layer)
    ran_from: dict | None = None
    ran_sources: list[str] = field(default_factory=list)
    pass_inputs: list[dict] = field(default_factory=list)
    replay: Replay | None = None  # the pass last computed again, as far as it was asked for
    let_go: set[str] = field(default_factory=set)  # arrays the group bound that no later unit read: not in `after`

    def reads(self) -> set[str]:
        names = set()
        for cell in self.cells:
            analysis = cell.names()
            if analysis is None:
                return {"*"}  # unparsable: treat as reading everything
            names |= analysis.reads | {n for fn in analysis.function_globals.values() for n in fn}
        if self.group is not None:
            names.discard(self.group.loop_variable)
        return names

    def inputs(self) -> set[str]:
        """Names a pass reads before its own cells bind them: what a pass can be computed again from (x, the
        setup's names), not what a later cell of the pass reads from an earlier one (scores, pattern)."""
        names, bound = set(), set()
        for cell in self.cells:
            analysis = cell.names()
            if analysis is None:
                return {"*"}
            names |= (analysis.reads - bound) | {n for fn in analysis.function_globals.values() for n in fn}
            bound |= analysis.defines
        return names

    def defines(self) -> set[str]:
        names = set()
        for cell in self.cells:
            analysis = cell.names()
            if analysis is not None:
                names |= analysis.defines
        if self.group is not None:
            names.add(self.group.loop_variable)
        return names


@dataclass
class Replay:
    """One pass of a group computed again: its namespace and the values of its first cells."""
    pass_index: int
    namespace: dict
    values: list = field(default_factory=list)


def build_units(cells: list[Cell], groups) -> list[Unit]:
    """Consecutive cells of one group form one unit; every other cell is a unit of its own."""
    by_id = {group.id: group for group in groups}
    units: list[Unit] = []
    for cell in cells:
        group_id = cell.spec.group
        if group_id and units and units[-1].group is not None and units[-1].group.id == group_id:
            units[-1].cells.append(cell)
        else:
            units.append(Unit([cell], group=by_id[group_id] if group_id else None))
    return units
