"""A uniform view of conv, conv-transpose and linear nodes, and exact rewrites of their weights.

Folding passes (fold-batchnorm, fold-affine) scale a layer's output channels or input channels
by constants; this module owns the weight-layout arithmetic so each pass states only its pattern.
New weights always become new constants: a weight shared by two layers is never edited in place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.fx as fx

from lepton_ir.metadata import shape_of, tensor_val
from lepton_ir.module import Module

aten = torch.ops.aten

# target -> (kind, padding arg index, groups arg index)
_LAYOUT = {
    aten.conv1d.default: ("conv", 4, 6), aten.conv2d.default: ("conv", 4, 6), aten.conv3d.default: ("conv", 4, 6),
    aten.conv1d.padding: ("conv", 4, 6), aten.conv2d.padding: ("conv", 4, 6), aten.conv3d.padding: ("conv", 4, 6),
    aten.conv_transpose1d.default: ("conv_transpose", 4, 6),
    aten.conv_transpose2d.input: ("conv_transpose", 4, 6), aten.conv_transpose3d.input: ("conv_transpose", 4, 6),
    aten.linear.default: ("linear", None, None),
}
WEIGHTED_TARGETS = frozenset(_LAYOUT) | {aten.convolution.default}
BIAS_INDEX = 2


@dataclass
class WeightedOp:
    """A conv/conv-transpose/linear node whose weight (and bias, if any) are constants."""

    node: fx.Node
    kind: str  # conv | conv_transpose | linear
    weight: torch.Tensor
    bias: Optional[torch.Tensor]
    groups: int
    zero_padding: bool  # the op pads its input with zeros somewhere

    @property
    def out_channels(self) -> int:
        if self.kind == "conv_transpose":
            return self.weight.shape[1] * self.groups
        return self.weight.shape[0]

    @property
    def in_channels(self) -> int:
        if self.kind == "conv_transpose":
            return self.weight.shape[0]
        if self.kind == "linear":
            return self.weight.shape[1]
        return self.weight.shape[1] * self.groups

    @property
    def output_channel_dim(self) -> int:
        return -1 if self.kind == "linear" else 1

    @property
    def input_channel_dim(self) -> int:
        return -1 if self.kind == "linear" else 1


def arg(node: fx.Node, index: int) -> Any:
    """Positional argument ``index``, or its schema default when export left it out."""
    if index < len(node.args):
        return node.args[index]
    return node.target._schema.arguments[index].default_value


def as_weighted(node: fx.Node, module: Module) -> Optional[WeightedOp]:
    if node.op != "call_function" or node.target not in WEIGHTED_TARGETS:
        return None
    weight_node, bias_node = arg(node, 1), arg(node, BIAS_INDEX)
    if not _is_constant(weight_node) or not (bias_node is None or _is_constant(bias_node)):
        return None
    if node.target is aten.convolution.default:
        kind = "conv_transpose" if arg(node, 6) else "conv"
        padding, groups = arg(node, 4), arg(node, 8)
    else:
        kind, pad_index, group_index = _LAYOUT[node.target]
        padding = arg(node, pad_index) if pad_index is not None else 0
        groups = arg(node, group_index) if group_index is not None else 1
    weight = module.constant(weight_node)
    bias = module.constant(bias_node) if bias_node is not None else None
    if not weight.is_floating_point():
        return None
    return WeightedOp(node, kind, weight, bias, int(groups), _pads_input(padding, weight, kind))


def _pads_input(padding: Any, weight: torch.Tensor, kind: str) -> bool:
    if kind == "linear":
        return False
    if isinstance(padding, str):
        return padding == "same" and any(k > 1 for k in weight.shape[2:])
    if kind == "conv_transpose":
        return True  # its output cropping and overlap make every shift position-dependent
    return any(int(p) != 0 for p in (padding if isinstance(padding, (list, tuple)) else [padding]))


def _is_constant(node: Any) -> bool:
    return isinstance(node, fx.Node) and node.op == "get_attr"


def channel_vector(value: Any, module: Module, out: fx.Node, channel_dim: int) -> Optional[torch.Tensor]:
    """The per-channel vector a constant applies along ``channel_dim`` of ``out``'s value, or None.

    Scalars and constants shaped like [C, 1, 1] or [1, C, 1, 1] (for NCHW) qualify; a constant that
    would broadcast the output to a larger shape, or varies along other dims, does not.
    """
    shape = shape_of(out)
    val = tensor_val(out)
    if shape is None or val is None or not shape:
        return None
    channels = shape[channel_dim]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.full((channels,), float(value), dtype=torch.float64)
    if not _is_constant(value):
        return None
    tensor = module.constant(value)
    if not isinstance(tensor, torch.Tensor) or tensor.dtype != val.dtype or tensor.dim() > len(shape):
        return None
    dims = [1] * (len(shape) - tensor.dim()) + list(tensor.shape)
    position = channel_dim % len(shape)
    for i, d in enumerate(dims):
        if d != 1 and (i != position or d != channels):
            return None
    return tensor.reshape(-1).to(torch.float64).expand(channels).clone() if tensor.numel() == 1 else \
        tensor.reshape(-1).to(torch.float64)


def set_arg(node: fx.Node, index: int, value: Any) -> None:
    """Set positional argument ``index``, filling skipped optional arguments with their defaults."""
    args = list(node.args)
    while len(args) <= index:
        args.append(arg(node, len(args)))
    args[index] = value
    node.args = tuple(args)


def _store(module: Module, op: WeightedOp, weight: torch.Tensor, bias: Optional[torch.Tensor], tag: str) -> None:
    node = op.node
    old_weight = arg(node, 1)
    new_weight = module.add_constant(f"{old_weight.target}_{tag}", weight.to(op.weight.dtype), before=node)
    set_arg(node, 1, new_weight)
    if bias is not None:
        name = arg(node, BIAS_INDEX).target if arg(node, BIAS_INDEX) is not None else f"{old_weight.target}_bias"
        new_bias = module.add_constant(f"{name}_{tag}", bias.to(op.weight.dtype), before=node)
        set_arg(node, BIAS_INDEX, new_bias)


def _out_scale_shape(op: WeightedOp) -> tuple[int, ...]:
    return (-1,) + (1,) * (op.weight.dim() - 1)


def fold_output_affine(module: Module, op: WeightedOp, scale: Optional[torch.Tensor],
                       shift: Optional[torch.Tensor], tag: str) -> None:
    """Rewrite ``op`` so that it computes ``op(x) * scale + shift`` per output channel (float64 math)."""
    weight = op.weight.to(torch.float64)
    bias = op.bias.to(torch.float64) if op.bias is not None else torch.zeros(op.out_channels, dtype=torch.float64)
    if scale is not None:
        if op.kind == "conv_transpose":
            g = op.groups
            w = weight.reshape(g, weight.shape[0] // g, weight.shape[1], *weight.shape[2:])
            s = scale.reshape(g, 1, weight.shape[1], *([1] * (weight.dim() - 2)))
            weight = (w * s).reshape(weight.shape)
        else:
            weight = weight * scale.reshape(_out_scale_shape(op))
        bias = bias * scale
    if shift is not None:
        bias = bias + shift
    needs_bias = op.bias is not None or shift is not None
    _store(module, op, weight, bias if needs_bias else None, tag)


def fold_input_affine(module: Module, op: WeightedOp, scale: Optional[torch.Tensor],
                      shift: Optional[torch.Tensor], tag: str) -> bool:
    """Rewrite ``op`` so that ``op'(x) == op(x * scale + shift)``; False when that is not exact.

    A shift cannot cross a zero-padded convolution: padded borders would see the shift's
    contribution where the original saw zeros.
    """
    if shift is not None and (op.zero_padding or op.kind == "conv_transpose"):
        return False
    weight = op.weight.to(torch.float64)
    bias = op.bias.to(torch.float64) if op.bias is not None else torch.zeros(op.out_channels, dtype=torch.float64)
    if shift is not None:
        if op.kind == "linear":
            bias = bias + weight @ shift
        else:
            per_group = op.in_channels // op.groups
            t = shift.reshape(op.groups, 1, per_group, *([1] * (weight.dim() - 2)))
            w = weight.reshape(op.groups, weight.shape[0] // op.groups, per_group, *weight.shape[2:])
            bias = bias + (w * t).sum(dim=tuple(range(2, w.dim()))).reshape(-1)
    if scale is not None:
        if op.kind == "linear":
            weight = weight * scale.reshape(1, -1)
        elif op.kind == "conv_transpose":
            weight = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
        else:
            per_group = op.in_channels // op.groups
            s = scale.reshape(op.groups, 1, per_group, *([1] * (weight.dim() - 2)))
            w = weight.reshape(op.groups, weight.shape[0] // op.groups, per_group, *weight.shape[2:])
            weight = (w * s).reshape(weight.shape)
    needs_bias = op.bias is not None or shift is not None
    _store(module, op, weight, bias if needs_bias else None, tag)
    return True
