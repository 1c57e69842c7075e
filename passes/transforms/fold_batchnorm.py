"""``fold-batchnorm``: inference BatchNorm folded into the conv, conv-transpose or linear before it.

Exact. With s = gamma / sqrt(var + eps) and t = beta - mean * s (computed in float64):
``bn(conv(x))`` -> ``conv'(x)`` with W' = W * s per output channel and b' = b * s + t. Any groups,
with or without bias; linear only when its output is [N, C] (BatchNorm1d's channel dim).
A BatchNorm with no foldable producer (after an add, on an input, on a shared output) becomes
``x * s + t`` with [C, 1, ...] constants, which fold-affine may push into the next layer.
Stats: ``into_conv``, ``into_conv_transpose``, ``into_linear``, ``to_affine``.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.fx as fx

from lepton_ir.metadata import copy_provenance, shape_of
from lepton_ir.module import Module
from lepton_ir.node_context import visiting
from lepton_ir.pass_base import PassContext, PassResult, TransformPass
from lepton_ir.registry import register_pass

from .weighted_ops import arg, as_weighted, fold_output_affine

aten = torch.ops.aten


def batchnorm_affine(node: fx.Node, module: Module) -> Optional[tuple[torch.Tensor, torch.Tensor]]:
    """(scale, shift) of an inference batch_norm node with constant statistics, else None."""
    weight, bias, mean, var = (arg(node, i) for i in range(1, 5))
    training, eps = arg(node, 5), float(arg(node, 7))
    if training or mean is None or var is None:
        return None
    tensors = []
    for value in (weight, bias, mean, var):
        if value is None:
            tensors.append(None)
        elif isinstance(value, fx.Node) and value.op == "get_attr":
            tensors.append(module.constant(value).to(torch.float64))
        else:
            return None
    gamma, beta, running_mean, running_var = tensors
    scale = 1.0 / torch.sqrt(running_var + eps)
    if gamma is not None:
        scale = scale * gamma
    shift = -running_mean * scale
    if beta is not None:
        shift = shift + beta
    return scale, shift


def _fold_into_producer(module: Module, node: fx.Node, scale: torch.Tensor, shift: torch.Tensor) -> Optional[str]:
    producer = node.args[0]
    if not isinstance(producer, fx.Node) or len(producer.users) != 1:
        return None
    op = as_weighted(producer, module)
    if op is None or op.out_channels != scale.numel():
        return None
    if op.kind == "linear" and len(shape_of(producer) or ()) != 2:
        return None  # BatchNorm's channel dim 1 is the linear's feature dim only for [N, C]
    fold_output_affine(module, op, scale, shift, "bn")
    node.replace_all_uses_with(producer)
    module.graph.erase_node(node)
    return f"into_{op.kind}"


def _to_affine(module: Module, node: fx.Node, scale: torch.Tensor, shift: torch.Tensor) -> None:
    value = node.meta["val"]
    shape = (-1,) + (1,) * (value.dim() - 2)
    s = module.add_constant(f"{node.name}_scale", scale.to(value.dtype).reshape(shape), before=node)
    t = module.add_constant(f"{node.name}_shift", shift.to(value.dtype).reshape(shape), before=node)
    with module.graph.inserting_before(node):
        mul = module.graph.call_function(aten.mul.Tensor, (node.args[0], s))
        add = module.graph.call_function(aten.add.Tensor, (mul, t))
    for new in (mul, add):
        new.meta["val"] = value
        copy_provenance(node, new)
    node.replace_all_uses_with(add)
    module.graph.erase_node(node)


@register_pass
class FoldBatchNorm(TransformPass):
    """Fold inference BatchNorm into the preceding layer, or lower it to a per-channel multiply-add."""

    name = "fold-batchnorm"
    summary = "fold BatchNorm into the preceding conv/conv-transpose/linear, else make it a multiply-add"

    def run(self, module: Module, analyses: object, context: PassContext) -> PassResult:
        stats = {"into_conv": 0, "into_conv_transpose": 0, "into_linear": 0, "to_affine": 0}
        for node in list(module.graph.nodes):
            if node.op != "call_function" or node.target is not aten.batch_norm.default:
                continue
            with visiting(node):
                affine = batchnorm_affine(node, module)
                if affine is None:
                    continue
                scale, shift = affine
                where = _fold_into_producer(module, node, scale, shift)
                if where is None:
                    _to_affine(module, node, scale, shift)
                    where = "to_affine"
                stats[where] += 1
        return PassResult(changed=any(stats.values()), stats=stats)
