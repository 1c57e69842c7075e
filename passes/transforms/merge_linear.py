"""``merge-linear``: two consecutive linear layers with nothing between them merged into one.

Exact up to float rounding (the product is formed in float64). ``linear(linear(x, W1, b1), W2, b2)``
becomes ``linear(x, W2 @ W1, W2 @ b1 + b2)``, only when that lowers parameters (and so MACs):
out * in < mid * (in + out). The inner layer's output must feed only the outer one.
Stats: ``merged``.
"""
from __future__ import annotations

import torch
import torch.fx as fx

from lepton_ir.module import Module
from lepton_ir.node_context import visiting
from lepton_ir.pass_base import PassContext, PassResult, TransformPass
from lepton_ir.registry import register_pass

from .weighted_ops import as_weighted

aten = torch.ops.aten


def _try_merge(module: Module, outer: fx.Node) -> bool:
    second = as_weighted(outer, module)
    if second is None or second.kind != "linear":
        return False
    inner = outer.args[0]
    if not isinstance(inner, fx.Node) or len(inner.users) != 1:
        return False
    first = as_weighted(inner, module)
    if first is None or first.kind != "linear":
        return False
    mid, n_in = first.weight.shape
    n_out = second.weight.shape[0]
    if n_out * n_in >= mid * (n_in + n_out):
        return False
    w1, w2 = first.weight.to(torch.float64), second.weight.to(torch.float64)
    weight = w2 @ w1
    bias = None
    if first.bias is not None or second.bias is not None:
        bias = torch.zeros(n_out, dtype=torch.float64)
        if first.bias is not None:
            bias = bias + w2 @ first.bias.to(torch.float64)
        if second.bias is not None:
            bias = bias + second.bias.to(torch.float64)
    dtype = second.weight.dtype
    w_node = module.add_constant(f"{outer.name}_merged_weight", weight.to(dtype), before=outer)
    b_node = module.add_constant(f"{outer.name}_merged_bias", bias.to(dtype), before=outer) if bias is not None else None
    outer.args = (inner.args[0], w_node, b_node)
    module.graph.erase_node(inner)
    return True


@register_pass
class MergeLinear(TransformPass):
    """Merge back-to-back linear layers when the merged layer is smaller."""

    name = "merge-linear"
    summary = "merge two consecutive linear layers when that lowers parameters and MACs"

    def run(self, module: Module, analyses: object, context: PassContext) -> PassResult:
        merged = 0
        for node in list(module.graph.nodes):
            if node.graph is module.graph and node.op == "call_function" and node.target is aten.linear.default:
                with visiting(node):
                    merged += _try_merge(module, node)
        return PassResult(changed=merged > 0, stats={"merged": merged})
