"""``channel-groups``: which channels of which layers must be removed together, and which cannot be.

Channel labels are propagated through the ATen graph. A conv (groups=1) or linear creates a channel
*space*: its output channels, labelled (space, index). Ops that move channels keep the labels
(elementwise ops, BatchNorm, pooling, permutes, depthwise convs), flatten expands a channel over the
spatial positions it covers, concat joins label lists, split cuts them, and a residual add couples
the labels of its two operands: coupled channels form one *unit*, removed all together or not at
all (networkx connected components). A *group* is a set of spaces tied by units. Any op the analysis
cannot prove safe excludes the spaces it touches, with the reason; so do model outputs and grouped
convs. The result also lists every weight slice a pruning of each space implies.
Writes ``lepton.prune_group`` (group id) on each producing node.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import networkx as nx
import torch
import torch.fx as fx

from lepton_ir.metadata import PRUNE_GROUP, shape_of
from lepton_ir.module import Module
from lepton_ir.pass_base import AnalysisPass
from lepton_ir.registry import register_pass

from ..transforms.weighted_ops import arg, as_weighted

aten = torch.ops.aten
Label = tuple[str, int]

PASS_THROUGH = {
    aten.relu.default, aten.relu_.default, aten.gelu.default, aten.silu.default, aten.sigmoid.default,
    aten.tanh.default, aten.hardswish.default, aten.hardswish_.default, aten.hardsigmoid.default,
    aten.relu6.default, aten.hardtanh.default, aten.hardtanh_.default, aten.leaky_relu.default, aten.elu.default,
    aten.neg.default, aten.clamp.default, aten.dropout.default, aten.clone.default, aten.contiguous.default,
    aten.alias.default, aten.detach.default, aten.silu_.default,
    aten.fake_quantize_per_tensor_affine.default,
}
POOLS = {aten.max_pool2d.default, aten.avg_pool2d.default, aten.adaptive_avg_pool2d.default,
         aten.max_pool1d.default, aten.avg_pool1d.default}
BINARY = {aten.add.Tensor, aten.add_.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.mul_.Tensor, aten.div.Tensor}
RESHAPES = {aten.view.default, aten.reshape.default, aten._unsafe_view.default}
HEAD_AWARE = {aten.transpose.int, aten.permute.default, aten.scaled_dot_product_attention.default}


@dataclass
class ChannelInfo:
    """Labels of the channels along ``dim``. With ``head_dim`` set the channels were split into attention
    heads: ``dim`` indexes heads, ``head_dim`` the channels within a head, labels stay in (head, d) order."""

    dim: int
    labels: list[Label]
    head_dim: Optional[int] = None


@dataclass
class Group:
    id: int
    spaces: list[str]
    units: list[list[Label]]
    excluded: Optional[str] = None

    @property
    def channels(self) -> int:
        return len(self.units)


@dataclass
class ChannelGroups:
    groups: list[Group] = field(default_factory=list)
    infos: dict[str, Optional[ChannelInfo]] = field(default_factory=dict)
    #: (kind, node name, extra) edits a pruning implies: producer, conv_in, depthwise, linear_in, bn, ln,
    #: const, reshape, split
    edits: list[tuple[str, str, Any]] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)  # space -> reason

    def prunable(self) -> list[Group]:
        return [g for g in self.groups if g.excluded is None]


class _Propagation:
    def __init__(self, module: Module):
        self.module = module
        self.infos: dict[fx.Node, Optional[ChannelInfo]] = {}
        self.couplings: list[tuple[Label, Label]] = []
        self.spaces: dict[str, int] = {}
        self.excluded: dict[str, str] = {}
        self.edits: list[tuple[str, str, Any]] = []

    def exclude(self, info: Optional[ChannelInfo], reason: str) -> None:
        if info is None:
            return
        for space in {s for s, _ in info.labels}:
            self.excluded.setdefault(space, reason)

    def new_space(self, node: fx.Node, size: int, dim: int, excluded: Optional[str] = None) -> ChannelInfo:
        self.spaces[node.name] = size
        if excluded:
            self.excluded.setdefault(node.name, excluded)
        return ChannelInfo(dim, [(node.name, i) for i in range(size)])

    def run(self) -> None:
        for node in self.module.graph.nodes:
            if node.op == "call_function":
                self.infos[node] = self.visit(node)
            elif node.op == "output":
                for value in node.all_input_nodes:
                    self.exclude(self.infos.get(value), "reaches a model output")
            else:
                self.infos[node] = None

    def info(self, value: Any) -> Optional[ChannelInfo]:
        return self.infos.get(value) if isinstance(value, fx.Node) else None

    def rank(self, node: fx.Node) -> int:
        return len(shape_of(node) or ())

    def visit(self, node: fx.Node) -> Optional[ChannelInfo]:
        target, where = node.target, f"{node.target} at %{node.name}"
        src = self.info(node.args[0]) if node.args else None
        headed = [i for i in (self.info(a) for a in node.all_input_nodes) if isinstance(i, ChannelInfo) and i.head_dim is not None]
        if headed and not (target in PASS_THROUGH or target in RESHAPES or target in HEAD_AWARE):
            for i in headed:
                self.exclude(i, f"op on attention heads not understood: {where}")
            return None
        if target is aten.scaled_dot_product_attention.default:
            return self.attention(node, where)
        op = as_weighted(node, self.module)
        if op is not None:
            return self.weighted(node, op, src)
        if target in PASS_THROUGH or target in POOLS:
            if target in POOLS and src is not None and src.dim != 1:
                self.exclude(src, f"pooling over the channel dim: {where}")
                return None
            return src
        if target is aten.batch_norm.default:
            if src is not None:
                if src.dim != 1:
                    self.exclude(src, where)
                    return None
                self.edits.append(("bn", node.name, src.labels))
            return src
        if target is aten.layer_norm.default:
            if src is not None:
                if src.dim != self.rank(node) - 1 or len(node.args[1]) != 1:
                    self.exclude(src, f"layer_norm over more than the channel dim: {where}")
                    return None
                self.edits.append(("ln", node.name, src.labels))
            return src
        if target in (aten.pad.default, aten.constant_pad_nd.default):
            if src is None:
                return None
            pad = list(node.args[1])
            rank = self.rank(node)
            touched = {rank - 1 - i // 2 for i, p in enumerate(pad) if p}
            if src.dim in touched:
                self.exclude(src, f"padding the channel dim: {where}")
                return None
            return src
        if target in BINARY or target is aten.where.self:
            return self.binary(node, where)
        if target in (aten.mean.dim, aten.sum.dim_IntList):
            if src is None:
                return None
            rank = self.rank(node.args[0])
            dims = [d % rank for d in node.args[1]]
            if src.dim in dims:
                self.exclude(src, f"reduction over channels: {where}")
                return None
            keep = len(node.args) > 2 and node.args[2]
            return ChannelInfo(src.dim if keep else src.dim - sum(d < src.dim for d in dims), src.labels)
        if target is aten.flatten.using_ints:
            return self.flatten(node, src, where)
        if target in RESHAPES:
            return self.reshape(node, src, where)
        if target is aten.permute.default:
            if src is None:
                return None
            perm = [d % self.rank(node) for d in node.args[1]]
            head = perm.index(src.head_dim) if src.head_dim is not None else None
            return ChannelInfo(perm.index(src.dim), src.labels, head)
        if target is aten.transpose.int:
            if src is None:
                return None
            rank = self.rank(node)
            a, b = node.args[1] % rank, node.args[2] % rank
            swap = lambda d: b if d == a else a if d == b else d  # noqa: E731
            return ChannelInfo(swap(src.dim), src.labels, swap(src.head_dim) if src.head_dim is not None else None)
        if target is aten.cat.default:
            return self.cat(node, where)
        if target in (aten.split.Tensor, aten.split_with_sizes.default):
            return self.split(node, src, where)
        if target.__name__ == "getitem" if callable(target) else False:
            parts = self.info(node.args[0])
            return parts[node.args[1]] if isinstance(parts, list) else None
        for value in node.all_input_nodes:
            self.exclude(self.info(value), f"not understood by the channel analysis: {where}")
        return None

    def weighted(self, node: fx.Node, op: Any, src: Optional[ChannelInfo]) -> Optional[ChannelInfo]:
        where = f"{node.target} at %{node.name}"
        if op.kind == "linear":
            if src is not None:
                if src.dim != self.rank(node.args[0]) - 1:
                    self.exclude(src, f"linear over a non-channel dim: {where}")
                else:
                    self.edits.append(("linear_in", node.name, src.labels))
            self.edits.append(("producer", node.name, None))
            return self.new_space(node, op.out_channels, self.rank(node) - 1)
        if op.kind == "conv" and op.groups == 1:
            if src is not None:
                if src.dim != 1:
                    self.exclude(src, where)
                else:
                    self.edits.append(("conv_in", node.name, src.labels))
            self.edits.append(("producer", node.name, None))
            return self.new_space(node, op.out_channels, 1)
        if op.kind == "conv" and op.groups == op.in_channels == op.out_channels and src is not None and src.dim == 1:
            self.edits.append(("depthwise", node.name, src.labels))
            return src
        self.exclude(src, f"grouped or transposed conv (groups={op.groups}): {where}")
        return self.new_space(node, op.out_channels, 1, excluded=f"grouped or transposed conv: {where}")

    def binary(self, node: fx.Node, where: str) -> Optional[ChannelInfo]:
        operands = [a for a in node.args[:2]] if node.target is not aten.where.self else list(node.args[1:3])
        tensors = [a for a in operands if isinstance(a, fx.Node)]
        infos = [self.info(a) for a in tensors]
        tracked = [i for i in infos if i is not None]
        if not tracked:
            return None
        lead = tracked[0]
        out_shape = shape_of(node) or ()
        for value, info in zip(tensors, infos):
            if info is not None:
                if info.dim != lead.dim or len(info.labels) != len(lead.labels) or shape_of(value) != out_shape:
                    for i in tracked:
                        self.exclude(i, f"broadcasting between channel tensors: {where}")
                    return None
                self.couplings += list(zip(lead.labels, info.labels))
                continue
            shape = shape_of(value) or ()
            position = lead.dim - (len(out_shape) - len(shape))
            if position < 0 or shape[position] == 1:
                continue  # does not vary along channels
            if value.op == "get_attr" and shape[position] == len(lead.labels):
                self.edits.append(("const", node.name, (value.name, position, lead.labels)))
                continue
            self.exclude(lead, f"combined with a tensor whose channels are not tracked: {where}")
            return None
        return lead

    def flatten(self, node: fx.Node, src: Optional[ChannelInfo], where: str) -> Optional[ChannelInfo]:
        if src is None:
            return None
        shape = shape_of(node.args[0]) or ()
        rank = len(shape)
        start, end = node.args[1] % rank, (node.args[2] if len(node.args) > 2 else -1) % rank
        if src.dim < start:
            return src
        if src.dim > end:
            return ChannelInfo(src.dim - (end - start), src.labels)
        if src.dim != start:
            self.exclude(src, f"flatten with dims before the channel dim: {where}")
            return None
        inner = math.prod(shape[start + 1:end + 1])
        return ChannelInfo(start, [label for label in src.labels for _ in range(inner)])

    def reshape(self, node: fx.Node, src: Optional[ChannelInfo], where: str) -> Optional[ChannelInfo]:
        if src is None:
            return None
        before, after = list(shape_of(node.args[0]) or ()), list(shape_of(node) or ())
        d = src.dim
        if src.head_dim is not None:
            if before == after:  # a reshape to the same shape: heads stay where they are
                self.edits.append(("reshape_heads", node.name, (d, before[src.head_dim])))
                return src
            # heads merged back: [.., H, D] -> [.., H*D]
            if (src.head_dim == d + 1 and len(before) == d + 2 and len(after) == d + 1 and after[:d] == before[:d]
                    and after[d] == before[d] * before[d + 1]):
                self.edits.append(("reshape", node.name, (d, 1)))
                return ChannelInfo(d, src.labels)
            self.exclude(src, f"reshape of attention heads: {where}")
            return None
        if (len(before) == d + 1 and len(after) == d + 2 and after[:d] == before[:d]
                and after[d] * after[d + 1] == before[d] and after[d] > 1):  # split into heads: [.., C] -> [.., H, D]
            size = after[d + 1]
            for h in range(after[d]):  # a head is removed whole: its channels form one unit
                block = src.labels[h * size:(h + 1) * size]
                self.couplings += [(block[0], label) for label in block[1:]]
            self.edits.append(("reshape_heads", node.name, (d, size)))
            return ChannelInfo(d, src.labels, d + 1)
        if after[:d + 1] == before[:d + 1]:  # channel dim and everything before it unchanged
            self.edits.append(("reshape", node.name, (d, 1)))
            return ChannelInfo(d, src.labels)
        if len(after) == d + 1 and after[:d] == before[:d] and after[d] == math.prod(before[d:]):
            inner = math.prod(before[d + 1:])
            self.edits.append(("reshape", node.name, (d, inner)))
            return ChannelInfo(d, [label for label in src.labels for _ in range(inner)])
        self.exclude(src, f"reshape across the channel dim: {where}")
        return None

    def attention(self, node: fx.Node, where: str) -> Optional[ChannelInfo]:
        """scaled_dot_product_attention: head h of q, k and v is one unit; the output carries v's labels."""
        q, k, v = (self.info(a) for a in node.args[:3])
        infos = [i for i in (q, k, v) if i is not None]
        ok = (len(infos) == 3 and all(i.head_dim is not None and i.dim == q.dim and i.head_dim == q.head_dim
                                      and len(i.labels) == len(q.labels) for i in infos))
        if not ok:
            for i in infos:
                self.exclude(i, f"attention inputs without matching heads: {where}")
            return None
        size = (shape_of(node.args[0]) or ())[q.head_dim]
        for h in range(0, len(q.labels), size):
            self.couplings += [(q.labels[h], k.labels[h]), (q.labels[h], v.labels[h])]
        return ChannelInfo(q.dim, v.labels, v.head_dim)

    def cat(self, node: fx.Node, where: str) -> Optional[ChannelInfo]:
        parts = node.args[0]
        dim = (node.args[1] if len(node.args) > 1 else 0) % self.rank(node)
        infos = [self.info(p) for p in parts]
        if all(i is not None and i.dim == dim for i in infos):
            return ChannelInfo(dim, [label for i in infos for label in i.labels])
        if all(i is not None and i.dim != dim for i in infos) and len({i.dim for i in infos}) == 1:
            lead = infos[0]
            for other in infos[1:]:
                if len(other.labels) != len(lead.labels):
                    for i in infos:
                        self.exclude(i, where)
                    return None
                self.couplings += list(zip(lead.labels, other.labels))
            return lead
        if all(i is None for i in infos):
            return None
        if all(i is None or i.dim == dim for i in infos):  # untracked parts: fixed, unprunable channels
            labels = []
            for p, i in zip(parts, infos):
                if i is not None:
                    labels += i.labels
                else:
                    size = (shape_of(p) or ())[dim]
                    labels += self.new_space(p, size, dim, excluded="concatenated untracked tensor").labels
            return ChannelInfo(dim, labels)
        for i in infos:
            self.exclude(i, where)
        return None

    def split(self, node: fx.Node, src: Optional[ChannelInfo], where: str) -> Any:
        if src is None:
            return None
        rank = self.rank(node.args[0])
        dim = (arg(node, 2)) % rank
        size = (shape_of(node.args[0]) or ())[dim]
        sizes = ([node.args[1]] * math.ceil(size / node.args[1]) if node.target is aten.split.Tensor
                 else list(node.args[1]))
        sizes[-1] = size - sum(sizes[:-1])
        if dim != src.dim:
            return [src for _ in sizes]
        pieces, offset = [], 0
        for s in sizes:
            pieces.append(ChannelInfo(dim, src.labels[offset:offset + s]))
            offset += s
        self.edits.append(("split", node.name, [p.labels for p in pieces]))
        return pieces


