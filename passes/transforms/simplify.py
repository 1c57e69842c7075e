"""``simplify``: algebraic simplifications as a table of local rules, each exact.

Stats: one counter per rule that fired, plus ``rewritten``. The rules (see RULES below):

  mul-by-one          x * 1 -> x
  add-zero            x + 0, x - 0 -> x
  div-by-one          x / 1 -> x
  double-negation     -(-x) -> x
  double-transpose    transpose(transpose(x, a, b), a, b) -> x
  permute-of-permute  permute(permute(x, p), q) -> permute(x, p[q]) (or x when that is the identity)
  reshape-of-reshape  reshape(reshape(x, s1), s2) -> reshape(x, s2)
  squeeze-unsqueeze   squeeze(unsqueeze(x, d), d) -> x
  cat-of-one          cat([x]) -> x
  full-slice          x[:, 0:end>=size:1] -> x
  cast-round-trip     x.to(wider).to(x.dtype) -> x   (when the wider type holds every value of x's)
  idempotent-relu     relu(relu(x)) -> relu(x)
"""
from __future__ import annotations

import sys
from typing import Any, Optional

import torch
import torch.fx as fx

from lepton_ir.metadata import dtype_of, shape_of
from lepton_ir.module import Module
from lepton_ir.pass_base import PassContext, PassResult, TransformPass
from lepton_ir.registry import register_pass
from lepton_ir.rewrite import Rule, apply_rules

from .weighted_ops import arg

aten = torch.ops.aten


def _is_node(value: Any, *targets: object) -> bool:
    return isinstance(value, fx.Node) and value.op == "call_function" and (not targets or value.target in targets)


