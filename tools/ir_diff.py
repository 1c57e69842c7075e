"""``lepton diff``: what changed between two IRs, or across each pass of a pipeline."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.fx as fx

from lepton_ir.analysis_manager import AnalysisManager
from lepton_ir.metadata import VAL
from lepton_ir.module import Module
from lepton_ir.printer import format_node
from lepton_ir.report import format_count
from lepton_ir.shapes import format_signature


@dataclass
class WeightChange:
    node: str
    argument: int
    before: str
    after: str


@dataclass
class IRDiff:
    title: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[tuple[str, str]] = field(default_factory=list)  # (before, after) printed nodes
    weights: list[WeightChange] = field(default_factory=list)
    constants_added: int = 0
    constants_removed: int = 0
    values_changed: list[str] = field(default_factory=list)  # constants kept by name whose values differ
    nodes: tuple[int, int] = (0, 0)
    params: tuple[int, int] = (0, 0)
    macs: tuple[int, int] = (0, 0)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.weights or self.constants_added
                    or self.constants_removed or self.values_changed)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["changed"] = [{"before": b, "after": a} for b, a in self.changed]
        return data

    def format(self) -> str:
        def delta(pair: tuple[int, int], fmt=format_count) -> str:  # noqa: ANN001
            b, a = pair
            sign = "+" if a >= b else "-"
            return f"{fmt(b)} -> {fmt(a)} ({sign}{fmt(abs(a - b))})"

        lines = [f"=== {self.title}",
                 f"nodes {delta(self.nodes, str)}, params {delta(self.params)}, MACs {delta(self.macs)}",
                 f"constants: +{self.constants_added} -{self.constants_removed}"]
        lines += [f"- {line}" for line in self.removed]
        lines += [f"+ {line}" for line in self.added]
        for before, after in self.changed:
            lines += [f"~ {before}", f"  -> {after}"]
        lines += [f"weight {w.argument} of %{w.node}: {w.before} -> {w.after}" for w in self.weights]
        lines += [f"values changed: {target}" for target in self.values_changed]
        if self.empty:
            lines.append("(no change)")
        return "\n".join(lines)


def _compute(graph: fx.Graph) -> dict[str, fx.Node]:
    return {n.name: n for n in graph.nodes if n.op != "get_attr"}


def _stats(module: Module) -> tuple[int, int, int]:
    cost = AnalysisManager(module).get("cost")
    return sum(1 for _ in module.compute_nodes()), cost.total_params, cost.total_macs


def diff_modules(before: Module, after: Module, title: str = "diff") -> IRDiff:
    a, b = _compute(before.graph), _compute(after.graph)
    result = IRDiff(title)
    result.removed = [format_node(a[n]) for n in a if n not in b]
    result.added = [format_node(b[n]) for n in b if n not in a]
    for name in a.keys() & b.keys():
        old, new = a[name], b[name]
        if format_node(old) != format_node(new):
            result.changed.append((format_node(old), format_node(new)))
        for i, (x, y) in enumerate(zip(old.args, new.args)):
            if isinstance(x, fx.Node) and isinstance(y, fx.Node) and x.op == y.op == "get_attr":
                sx, sy = format_signature(x.meta.get(VAL)), format_signature(y.meta.get(VAL))
                if sx != sy:
                    result.weights.append(WeightChange(name, i, sx, sy))
    result.changed.sort()
    result.weights.sort(key=lambda w: (w.node, w.argument))
    consts_a = {n.target for n in before.graph.nodes if n.op == "get_attr"}
    consts_b = {n.target for n in after.graph.nodes if n.op == "get_attr"}
    result.constants_added, result.constants_removed = len(consts_b - consts_a), len(consts_a - consts_b)
    for target in sorted(consts_a & consts_b):
        x, y = before.constant(target), after.constant(target)
        if x.shape == y.shape and not torch.equal(x, y):
            result.values_changed.append(target)
    (na, pa, ma), (nb, pb, mb) = _stats(before), _stats(after)
    result.nodes, result.params, result.macs = (na, nb), (pa, pb), (ma, mb)
    return result


class PassDiffRecorder:
    """A pass-manager observer that diffs the IR across every transform that changed it."""

    def __init__(self) -> None:
        self.diffs: list[IRDiff] = []
        self._before: Module | None = None

    def before(self, pass_spec: str, module: Module) -> None:
        self._before = module.clone()

    def after(self, pass_spec: str, module: Module, changed: bool) -> None:
        if changed and self._before is not None:
            self.diffs.append(diff_modules(self._before, module, title=pass_spec))
        self._before = None