@register_pass
class ChannelGroupsAnalysis(AnalysisPass[ChannelGroups]):
    """Coupled channel groups for structured pruning, with the reason for every exclusion."""

    name = "channel-groups"
    summary = "find sets of coupled channels that structured pruning must remove together"

    def run(self, module: Module, analyses: object) -> ChannelGroups:
        prop = _Propagation(module)
        prop.run()
        graph = nx.Graph()
        for space, size in prop.spaces.items():
            graph.add_nodes_from((space, i) for i in range(size))
        graph.add_edges_from(prop.couplings)
        space_graph = nx.Graph()
        space_graph.add_nodes_from(prop.spaces)
        units_by_space: dict[str, list[list[Label]]] = {}
        for component in nx.connected_components(graph):
            unit = sorted(component)
            spaces = sorted({s for s, _ in unit})
            space_graph.add_edges_from(zip(spaces, spaces[1:]))
            units_by_space.setdefault(spaces[0], []).append(unit)
        result = ChannelGroups(edits=prop.edits, excluded=dict(prop.excluded),
                               infos={n.name: i for n, i in prop.infos.items() if not isinstance(i, list)})
        by_name = {n.name: n for n in module.graph.nodes}
        for gid, spaces in enumerate(sorted(sorted(c) for c in nx.connected_components(space_graph))):
            units = sorted((u for s in spaces for u in units_by_space.get(s, [])), key=lambda u: u[0])
            reasons = [prop.excluded[s] for s in spaces if s in prop.excluded]
            result.groups.append(Group(gid, spaces, units, reasons[0] if reasons else None))
            for s in spaces:
                if s in by_name:
                    by_name[s].meta[PRUNE_GROUP] = gid
        return result

    def stats(self, result: ChannelGroups) -> dict[str, int | float]:
        prunable = result.prunable()
        return {"groups": len(result.groups), "prunable": len(prunable),
                "prunable_channels": sum(g.channels for g in prunable)}
