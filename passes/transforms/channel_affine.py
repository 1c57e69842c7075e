"""Recognising per-channel affine ops: ``x * s``, ``x / s``, ``x + t``, ``x - t`` with constant s, t.

Shared by fold-affine (which folds them into conv/linear weights) and simplify.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.fx as fx

from lepton_ir.metadata import shape_of
from lepton_ir.module import Module

from .weighted_ops import channel_vector

aten = torch.ops.aten

SCALE_OPS = {aten.mul.Tensor, aten.mul.Scalar, aten.div.Tensor, aten.div.Scalar}
SHIFT_OPS = {aten.add.Tensor, aten.add.Scalar, aten.sub.Tensor, aten.sub.Scalar}
AFFINE_OPS = frozenset(SCALE_OPS | SHIFT_OPS)


@dataclass
class ChannelAffine:
    """``node`` computes ``source * scale + shift`` with per-channel vectors (one of them None)."""

    node: fx.Node
    source: fx.Node
    scale: Optional[torch.Tensor]
    shift: Optional[torch.Tensor]


def match_channel_affine(node: fx.Node, module: Module, channel_dim: int) -> Optional[ChannelAffine]:
    if node.op != "call_function" or node.target not in AFFINE_OPS or node.kwargs.get("rounding_mode"):
        return None
    a, b = node.args[0], node.args[1]
    commutative = node.target in (aten.mul.Tensor, aten.add.Tensor)
    candidates = [(a, b), (b, a)] if commutative else [(a, b)]
    for source, constant in candidates:
        if not isinstance(source, fx.Node) or source.op == "get_attr":
            continue
        if shape_of(source) != shape_of(node):
            continue  # the constant broadcasts the tensor to a larger shape: not a per-channel affine
        vector = channel_vector(constant, module, node, channel_dim)
        if vector is None:
            continue
        alpha = float(node.kwargs.get("alpha", 1))
        if node.target in (aten.mul.Tensor, aten.mul.Scalar):
            return ChannelAffine(node, source, vector, None)
        if node.target in (aten.div.Tensor, aten.div.Scalar):
            if bool((vector == 0).any()):
                return None
            return ChannelAffine(node, source, 1.0 / vector, None)
        sign = 1.0 if node.target in (aten.add.Tensor, aten.add.Scalar) else -1.0
        return ChannelAffine(node, source, None, sign * alpha * vector)
    return None
