"""``dce``: remove nodes whose results nobody uses, and constants no node reads.

Exact. Ops with side effects (mutating ops, runtime asserts) stay.
Stats: ``nodes_removed``, ``constants_removed``.
"""
from __future__ import annotations

import torch
import torch.fx as fx

from lepton_ir.module import Module
from lepton_ir.pass_base import PassContext, PassResult, TransformPass
from lepton_ir.registry import register_pass


def has_side_effects(node: fx.Node) -> bool:
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        schema = target._schema
        return schema.is_mutable or schema.name.startswith("aten::_assert") or "sym_constrain" in schema.name
    return node.op in ("placeholder", "output")


@register_pass
class DeadCodeElimination(TransformPass):
    """Erase unused pure nodes, repeatedly from the bottom up, then drop unreferenced constants."""

    name = "dce"
    summary = "remove nodes and constants whose results are never used"

    def run(self, module: Module, analyses: object, context: PassContext) -> PassResult:
        removed = 0
        for node in reversed(list(module.graph.nodes)):
            if node.op in ("call_function", "get_attr") and not node.users and not has_side_effects(node):
                module.graph.erase_node(node)
                removed += 1
        constants = module.remove_unused_constants()
        return PassResult(changed=bool(removed or constants),
                          stats={"nodes_removed": removed, "constants_removed": constants})
