"""Deliberately faulty passes, registered on import (also loadable with ``--plugin`` on the CLI)."""
from __future__ import annotations

import torch

from lepton_ir import PassResult, TransformPass, register_pass
from lepton_ir.pass_base import approximate

aten = torch.ops.aten


@register_pass
class Explode(TransformPass):
    """Raises while looking at the first batch_norm node."""

    name = "test-explode"
    summary = "raises on the first batch_norm"

    def run(self, module, analyses, context):
        for node in module.compute_nodes():
            if node.target == aten.batch_norm.default:
                raise ValueError(f"cannot handle {node.name}")
        return PassResult(changed=False)


@register_pass
class Liar(TransformPass):
    """Edits a weight in place but reports changed=False."""

    name = "test-liar"
    summary = "modifies the IR but says it did not"

    def run(self, module, analyses, context):
        module.constant("conv.weight").add_(1.0)
        return PassResult(changed=False)


@register_pass
class Perturb(TransformPass):
    """Claims to be exact but scales a weight."""

    name = "test-perturb"
    summary = "scales conv.weight by 1.1 and claims exactness"

    def run(self, module, analyses, context):
        module.set_constant("conv.weight", module.constant("conv.weight") * 1.1)
        return PassResult(changed=True, stats={"scaled": 1})


@register_pass
class PerturbApprox(Perturb):
    """The same change, honestly declared approximate without a tolerance."""

    name = "test-perturb-approx"
    summary = "scales conv.weight by 1.1, approximate"
    contract = approximate(None)


@register_pass
class StaleShapes(TransformPass):
    """Makes the graph's output smaller without updating shape metadata."""

    name = "test-stale"
    summary = "slices the output without refreshing metadata"

    def run(self, module, analyses, context):
        output = next(n for n in reversed(module.graph.nodes) if n.op == "output")
        last = output.args[0][0]
        with module.graph.inserting_after(last):
            sliced = module.graph.call_function(aten.slice.Tensor, (last, 1, 0, 1))
        sliced.meta["val"] = last.meta["val"]
        output.args = ((sliced,),)
        return PassResult(changed=True)


@register_pass
class NewModule(TransformPass):
    """Returns a fresh module and leaves its input alone (``in_place = False``)."""

    name = "test-new-module"
    summary = "returns a modified copy"
    in_place = False

    def run(self, module, analyses, context):
        copy = module.clone()
        copy.set_constant("fc.bias", copy.constant("fc.bias") + 0.0)
        return PassResult(changed=True, module=copy)


@register_pass
class ClaimsCopy(NewModule):
    """Says it returns a new module but edits its input."""

    name = "test-claims-copy"
    summary = "declares in_place=False but mutates its input"

    def run(self, module, analyses, context):
        module.constant("fc.bias").add_(1.0)
        return PassResult(changed=True, module=module.clone())


@register_pass
class SilentBreak(TransformPass):
    """Claims exactness but scales the first convolution's weight by 1.5: wrong, and says nothing."""

    name = "test-silent-break"
    summary = "silently corrupts the first conv's weight"

    def run(self, module, analyses, context):
        conv = next(n for n in module.compute_nodes() if "conv" in str(n.target))
        weight = conv.args[1]
        module.set_constant(weight.target, module.constant(weight) * 1.5)
        return PassResult(changed=True, stats={"broken": 1})
