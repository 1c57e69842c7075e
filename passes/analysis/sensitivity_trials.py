"""Measured sensitivity: compress one layer of a copy of the IR and score how far its outputs move.

A pruning trial removes the least important units of one channel group (the same criterion
``prune-channels`` uses, so the measurement matches what pruning will do) with the real pruning
rewrite; a quantization trial quantizes one op with the real ``quantize`` pass (its activation
inputs and its weight) or binarizes its weight. Nothing is approximated by masking.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from lepton_ir.module import Module

from ..transforms.binarize import binarize_weight
from ..transforms.prune_apply import apply_pruning
from ..transforms.weighted_ops import as_weighted
from .calibration import CalibrationResult
from .channel_groups import ChannelGroups, Group, Label
from .sensitivity_metrics import choose_metrics, evaluator, total_divergence


class TrialScorer:
    """Scores candidate IRs against the reference on fixed batches: divergence, or evaluator score lost."""

    def __init__(self, module: Module, batches: Sequence[Sequence[torch.Tensor]], metric: str):
        self.batches = [tuple(b) for b in batches]
        self.evaluate = evaluator(metric)
        self.baseline: Optional[float] = None
        self.kinds: list[str] = []
        self.reference: list[tuple[torch.Tensor, ...]] = []
        if self.evaluate is not None:
            self.baseline = float(self.evaluate(_runner(module)))
        else:
            self.reference = [module(*_fresh(b)) for b in self.batches]
            self.kinds = choose_metrics(metric, self.reference[0], module.output_names or [])

    def __call__(self, candidate: Module) -> float:
        if self.evaluate is not None:
            return float(self.baseline - float(self.evaluate(_runner(candidate))))
        total = 0.0
        for batch, reference in zip(self.batches, self.reference):
            total += float(total_divergence(self.kinds, candidate(*_fresh(batch)), reference))
        return total / len(self.batches)


def _fresh(batch: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    return tuple(t.clone() if isinstance(t, torch.Tensor) else t for t in batch)


def _runner(module: Module):  # noqa: ANN202 - a closure handed to user evaluators
    def run(*inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return module(*inputs)

    return run


def removal_count(units: int, ratio: float) -> int:
    """Units removed at ``ratio``: at least one, and at least one unit stays."""
    return min(max(round(units * ratio), 1), units - 1)


def removed_labels(group: Group, order: Sequence[int], count: int) -> set[Label]:
    """The labels of the ``count`` least important units (``order``: unit indices, least important first)."""
    removed: set[Label] = set()
    for i in order[:count]:
        removed.update(group.units[i])
    return removed


def pruned_copy(module: Module, groups: ChannelGroups, removed: set[Label]) -> Module:
    copy = module.clone()
    apply_pruning(copy, groups, removed)
    copy.recompile()
    return copy


def quantized_copy(module: Module, quantizer, calibration: CalibrationResult,  # noqa: ANN001 - a Quantize pass
                   node_name: str, precision: str) -> Optional[Module]:
    """A copy with only ``node_name`` at ``precision`` (int8 | int4 | binary); None if not applicable."""
    copy = module.clone()
    if precision == "binary":
        node = copy.node(node_name)
        op = as_weighted(node, copy)
        if op is None:
            return None
        new = copy.add_constant(f"{node.args[1].target}_binary", binarize_weight(op.weight.detach()), before=node)
        node.replace_input_with(node.args[1], new)
    else:
        stats = quantizer.apply(copy, calibration, {node_name: precision}, only={node_name})
        if not any(k.startswith("quantized_") for k in stats):
            return None
    copy.recompile()
    return copy
