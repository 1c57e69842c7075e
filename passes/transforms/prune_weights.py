"""``prune-weights``: unstructured magnitude pruning, or N:M semi-structured sparsity.

Approximate. Zeroes the smallest-magnitude weights of conv and linear layers and folds the mask
into the weights (the zeros are stored; shapes do not change, so MACs as counted do not fall: the
gain needs a sparse kernel or compression of the artifact). ``sparsity`` is the fraction zeroed,
per layer (``scope=local``) or across all chosen layers by one threshold (``scope=global``).
``n``/``m`` > 0 selects N:M sparsity instead: in every group of ``m`` consecutive input weights
of an output, only the ``n`` largest stay (2:4 is what sparse tensor cores run).
Stats: ``layers``, ``weights``, ``zeros``, ``sparsity``, and ``sparsity.<node>`` per layer (actual).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.fx as fx

from lepton_ir.metadata import matches_any
from lepton_ir.module import Module
from lepton_ir.pass_base import PassContext, PassResult, TransformPass, approximate
from lepton_ir.registry import register_pass

from .weighted_ops import as_weighted


@dataclass(frozen=True)
class PruneWeightsOptions:
    sparsity: float = 0.5
    scope: Literal["local", "global"] = "local"
    n: int = 0
    m: int = 0
    ignore: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {self.sparsity}")
        if (self.n > 0) != (self.m > 0) or (self.m and not 0 < self.n < self.m):
            raise ValueError(f"N:M sparsity needs 0 < n < m, got n={self.n}, m={self.m}")


def n_m_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor | None:
    """Keep the ``n`` largest of every ``m`` consecutive weights along the input dim (None if it does not divide)."""
    flat = weight.reshape(weight.shape[0], -1)
    if flat.shape[1] % m:
        return None
    groups = flat.abs().reshape(flat.shape[0], -1, m)
    keep = groups.topk(n, dim=-1).indices
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, keep, True)
    return mask.reshape(weight.shape)


@register_pass
class PruneWeights(TransformPass):
    """Zero the smallest weights (magnitude) or enforce N:M sparsity; masks folded into weights."""

    name = "prune-weights"
    summary = "unstructured magnitude pruning or N:M sparsity, masks folded into the weights"
    Options = PruneWeightsOptions
    contract = approximate(None, "accuracy after fine-tuning")

    def _layers(self, module: Module) -> list[fx.Node]:
        chosen = []
        for node in module.compute_nodes():
            if as_weighted(node, module) is None:
                continue
            if matches_any(node, self.options.ignore):
                continue
            chosen.append(node)
        return chosen

    def run(self, module: Module, analyses: Any, context: PassContext) -> PassResult:
        o = self.options
        layers = self._layers(module)
        if not layers or (o.sparsity == 0 and not o.m):
            return PassResult(changed=False, stats={"layers": 0})
        weights = {node: module.constant(node.args[1]).detach() for node in layers}
        threshold = None
        if o.scope == "global" and not o.m:
            everything = torch.cat([w.abs().flatten() for w in weights.values()])
            k = int(o.sparsity * everything.numel())
            threshold = everything.kthvalue(k).values if k > 0 else None
        stats: dict[str, int | float] = {}
        total = zeros = 0
        for node, weight in weights.items():
            if o.m:
                mask = n_m_mask(weight, o.n, o.m)
                if mask is None:
                    continue
            elif threshold is not None:
                mask = weight.abs() > threshold
            else:
                k = int(o.sparsity * weight.numel())
                if k == 0:
                    continue
                mask = weight.abs() > weight.abs().flatten().kthvalue(k).values
            pruned = weight * mask
            new = module.add_constant(f"{node.args[1].target}_sparse", pruned, before=node)
            node.replace_input_with(node.args[1], new)
            layer_zeros = int((pruned == 0).sum())
            stats[f"sparsity.{node.name}"] = round(layer_zeros / weight.numel(), 4)
            total += weight.numel()
            zeros += layer_zeros
        if not total:
            return PassResult(changed=False, stats={"layers": 0})
        stats = {"layers": len(stats), "weights": total, "zeros": zeros, "sparsity": round(zeros / total, 4), **stats}
        return PassResult(changed=True, stats=stats)
