"""``fold-constants``: subgraphs whose inputs are all constants, evaluated once into a constant.

Exact (the same ops run, just ahead of time). Covers shape arithmetic on constants, weight
transposes and reshapes, casts of constants. Random ops and ops with side effects are never
folded. A folded result larger than ``max_elements`` and than its inputs combined stays
computed (folding an ``expand`` would bloat the artifact).
Options: ``max_elements`` (default 65536). Stats: ``folded``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx

from lepton_ir.metadata import copy_provenance
from lepton_ir.module import Module
from lepton_ir.node_context import visiting
from lepton_ir.pass_base import PassContext, PassResult, TransformPass
from lepton_ir.registry import register_pass

from .dce import has_side_effects


@dataclass(frozen=True)
class FoldConstantsOptions:
    max_elements: int = 65536


def _foldable(node: fx.Node) -> bool:
    target = node.target
    if not isinstance(target, torch._ops.OpOverload) or has_side_effects(node):
        return False
    if torch.Tag.nondeterministic_seeded in target.tags:
        return False
    if "quantize" in target._schema.name:
        return False  # quantize/dequantize on weights are instructions to the backend, not arithmetic
    return isinstance(node.meta.get("val"), torch.Tensor)


@register_pass
class FoldConstants(TransformPass):
    """Evaluate constant-only subgraphs ahead of time."""

    name = "fold-constants"
    summary = "evaluate subgraphs whose inputs are all constants and store the result"
    Options = FoldConstantsOptions

    def run(self, module: Module, analyses: object, context: PassContext) -> PassResult:
        values: dict[fx.Node, Any] = {}
        for node in module.graph.nodes:
            if node.op == "get_attr":
                values[node] = module.constant(node)
            elif node.op == "call_function" and _foldable(node) and all(a in values for a in node.all_input_nodes):
                args, kwargs = fx.node.map_arg((node.args, node.kwargs), lambda a: values[a])
                with visiting(node), torch.no_grad():
                    values[node] = node.target(*args, **kwargs)
        folded = 0
        for node, value in values.items():
            if node.op != "call_function" or not isinstance(value, torch.Tensor):
                continue
            if all(user in values for user in node.users):
                continue  # only its consumers' folded results are needed
            inputs = sum(values[a].numel() for a in node.all_input_nodes if isinstance(values[a], torch.Tensor))
            if value.numel() > max(self.options.max_elements, inputs):
                continue
            constant = module.add_constant(f"folded_{node.name}", value.detach().clone().contiguous(), before=node)
            copy_provenance(node, constant)
            node.replace_all_uses_with(constant)
            folded += 1
        for node in reversed(list(module.graph.nodes)):
            if node in values and node.op == "call_function" and not node.users:
                module.graph.erase_node(node)
        return PassResult(changed=folded > 0, stats={"folded": folded})
