"""Applying a structured pruning decision: every edit the channel-groups analysis recorded, sliced
to the channels that stay (producers' rows, consumers' columns, BN/LN vectors, per-channel constants,
depthwise groups, head counts, reshape and split sizes)."""
from __future__ import annotations

import torch
import torch.fx as fx

from lepton_ir.module import Module

from ..analysis.channel_groups import ChannelGroups, Label
from .weighted_ops import BIAS_INDEX, arg, set_arg


def apply_pruning(module: Module, result: ChannelGroups, removed: set[Label]) -> None:
    """Remove the ``removed`` channels everywhere they appear; shapes are refreshed afterwards."""
    nodes = {n.name: n for n in module.graph.nodes}

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
            set_arg(node, 1, sliced(node.args[1], index, 0, node))
            bias = arg(node, BIAS_INDEX)
            if bias is not None:
                set_arg(node, BIAS_INDEX, sliced(bias, index, 0, node))
        elif kind in ("conv_in", "linear_in"):
            index = keep(extra)
            if len(index) < len(extra):
                set_arg(node, 1, sliced(node.args[1], index, 1, node))
        elif kind == "depthwise":
            index = keep(extra)
            if len(index) < len(extra):
                set_arg(node, 1, sliced(node.args[1], index, 0, node))
                bias = arg(node, BIAS_INDEX)
                if bias is not None:
                    set_arg(node, BIAS_INDEX, sliced(bias, index, 0, node))
                set_arg(node, 6, len(index))
        elif kind in ("bn", "ln"):
            index = keep(extra)
            if len(index) == len(extra):
                continue
            positions = (1, 2, 3, 4) if kind == "bn" else (2, 3)
            for position in positions:
                value = arg(node, position)
                if value is not None:
                    set_arg(node, position, sliced(value, index, 0, node))
            if kind == "ln":
                set_arg(node, 1, [len(index)])
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
            set_arg(node, 1, shape)
        elif kind == "split":
            sizes = [len(keep(piece)) for piece in extra]
            dim = arg(node, 2)
            if node.target is torch.ops.aten.split.Tensor:
                node.target = torch.ops.aten.split_with_sizes.default
            node.args = (node.args[0], sizes, dim)
    module.refresh_shapes()
