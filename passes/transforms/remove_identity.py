"""``remove-identity``: drop ops that return their input unchanged at inference.

Exact. Each rule replaces the op with its input when that is provably the same tensor value:

- dropout / alpha / feature dropout: identity in eval mode (the IR is inference-only)
- detach, alias, lift_fresh_copy: same values
- clone, contiguous of an already contiguous tensor (a later view() may need the copy otherwise)
- view / reshape / _unsafe_view / flatten / expand to the input's own shape
- permute by the identity permutation, transpose of a dim with itself
- to / _to_copy / type_as to the dtype the tensor already has
- _assert_tensor_metadata: a static dtype/shape check the verifier already proves after every pass

Stats: one counter per rule, plus ``removed`` in total.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.fx as fx

from lepton_ir.metadata import dtype_of, shape_of
from lepton_ir.module import Module
from lepton_ir.pass_base import PassContext, PassResult, TransformPass
from lepton_ir.registry import register_pass
from lepton_ir.rewrite import Rule, apply_rules

aten = torch.ops.aten

def _input(node: fx.Node) -> Optional[fx.Node]:
    arg = node.args[0] if node.args else None
    return arg if isinstance(arg, fx.Node) else None

def _always(node: fx.Node, module: Module) -> Optional[fx.Node]:
    return _input(node)

def _contiguous_copy(node: fx.Node, module: Module) -> Optional[fx.Node]:
    source = _input(node)
    val = source.meta.get("val") if source is not None else None
    # A later view() needs contiguous memory: only a copy of an already contiguous tensor is a no-op.
    return source if isinstance(val, torch.Tensor) and val.is_contiguous() else None


def _same_shape(node: fx.Node, module: Module) -> Optional[fx.Node]:
    source = _input(node)
    if source is None or module.dynamic_batch:
        return None  # with a symbolic batch a concrete shape match proves nothing
    same = shape_of(source) == shape_of(node) and dtype_of(source) == dtype_of(node)
    return source if same else None

def _identity_permutation(node: fx.Node, module: Module) -> Optional[fx.Node]:
    dims = node.args[1]
    return _input(node) if list(dims) == list(range(len(dims))) else None

def _self_transpose(node: fx.Node, module: Module) -> Optional[fx.Node]:
    rank = len(shape_of(node) or ())
    d0, d1 = node.args[1], node.args[2]
    return _input(node) if rank and d0 % rank == d1 % rank else None

def _same_dtype(node: fx.Node, module: Module) -> Optional[fx.Node]:
    source = _input(node)
    if source is None or dtype_of(source) != dtype_of(node):
        return None
    val, src = node.meta.get("val"), source.meta.get("val")
    if val is None or src is None or val.device != src.device:
        return None
    return source

RULES = [
    Rule("dropout", frozenset({aten.dropout.default, aten.alpha_dropout.default, aten.feature_dropout.default,
                               aten.feature_alpha_dropout.default}), _always,
         "dropout is the identity in eval mode"),
    Rule("copy", frozenset({aten.detach.default, aten.alias.default, aten.lift_fresh_copy.default}), _always,
         "an alias has the same values as its input"),
    Rule("contiguous-copy", frozenset({aten.clone.default, aten.contiguous.default}), _contiguous_copy,
         "a copy of a contiguous tensor has the same values and layout"),
    Rule("noop-reshape", frozenset({aten.view.default, aten.reshape.default, aten._unsafe_view.default,
                                    aten.flatten.using_ints, aten.expand.default}), _same_shape,
         "reshaping to the same shape keeps every element in place"),
    Rule("identity-permute", frozenset({aten.permute.default}), _identity_permutation,
         "permuting by (0, 1, ..., n-1) moves nothing"),
    Rule("self-transpose", frozenset({aten.transpose.int}), _self_transpose,
         "swapping a dimension with itself moves nothing"),
    Rule("same-dtype-cast", frozenset({aten.to.dtype, aten.to.dtype_layout, aten.to.device, aten._to_copy.default,
                                       aten.type_as.default}), _same_dtype,
         "casting to the dtype and device a tensor already has changes nothing"),
]

_ASSERTS = {aten._assert_tensor_metadata.default}

@register_pass
class RemoveIdentity(TransformPass):
    """Replace identity ops at inference with their input."""

    name = "remove-identity"
    summary = "remove dropout, copies, no-op reshapes/permutes/casts and static metadata asserts"

    def run(self, module: Module, analyses: object, context: PassContext) -> PassResult:
        counts = apply_rules(module, RULES)
        for node in list(module.graph.nodes):
            if node.op == "call_function" and node.target in _ASSERTS and not node.users:
                module.graph.erase_node(node)
                counts["metadata-assert"] += 1
        stats: dict[str, int | float] = dict(sorted(counts.items()))
        stats["removed"] = sum(counts.values())
        return PassResult(changed=bool(stats["removed"]), stats=stats)
