"""``cost``: parameters and multiply-accumulates (MACs) per node and in total.

MACs count the dense arithmetic that dominates latency: convolutions (incl. transposed),
linear/matmul/bmm/addmm, and attention (scaled_dot_product_attention: QK^T and AV).
Elementwise ops, normalisations and pooling are counted separately as ``elementwise`` (one per
output element; pooling: one per window element), so ``macs`` stays comparable with other tools.
``params`` counts the elements of the floating-point constants each node reads.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import torch
import torch.fx as fx

from lepton_ir.metadata import shape_of, tensor_val
from lepton_ir.module import Module
from lepton_ir.pass_base import AnalysisPass
from lepton_ir.registry import register_pass

aten = torch.ops.aten


@dataclass(frozen=True)
class NodeCost:
    kind: str  # conv | linear | matmul | attention | elementwise | norm | pool | other
    params: int
    macs: int
    elementwise: int


@dataclass
class CostResult:
    nodes: dict[str, NodeCost] = field(default_factory=dict)
    total_params: int = 0
    total_macs: int = 0
    total_elementwise: int = 0
    macs_by_kind: dict[str, int] = field(default_factory=dict)


_CONV = {aten.conv1d.default, aten.conv2d.default, aten.conv3d.default, aten.convolution.default}
_CONV_T = {aten.conv_transpose1d.default, aten.conv_transpose2d.input, aten.conv_transpose3d.input}
_MATMUL = {aten.mm.default, aten.bmm.default, aten.matmul.default}
_ADDMM = {aten.addmm.default, aten.baddbmm.default}
_NORM = {aten.batch_norm.default, aten.layer_norm.default, aten.group_norm.default,
         aten._native_batch_norm_legit_no_training.default, aten.native_layer_norm.default}
_POOL = {aten.max_pool2d.default, aten.avg_pool2d.default, aten.max_pool1d.default, aten.avg_pool1d.default,
         aten.max_pool3d.default, aten.avg_pool3d.default}
_ELEMENTWISE = {
    aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor, aten.add.Scalar, aten.mul.Scalar,
    aten.relu.default, aten.relu6.default, aten.gelu.default, aten.silu.default, aten.sigmoid.default,
    aten.tanh.default, aten.hardswish.default, aten.hardsigmoid.default, aten.hardtanh.default,
    aten.leaky_relu.default, aten.elu.default, aten.softmax.int, aten._softmax.default, aten.exp.default,
    aten.sqrt.default, aten.rsqrt.default, aten.pow.Tensor_Scalar, aten.neg.default, aten.clamp.default,
    aten.mean.dim, aten.sum.dim_IntList, aten.adaptive_avg_pool2d.default, aten.where.self,
}


def _numel(node: fx.Node) -> int:
    val = tensor_val(node)
    return int(val.numel()) if val is not None else 0


def _shape(arg: object) -> tuple[int, ...]:
    return shape_of(arg) or () if isinstance(arg, fx.Node) else ()


def node_cost(node: fx.Node, module: Module) -> NodeCost:
    params = 0
    for arg in node.all_input_nodes:
        if arg.op == "get_attr":
            t = module.constant(arg)
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                params += t.numel()
    out = _numel(node)
    target = node.target
    if target in _CONV:
        transposed = target is aten.convolution.default and bool(node.args[6])
        w = _shape(node.args[1])
        if transposed:
            return NodeCost("conv", params, _numel(node.args[0]) * math.prod(w[1:]), 0)
        return NodeCost("conv", params, out * math.prod(w[1:]), 0)
    if target in _CONV_T:
        w = _shape(node.args[1])
        return NodeCost("conv", params, _numel(node.args[0]) * math.prod(w[1:]), 0)
    if target is aten.linear.default:
        return NodeCost("linear", params, out * _shape(node.args[1])[-1], 0)
    if target in _MATMUL:
        return NodeCost("matmul", params, out * (_shape(node.args[0]) or (0,))[-1], 0)
    if target in _ADDMM:
        return NodeCost("matmul", params, out * (_shape(node.args[1]) or (0,))[-1], 0)
    if target is aten.scaled_dot_product_attention.default:
        q, k, v = (_shape(a) for a in node.args[:3])
        if q and k and v:
            batch = math.prod(q[:-2])
            length, source, e, ev = q[-2], k[-2], q[-1], v[-1]
            return NodeCost("attention", params, batch * length * source * (e + ev), 0)
    if target in _NORM:
        return NodeCost("norm", params, 0, out)
    if target in _POOL:
        kernel = node.args[1] if len(node.args) > 1 else [1]
        return NodeCost("pool", params, 0, out * math.prod(kernel if isinstance(kernel, (list, tuple)) else [kernel]))
    if target in _ELEMENTWISE:
        return NodeCost("elementwise", params, 0, max(out, _numel(node.args[0]) if node.args and isinstance(node.args[0], fx.Node) else 0))
    return NodeCost("other", params, 0, 0)


@register_pass
class CostAnalysis(AnalysisPass[CostResult]):
    """Params and MACs per node and in total."""

    name = "cost"
    summary = "count parameters and MACs per node and in total"

    def run(self, module: Module, analyses: object) -> CostResult:
        result = CostResult()
        by_kind: Counter[str] = Counter()
        for node in module.compute_nodes():
            cost = node_cost(node, module)
            result.nodes[node.name] = cost
            result.total_macs += cost.macs
            result.total_elementwise += cost.elementwise
            by_kind[cost.kind] += cost.macs
        result.total_params = module.parameter_count()
        result.macs_by_kind = {k: v for k, v in sorted(by_kind.items()) if v}
        return result

    def stats(self, result: CostResult) -> dict[str, int | float]:
        return {"params": result.total_params, "macs": result.total_macs, "elementwise": result.total_elementwise}
