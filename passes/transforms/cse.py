"""``cse``: common subexpression elimination.

Exact. Two pure nodes with the same op and the same arguments compute the same value: later
ones are replaced by the first. ``get_attr`` nodes naming the same constant are merged too.
Random ops, ops with side effects, and values written in place are never merged.
Stats: ``eliminated``.
"""
from __future__ import annotations

from typing import Any, Hashable

import torch
import torch.fx as fx

from lepton_ir.module import Module
from lepton_ir.pass_base import PassContext, PassResult, TransformPass
from lepton_ir.registry import register_pass
from lepton_ir.rewrite import mutated_in_place

from .dce import has_side_effects


def _key(value: Any) -> Hashable:
    if isinstance(value, fx.Node):
        return ("node", id(value))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__,) + tuple(_key(v) for v in value)
    if isinstance(value, dict):
        return ("dict",) + tuple(sorted((k, _key(v)) for k, v in value.items()))
    if isinstance(value, float):
        return ("float", repr(value))  # 0.0 and -0.0 differ; nan equals nan here
    return (type(value).__name__, value)


def _mergeable(node: fx.Node) -> bool:
    if node.op == "get_attr":
        return True
    if node.op != "call_function" or has_side_effects(node):
        return False
    target = node.target
    return not (isinstance(target, torch._ops.OpOverload) and torch.Tag.nondeterministic_seeded in target.tags)


@register_pass
class CommonSubexpressionElimination(TransformPass):
    """Replace repeated pure computations by their first occurrence."""

    name = "cse"
    summary = "merge nodes that compute the same op on the same inputs"

    def run(self, module: Module, analyses: object, context: PassContext) -> PassResult:
        seen: dict[Hashable, fx.Node] = {}
        eliminated = 0
        for node in list(module.graph.nodes):
            if not _mergeable(node):
                continue
            key = (node.op, _key(node.target) if node.op == "get_attr" else id(node.target),
                   _key(node.args), _key(node.kwargs))
            first = seen.get(key)
            if first is None:
                seen[key] = node
                continue
            if mutated_in_place(node) or mutated_in_place(first):
                continue  # the copies are different storage: a write into one must not reach the other
            node.replace_all_uses_with(first)
            module.graph.erase_node(node)
            eliminated += 1
        return PassResult(changed=eliminated > 0, stats={"eliminated": eliminated})
