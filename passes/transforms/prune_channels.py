"""``prune-channels``: structured pruning that physically removes channels, group by group.

Approximate (outputs change; recover accuracy by fine-tuning). Uses the ``channel-groups`` analysis:
in every prunable group it removes the ``ratio`` of units (coupled channel sets) with the lowest
importance, then slices every weight, bias, BatchNorm/LayerNorm parameter and per-channel constant,
and rewrites depthwise ``groups``, reshape sizes and split sizes, so the IR stays consistent.
Options: ``ratio`` (per group), ``criterion`` (l1 | l2 norm of the producing weights, summed over a
unit), ``round_to`` (kept channel counts a multiple of this, for hardware-friendly shapes),
``ignore`` (module paths or node names whose output channels stay; model outputs always stay).
Stats: ``groups_pruned``, ``groups_excluded``, ``units_removed``, ``units_kept`` (in pruned groups),
``channels_removed`` (over all layers: a unit spans one channel of each coupled layer).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.fx as fx

from lepton_ir.metadata import module_path
from lepton_ir.module import Module
from lepton_ir.pass_base import PassContext, PassResult, TransformPass, approximate
from lepton_ir.registry import register_pass

from ..analysis.channel_groups import ChannelGroups, Label
from .weighted_ops import BIAS_INDEX, arg


@dataclass(frozen=True)
class PruneChannelsOptions:
    ratio: float = 0.5
    criterion: Literal["l1", "l2"] = "l1"
    round_to: int = 1
    ignore: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio < 1.0:
            raise ValueError(f"ratio must be in [0, 1), got {self.ratio}")
        if self.round_to < 1:
            raise ValueError(f"round_to must be >= 1, got {self.round_to}")


def _set_arg(node: fx.Node, index: int, value: Any) -> None:
    args = list(node.args)
    while len(args) <= index:
        args.append(arg(node, len(args)))
    args[index] = value
    node.args = tuple(args)


@register_pass
class PruneChannels(TransformPass):
    """Remove the least important channels of every prunable group."""

    name = "prune-channels"
    summary = "structured pruning: remove whole channels (and everything coupled to them)"
    Options = PruneChannelsOptions
    contract = approximate(None, "accuracy after fine-tuning")

    def run(self, module: Module, analyses: Any, context: PassContext) -> PassResult:
        result: ChannelGroups = analyses.get("channel-groups")
        nodes = {n.name: n for n in module.graph.nodes}
        ignored = {name for name, n in nodes.items() if self._ignored(n)}
        removed: set[Label] = set()
        pruned = excluded = units_removed = units_kept = 0
        for group in result.groups:
            if group.excluded is not None or any(s in ignored for s in group.spaces):
                excluded += 1
                continue
            count = len(group.units)
            keep = max(self.options.round_to, round(count * (1 - self.options.ratio) / self.options.round_to)
                       * self.options.round_to)
            if keep >= count:
                continue
            scores = [self._importance(module, nodes, unit) for unit in group.units]
            order = sorted(range(count), key=lambda i: (scores[i], i))
            for i in order[:count - keep]:
                removed.update(group.units[i])
            pruned += 1
            units_removed += count - keep
            units_kept += keep
        if not removed:
            return PassResult(changed=False, stats={"groups_pruned": 0, "groups_excluded": excluded})
        self._apply(module, result, nodes, removed)
        module.refresh_shapes()
        return PassResult(changed=True, stats={"groups_pruned": pruned, "groups_excluded": excluded,
                                               "units_removed": units_removed, "units_kept": units_kept,
                                               "channels_removed": len(removed)})

    def _ignored(self, node: fx.Node) -> bool:
        path = module_path(node)
        return any(node.name == r or path == r or path.startswith(r + ".") for r in self.options.ignore)

    def _importance(self, module: Module, nodes: dict[str, fx.Node], unit: list[Label]) -> float:
        total = 0.0
        for space, index in unit:
            node = nodes.get(space)
            if node is None or node.op != "call_function":
                continue
            weight = module.constant(node.args[1])[index].detach()
            total += float(weight.abs().sum() if self.options.criterion == "l1" else weight.pow(2).sum().sqrt())
        return total

    def _apply(self, module: Module, result: ChannelGroups, nodes: dict[str, fx.Node], removed: set[Label]) -> None:
        def keep(labels: list[Label]) -> torch.Tensor:
            return torch.tensor([i for i, label in enumerate(labels) if label not in removed], dtype=torch.long)

        def sliced(value: fx.Node, index: torch.Tensor, dim: int, anchor: fx.Node) -> fx.Node:
            tensor = module.constant(value).index_select(dim, index)
            return module.add_constant(f"{value.target}_pruned", tensor, before=anchor)

        for kind, name, extra in result.edits:
            node = nodes[name]
            if kind == "producer":
                labels = [(name, i) for i in range(module.constant(node.args[1]).shape[0])]
                index = keep(labels)
                if len(index) == len(labels):
                    continue
                _set_arg(node, 1, sliced(node.args[1], index, 0, node))
                bias = arg(node, BIAS_INDEX)
                if bias is not None:
                    _set_arg(node, BIAS_INDEX, sliced(bias, index, 0, node))
            elif kind in ("conv_in", "linear_in"):
                index = keep(extra)
                if len(index) < len(extra):
                    _set_arg(node, 1, sliced(node.args[1], index, 1, node))
            elif kind == "depthwise":
                index = keep(extra)
                if len(index) < len(extra):
                    _set_arg(node, 1, sliced(node.args[1], index, 0, node))
                    bias = arg(node, BIAS_INDEX)
                    if bias is not None:
                        _set_arg(node, BIAS_INDEX, sliced(bias, index, 0, node))
                    _set_arg(node, 6, len(index))
            elif kind in ("bn", "ln"):
                index = keep(extra)
                if len(index) == len(extra):
                    continue
                positions = (1, 2, 3, 4) if kind == "bn" else (2, 3)
                for position in positions:
                    value = arg(node, position)
                    if value is not None:
                        _set_arg(node, position, sliced(value, index, 0, node))
                if kind == "ln":
                    _set_arg(node, 1, [len(index)])
            elif kind == "const":
                const_name, position, labels = extra
                index = keep(labels)
                if len(index) < len(labels):
                    const = nodes[const_name]
                    node.replace_input_with(const, sliced(const, index, position, node))
            elif kind in ("reshape", "reshape_heads"):
                dim, size = extra
                labels = result.infos.get(node.args[0].name)
                shape = list(node.args[1])
                if labels is None or not isinstance(shape[dim], int) or shape[dim] == -1:
                    continue  # an inferred (-1) size follows the pruned input by itself
                kept = len(keep(labels.labels))
                shape[dim] = kept * size if kind == "reshape" else kept // size
                _set_arg(node, 1, shape)
            elif kind == "split":
                sizes = [len(keep(piece)) for piece in extra]
                dim = arg(node, 2)
                if node.target is torch.ops.aten.split.Tensor:
                    node.target = torch.ops.aten.split_with_sizes.default
                node.args = (node.args[0], sizes, dim)