def _constant_equals(value: Any, module: Module, number: float, like: fx.Node) -> bool:
    """Whether ``value`` is the scalar ``number`` or a constant filled with it that does not broadcast ``like``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == number
    if isinstance(value, fx.Node) and value.op == "get_attr":
        t = module.constant(value)
        shape = shape_of(like) or ()
        if t.dtype != dtype_of(like) or t.dim() > len(shape):
            return False
        padded = (1,) * (len(shape) - t.dim()) + tuple(t.shape)
        return all(d in (1, s) for d, s in zip(padded, shape)) and bool((t == number).all())
    return False


def _binary_identity(number: float, commutative: bool):
    def rewrite(node: fx.Node, module: Module) -> Optional[fx.Node]:
        a, b = node.args[0], node.args[1]
        pairs = [(a, b), (b, a)] if commutative else [(a, b)]
        for x, other in pairs:
            if isinstance(x, fx.Node) and shape_of(x) == shape_of(node) and dtype_of(x) == dtype_of(node) \
                    and _constant_equals(other, module, number, node):
                return x
        return None

    return rewrite


def _double_negation(node: fx.Node, module: Module) -> Optional[fx.Node]:
    inner = node.args[0]
    return inner.args[0] if _is_node(inner, aten.neg.default) else None


def _double_transpose(node: fx.Node, module: Module) -> Optional[fx.Node]:
    inner = node.args[0]
    if not _is_node(inner, aten.transpose.int):
        return None
    rank = len(shape_of(node) or ())
    if not rank:
        return None
    outer_dims = {node.args[1] % rank, node.args[2] % rank}
    inner_dims = {inner.args[1] % rank, inner.args[2] % rank}
    return inner.args[0] if outer_dims == inner_dims else None


def _permute_of_permute(node: fx.Node, module: Module) -> Optional[fx.Node]:
    inner = node.args[0]
    if not _is_node(inner, aten.permute.default):
        return None
    rank = len(inner.args[1])
    first = [d % rank for d in inner.args[1]]
    combined = [first[d % rank] for d in node.args[1]]
    if combined == list(range(rank)):
        return inner.args[0]
    return _build(module, node, aten.permute.default, (inner.args[0], combined))


_RESHAPES = (aten.reshape.default, aten.view.default, aten._unsafe_view.default)


def _reshape_of_reshape(node: fx.Node, module: Module) -> Optional[fx.Node]:
    inner = node.args[0]
    if not _is_node(inner, *_RESHAPES):
        return None
    return _build(module, node, aten.reshape.default, (inner.args[0], node.args[1]))


def _squeeze_unsqueeze(node: fx.Node, module: Module) -> Optional[fx.Node]:
    inner = node.args[0]
    if not _is_node(inner, aten.unsqueeze.default):
        return None
    rank = len(shape_of(inner) or ())
    return inner.args[0] if rank and node.args[1] % rank == inner.args[1] % rank else None


def _cat_of_one(node: fx.Node, module: Module) -> Optional[fx.Node]:
    tensors = node.args[0]
    return tensors[0] if len(tensors) == 1 and isinstance(tensors[0], fx.Node) else None


def _full_slice(node: fx.Node, module: Module) -> Optional[fx.Node]:
    source = node.args[0]
    shape = shape_of(source)
    if not isinstance(source, fx.Node) or shape is None:
        return None
    dim, start, end, step = (arg(node, i) for i in range(1, 5))
    dim = dim % len(shape)
    if start not in (None, 0) or step != 1 or not isinstance(end, (int, type(None))):
        return None
    if module.dynamic_batch and dim == 0:
        full = end is None or end >= sys.maxsize  # any batch size
    else:
        full = end is None or end >= shape[dim]
    return source if full else None


# Casts that a wider type undoes exactly: every value of the narrow type is representable in the wide one.
_EXACT_WIDENING = {
    (torch.float16, torch.float32), (torch.float16, torch.float64), (torch.bfloat16, torch.float32),
    (torch.bfloat16, torch.float64), (torch.float32, torch.float64), (torch.int8, torch.int16),
    (torch.int8, torch.int32), (torch.int8, torch.int64), (torch.int16, torch.int32), (torch.int16, torch.int64),
    (torch.int32, torch.int64), (torch.uint8, torch.int16), (torch.uint8, torch.int32), (torch.uint8, torch.int64),
    (torch.bool, torch.int64), (torch.bool, torch.int32), (torch.bool, torch.float32),
}
_CASTS = (aten.to.dtype, aten._to_copy.default, aten.to.dtype_layout)


def _cast_round_trip(node: fx.Node, module: Module) -> Optional[fx.Node]:
    inner = node.args[0]
    if not _is_node(inner, *_CASTS):
        return None
    source = inner.args[0]
    narrow, wide, back = dtype_of(source), dtype_of(inner), dtype_of(node)
    if narrow is None or back != narrow or (narrow, wide) not in _EXACT_WIDENING:
        return None
    return source if shape_of(source) == shape_of(node) else None


def _idempotent_relu(node: fx.Node, module: Module) -> Optional[fx.Node]:
    inner = node.args[0]
    return inner if _is_node(inner, aten.relu.default) else None


def _build(module: Module, anchor: fx.Node, target: object, args: tuple) -> fx.Node:
    with module.graph.inserting_before(anchor):
        new = module.graph.call_function(target, args)
    new.meta["val"] = anchor.meta.get("val")
    return new


RULES = [
    # x * 1 == x when 1 does not broadcast x to a larger shape or another dtype
    Rule("mul-by-one", frozenset({aten.mul.Tensor, aten.mul.Scalar}), _binary_identity(1.0, True)),
    # x + 0 == x and x - 0 == x (0 * alpha is still 0)
    Rule("add-zero", frozenset({aten.add.Tensor, aten.add.Scalar}), _binary_identity(0.0, True)),
    Rule("add-zero", frozenset({aten.sub.Tensor, aten.sub.Scalar}), _binary_identity(0.0, False)),
    # x / 1 == x
    Rule("div-by-one", frozenset({aten.div.Tensor, aten.div.Scalar}), _binary_identity(1.0, False)),
    # negation is its own inverse
    Rule("double-negation", frozenset({aten.neg.default}), _double_negation),
    # swapping the same two dims twice restores the layout
    Rule("double-transpose", frozenset({aten.transpose.int}), _double_transpose),
    # two permutations compose into one
    Rule("permute-of-permute", frozenset({aten.permute.default}), _permute_of_permute),
    # only the last reshape's target shape matters (row-major order is preserved by each)
    Rule("reshape-of-reshape", frozenset(_RESHAPES), _reshape_of_reshape),
    # removing the dim just added restores the tensor
    Rule("squeeze-unsqueeze", frozenset({aten.squeeze.dim}), _squeeze_unsqueeze),
    # concatenating one tensor is that tensor
    Rule("cat-of-one", frozenset({aten.cat.default}), _cat_of_one),
    # a slice from 0 past the end with step 1 selects everything
    Rule("full-slice", frozenset({aten.slice.Tensor}), _full_slice),
    # widening then narrowing back is lossless
    Rule("cast-round-trip", frozenset(_CASTS), _cast_round_trip),
    # relu(relu(x)) == relu(x)
    Rule("idempotent-relu", frozenset({aten.relu.default}), _idempotent_relu),
]


@register_pass
class Simplify(TransformPass):
    """Apply the algebraic rule table once over the graph."""

    name = "simplify"
    summary = "algebraic simplifications (x*1, x+0, double transpose, reshape of reshape, ...)"

    def run(self, module: Module, analyses: object, context: PassContext) -> PassResult:
        counts = apply_rules(module, RULES)
        stats: dict[str, int | float] = dict(sorted(counts.items()))
        stats["rewritten"] = sum(counts.values())
        return PassResult(changed=bool(stats["rewritten"]), stats=stats)
