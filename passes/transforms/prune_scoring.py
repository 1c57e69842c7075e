"""Channel importance for structured pruning: built-in criteria and user-supplied scorers.

A scorer maps (module, producing node, output channel) to an importance; a unit's importance is the
sum over its channels. Built in: ``l1`` and ``l2`` (norm of the producing weights), ``bn-scale``
(|gamma| of the BatchNorm that normalises the channel: run before fold-batchnorm; channels without
one fall back to l1), ``taylor`` (|sum of weight x gradient| of the producing weights, the gradient
of the output energy on the calibration data). Register your own with ``@register_scorer("name")``
and use ``prune-channels{criterion=name}``.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
import torch.fx as fx

from lepton_ir.module import Module

Scorer = Callable[[Module, fx.Node, int], float]
_SCORERS: dict[str, Scorer] = {}
BUILTIN = ("l1", "l2", "bn-scale", "taylor")


def register_scorer(name: str) -> Callable[[Scorer], Scorer]:
    """Decorator: ``@register_scorer("my-score")`` makes ``criterion=my-score`` available."""

    def wrap(fn: Scorer) -> Scorer:
        if name in BUILTIN:
            raise ValueError(f"'{name}' is a built-in criterion")
        _SCORERS[name] = fn
        return fn

    return wrap


def bn_positions(result: Any) -> dict[tuple[str, int], tuple[str, int]]:
    """(space, channel) -> (batch_norm node, position) from a ChannelGroups result, for ``bn-scale``."""
    found: dict[tuple[str, int], tuple[str, int]] = {}
    for kind, name, extra in result.edits:
        if kind == "bn":
            for position, label in enumerate(extra):
                found.setdefault(label, (name, position))
    return found


def scorer_names() -> list[str]:
    return list(BUILTIN) + sorted(_SCORERS)


class Importance:
    """Scores channels of one module under one criterion (gradients and BN scales computed once)."""

    def __init__(self, module: Module, criterion: str, bn_of: dict[tuple[str, int], tuple[str, int]],
                 calibration: Optional[list[Any]] = None):
        self.module = module
        self.criterion = criterion
        self.bn_of = bn_of  # (space, channel) -> (batch_norm node, position) for bn-scale
        self.nodes = {n.name: n for n in module.graph.nodes}
        self.grads: dict[str, torch.Tensor] = {}
        if criterion == "taylor":
            self._gradients(calibration or [module.example_inputs])

    def unit(self, labels: list[tuple[str, int]]) -> float:
        return sum(self.channel(space, index) for space, index in labels)

    def channel(self, space: str, index: int) -> float:
        node = self.nodes.get(space)
        if node is None or node.op != "call_function":
            return 0.0
        weight = self.module.constant(node.args[1])[index].detach()
        if self.criterion == "l2":
            return float(weight.pow(2).sum().sqrt())
        if self.criterion == "bn-scale" and (space, index) in self.bn_of:
            bn_name, position = self.bn_of[(space, index)]
            gamma = self.nodes[bn_name].args[1]
            return float(self.module.constant(gamma)[position].abs()) if gamma is not None else 1.0
        if self.criterion == "taylor":
            grad = self.grads.get(str(node.args[1].target))
            return float((weight * grad[index]).sum().abs()) if grad is not None else 0.0
        if self.criterion in _SCORERS:
            return float(_SCORERS[self.criterion](self.module, node, index))
        return float(weight.abs().sum())

    def _gradients(self, batches: list[Any]) -> None:
        """Gradients of the mean squared output w.r.t. every constant, summed over the batches."""
        gm = self.module.graph_module
        weights = {n.args[1].target for n in self.nodes.values() if n.op == "call_function" and len(n.args) > 1
                   and isinstance(n.args[1], fx.Node) and n.args[1].op == "get_attr"
                   and any(k in str(n.target) for k in ("conv", "linear"))}
        leaves = {t: self.module.constant(t).detach().clone().requires_grad_(True) for t in weights}
        for batch in batches:
            out = torch.func.functional_call(gm, leaves, tuple(batch))
            outs = out if isinstance(out, (tuple, list)) else (out,)
            sum(o.pow(2).mean() for o in outs if o.is_floating_point()).backward()
        self.grads = {t: leaf.grad.detach() for t, leaf in leaves.items() if leaf.grad is not None}
