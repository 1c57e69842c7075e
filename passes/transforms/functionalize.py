"""``functionalize``: in-place ATen ops on intermediates replaced by their functional forms.

Exact. torch.export keeps ``relu_``, ``add_`` and friends where the model wrote ``inplace=True`` or
``x += y``; every other pass reasons about functional ops, and dce must keep mutating ops alive.
``y = x.add_(b)`` becomes ``y = x.add(b)``, and reads of ``x`` after it read ``y`` instead.
Skipped (the mutation would be visible elsewhere): ``x`` is a model input or a constant, ``x`` is a
view of another tensor, or a view of ``x`` exists. Stats: ``functionalized``, ``skipped``.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.fx as fx

from lepton_ir.metadata import copy_provenance
from lepton_ir.module import Module
from lepton_ir.pass_base import PassContext, PassResult, TransformPass
from lepton_ir.registry import register_pass


def _returns_alias(node: fx.Node) -> bool:
    target = node.target
    if not isinstance(target, torch._ops.OpOverload):
        return node.op == "call_function"  # unknown Python callables (getitem...) may alias
    return any(r.alias_info is not None for r in target._schema.returns)


def functional_counterpart(target: object) -> Optional[torch._ops.OpOverload]:
    """``aten.add.Tensor`` for ``aten.add_.Tensor``; None unless only ``self`` is written."""
    if not isinstance(target, torch._ops.OpOverload):
        return None
    schema = target._schema
    base = schema.name.split("::")[-1]
    if not base.endswith("_") or base.endswith("__") or not schema.arguments:
        return None
    writes = [a.alias_info is not None and a.alias_info.is_write for a in schema.arguments]
    if not writes[0] or any(writes[1:]):
        return None
    packet = getattr(getattr(torch.ops, target.namespace), base[:-1], None)
    return getattr(packet, target._overloadname, None) if packet is not None else None


@register_pass
class Functionalize(TransformPass):
    """Turn in-place ops on intermediates into functional ops."""

    name = "functionalize"
    summary = "replace in-place ops on intermediate tensors (relu_, add_, ...) by functional ones"

    def run(self, module: Module, analyses: object, context: PassContext) -> PassResult:
        order = {n: i for i, n in enumerate(module.graph.nodes)}
        done = skipped = 0
        for node in list(module.graph.nodes):
            functional = functional_counterpart(node.target) if node.op == "call_function" else None
            if functional is None:
                continue
            mutated = node.args[0]
            if (not isinstance(mutated, fx.Node) or mutated.op in ("placeholder", "get_attr")
                    or _returns_alias(mutated)
                    or any(u is not node and u.op == "call_function" and _returns_alias(u) for u in mutated.users)):
                skipped += 1
                continue
            with module.graph.inserting_before(node):
                new = module.graph.call_function(functional, node.args, node.kwargs)
            new.meta.update(node.meta)
            copy_provenance(node, new)
            node.replace_all_uses_with(new)
            for user in list(mutated.users):  # later readers saw the mutated value
                if user is not node and order.get(user, -1) > order[node]:
                    user.replace_input_with(mutated, new)
            module.graph.erase_node(node)
            order[new] = order[node]
            done += 1
        return PassResult(changed=done > 0, stats={"functionalized": done, "skipped": skipped})
