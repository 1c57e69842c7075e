"""``fold-affine``: per-channel constant scales and shifts around conv/linear folded into their weights.

Exact. Two rewrites, repeated until none applies:

- output side: ``conv(x) * s + t``  ->  ``conv'(x)`` with W' = W * s, b' = b * s + t
  (also linear and conv-transpose; covers LayerScale multiplies and unfoldable BatchNorms);
- input side:  ``conv(x * s + t)``  ->  ``conv'(x)`` with the scale folded into the input
  channels and the shift into the bias. A shift only crosses a layer without zero padding
  (padded borders would otherwise see it), so normalisation shifts before a padded stem stay.

The affine op must be the layer's only user (output side) or feed only that layer (input side).
Stats: ``output_folds``, ``input_folds``.
"""
from __future__ import annotations

import torch.fx as fx

from lepton_ir.module import Module
from lepton_ir.node_context import visiting
from lepton_ir.pass_base import PassContext, PassResult, TransformPass
from lepton_ir.registry import register_pass

from .channel_affine import AFFINE_OPS, match_channel_affine
from .weighted_ops import as_weighted, fold_input_affine, fold_output_affine


def fold_output_side(module: Module, node: fx.Node) -> bool:
    for operand in node.args[:2]:
        if not isinstance(operand, fx.Node) or len(operand.users) != 1:
            continue
        op = as_weighted(operand, module)
        if op is None:
            continue
        affine = match_channel_affine(node, module, op.output_channel_dim)
        if affine is None or affine.source is not operand:
            continue
        fold_output_affine(module, op, affine.scale, affine.shift, "affine")
        node.replace_all_uses_with(operand)
        module.graph.erase_node(node)
        return True
    return False


def fold_input_side(module: Module, node: fx.Node) -> bool:
    op = as_weighted(node, module)
    if op is None:
        return False
    producer = node.args[0]
    if not isinstance(producer, fx.Node) or len(producer.users) != 1:
        return False
    affine = match_channel_affine(producer, module, op.input_channel_dim)
    if affine is None or not fold_input_affine(module, op, affine.scale, affine.shift, "affine_in"):
        return False
    node.args = (affine.source,) + tuple(node.args[1:])
    module.graph.erase_node(producer)
    return True


@register_pass
class FoldAffine(TransformPass):
    """Fold per-channel constant scale/shift ops into neighbouring conv/linear weights."""

    name = "fold-affine"
    summary = "fold per-channel constant scales and shifts into adjacent conv/linear weights"

    def run(self, module: Module, analyses: object, context: PassContext) -> PassResult:
        output_folds = input_folds = 0
        progress = True
        while progress:
            progress = False
            for node in list(module.graph.nodes):
                if node.graph is not module.graph or node.op != "call_function":
                    continue
                with visiting(node):
                    if node.target in AFFINE_OPS and fold_output_side(module, node):
                        output_folds += 1
                        progress = True
                    elif fold_input_side(module, node):
                        input_folds += 1
                        progress = True
        return PassResult(changed=bool(output_folds or input_folds),
                          stats={"output_folds": output_folds, "input_folds": input_folds})
