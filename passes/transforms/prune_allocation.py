"""Per-group pruning ratios from sensitivity curves, under a MACs or params budget
(``prune-channels{target_macs=...,allocate=sensitivity}``).

The problem is a multiple-choice knapsack: each group picks how many units to lose; the cost saved
must reach the budget; the summed sensitivity (each group's measured curve, made monotone and
interpolated linearly between the measured ratios; never beyond the largest measured ratio) is to
be as small as possible. A greedy solver takes, at every step, the move of one group to a larger
removal with the least sensitivity added per MAC saved (moves may jump several steps, which copes
with curves that are not convex).

Costs are not additive (removing a conv's output channels and its consumer's output channels both
shrink the consumer), so the solver's cost model multiplies kept fractions per layer: each layer's
MACs scale with the kept share of its input channels times the kept share of its output channels.
Ops outside that model (attention matmuls...) are caught by measuring the pruned copy: if it is
still over budget the solver continues towards a tightened goal, up to ``CORRECTIONS`` times.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from lepton_ir.module import Module

from ..analysis.channel_groups import ChannelGroups, Group, Label
from ..analysis.cost import CostResult
from ..analysis.sensitivity_result import SensitivityEntry
from ..analysis.sensitivity_trials import removal_count, removed_labels

CORRECTIONS = 8
GRID = 16  # at most this many removal counts per group (per 100% of its units)


@dataclass
class GroupChoice:
    group: Group
    order: list[int]  # unit indices, least important first
    curve: SensitivityEntry
    counts: list[int] = field(default_factory=list)  # allowed numbers of removed units, ascending
    chosen: int = 0

    def points(self) -> list[tuple[int, float]]:
        """(units removed, sensitivity): each measured ratio at the unit count the sweep really removed
        (a quarter of a 2-unit group is one unit, half of it), made monotone (a dip is noise)."""
        n = len(self.group.units)
        measured = sorted((removal_count(n, float(r)), v) for r, v in self.curve.values.items())
        counts = [0] + [c for c, _ in measured]
        values = np.maximum.accumulate([0.0] + [v for _, v in measured])
        return list(zip(counts, values.tolist()))

    def sensitivity(self, count: int) -> float:
        points = self.points()
        return float(np.interp(count, [c for c, _ in points], [v for _, v in points]))


@dataclass
class Allocation:
    removed: set[Label]
    choices: list[GroupChoice]
    estimated: float
    measured: float
    goal: float
    reached: bool

    def summary(self) -> list[dict]:
        return [{"group": c.group.spaces[0], "units": len(c.group.units), "removed": c.chosen,
                 "ratio": round(c.chosen / len(c.group.units), 4), "sensitivity": c.sensitivity(c.chosen)}
                for c in self.choices]


class CostModel:
    """Estimated MACs (or params) given how many labels of each channel side were removed."""

    def __init__(self, module: Module, cost: CostResult, groups: ChannelGroups, kind: str):
        sides: dict[tuple[str, str], list[Label]] = {}
        for edit, name, extra in groups.edits:
            if edit == "producer":
                channels = module.constant(module.node(name).args[1]).shape[0]
                sides[(name, "out")] = [(name, i) for i in range(channels)]
            elif edit in ("conv_in", "linear_in", "depthwise", "bn", "ln"):
                sides[(name, "in")] = list(extra)
        index = {key: i for i, key in enumerate(sides)}
        self.totals = np.array([len(v) for v in sides.values()] + [1], dtype=np.float64)
        self.none = len(sides)  # a side that never changes
        self.label_sides: dict[Label, list[int]] = {}
        for key, labels in sides.items():
            for label in labels:
                self.label_sides.setdefault(label, []).append(index[key])
        base, outs, ins = [], [], []
        for name, entry in cost.nodes.items():
            amount = float(entry.macs if kind == "macs" else entry.params)
            if amount:
                base.append(amount)
                outs.append(index.get((name, "out"), self.none))
                ins.append(index.get((name, "in"), self.none))
        self.base, self.outs, self.ins = np.array(base), np.array(outs, dtype=int), np.array(ins, dtype=int)

    def prefix(self, group: Group, order: list[int]) -> np.ndarray:
        """[units + 1, sides]: labels removed per side after removing the first k units of ``order``."""
        table = np.zeros((len(order) + 1, len(self.totals)))
        for k, unit in enumerate(order, start=1):
            table[k] = table[k - 1]
            for label in group.units[unit]:
                for side in self.label_sides.get(label, ()):
                    table[k, side] += 1
        return table

    def estimate(self, removed: np.ndarray) -> float:
        kept = 1.0 - removed / self.totals
        return float((self.base * kept[self.outs] * kept[self.ins]).sum())


def allowed_counts(units: int, max_ratio: float, round_to: int) -> list[int]:
    """Removal counts the solver may choose: multiples of ``round_to`` kept, up to ``max_ratio``."""
    counts = {0}
    limit = min(int(units * max_ratio + 1e-9), units - 1)
    step = max(1, units // GRID)
    for removed in range(step, limit + 1, step):
        keep = units - removed
        keep = max(round_to, (keep // round_to) * round_to)
        if 0 < units - keep <= limit:
            counts.add(units - keep)
    return sorted(counts)


def allocate(module: Module, cost: CostResult, groups: ChannelGroups, choices: list[GroupChoice], kind: str,
             goal: float, round_to: int, measure: Callable[[set[Label]], float]) -> Allocation:
    model = CostModel(module, cost, groups, kind)
    tables = []
    for c in choices:
        units = len(c.group.units)
        c.counts = allowed_counts(units, max(count for count, _ in c.points()) / units, round_to)
        tables.append(model.prefix(c.group, c.order))
    removed = np.zeros(len(model.totals))
    target = goal
    measured = estimated = model.estimate(removed)
    for _ in range(CORRECTIONS + 1):
        _greedy(model, choices, tables, removed, target)
        estimated = _give_back(model, choices, tables, removed, target)
        labels = _labels(choices)
        measured = measure(labels)
        if measured <= goal * 1.005:
            return Allocation(labels, choices, estimated, measured, goal, True)
        target -= measured - goal
        if target <= 0:
            break
    return Allocation(_labels(choices), choices, estimated, measured, goal, False)


def _give_back(model: CostModel, choices: list[GroupChoice], tables: list[np.ndarray], removed: np.ndarray,
               target: float) -> float:
    """Undo overshoot: while some group can remove fewer units with the estimate still within
    ``target``, take the change that lowers the summed sensitivity most (ties: keeps more cost)."""
    current = model.estimate(removed)
    while True:
        best: Optional[tuple[float, float, int, int]] = None
        for i, c in enumerate(choices):
            here = c.sensitivity(c.chosen)
            for count in c.counts:
                if count >= c.chosen:
                    break
                trial = removed + tables[i][count] - tables[i][c.chosen]
                cost = model.estimate(trial)
                if cost > target:
                    continue
                key = (c.sensitivity(count) - here, -cost)
                if key[0] <= 0 and (best is None or key < best[:2]):
                    best = (key[0], key[1], i, count)
        if best is None or (best[0] == 0 and -best[1] <= current):
            return current
        _, _, i, count = best
        removed += tables[i][count] - tables[i][choices[i].chosen]
        choices[i].chosen = count
        current = model.estimate(removed)


def _labels(choices: list[GroupChoice]) -> set[Label]:
    removed: set[Label] = set()
    for c in choices:
        removed |= removed_labels(c.group, c.order, c.chosen)
    return removed


def _greedy(model: CostModel, choices: list[GroupChoice], tables: list[np.ndarray], removed: np.ndarray,
            target: float) -> float:
    """Advance groups' removal counts (in place) until the estimate reaches ``target``."""
    current = model.estimate(removed)
    while current > target:
        best: Optional[tuple[float, float, int, int]] = None
        for i, c in enumerate(choices):
            here = c.sensitivity(c.chosen)
            for count in c.counts:
                if count <= c.chosen:
                    continue
                trial = removed + tables[i][count] - tables[i][c.chosen]
                saved = current - model.estimate(trial)
                if saved <= 0:
                    continue
                # never overshoot by a whole big jump when a smaller one already reaches the target
                key = ((c.sensitivity(count) - here) / saved, -min(saved, current - target))
                if best is None or key < best[:2]:
                    best = (key[0], key[1], i, count)
        if best is None:
            break
        _, _, i, count = best
        removed += tables[i][count] - tables[i][choices[i].chosen]
        choices[i].chosen = count
        current = model.estimate(removed)
    return current
