"""``binarize``: 1-bit weights for chosen conv/linear layers, optionally fine-tuned with a
straight-through estimator.

Approximate: outputs move; the report says by how much. Each chosen layer's weight becomes
``sign(W) * alpha`` with alpha the mean |W| of each output channel (XNOR-Net's scaling).
With ``finetune_steps > 0`` the pass first trains latent float weights on the calibration data,
matching the float model's outputs (no labels needed): the forward pass uses the binarized
weights, the backward pass treats binarization as the identity (straight-through estimator).
Options: ``layers`` (module paths or node names; empty = every conv/linear except the first and
the last, which binary networks keep in full precision), ``finetune_steps``, ``lr``.
Stats: ``binarized``, ``packed_bits`` (1 bit per weight plus a 32-bit scale per channel: the real
storage cost on a runtime with binary kernels), ``float_bits`` (what ONNX stores: it has no
1-bit type, so the artifact itself does not shrink), ``finetune_loss_before/after``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx

from lepton_ir.metadata import QUANT, matches_any
from lepton_ir.module import Module, float_constants
from lepton_ir.pass_base import PassContext, PassResult, TransformPass, approximate
from lepton_ir.registry import register_pass

from .weighted_ops import as_weighted


@dataclass(frozen=True)
class BinarizeOptions:
    layers: tuple[str, ...] = ()
    finetune_steps: int = 0
    lr: float = 1e-3


def binarize_weight(weight: torch.Tensor) -> torch.Tensor:
    alpha = weight.abs().mean(dim=tuple(range(1, weight.dim())), keepdim=True)
    return torch.where(weight >= 0, 1.0, -1.0).to(weight.dtype) * alpha


def _ste(weight: torch.Tensor) -> torch.Tensor:
    """Binarized forward, identity backward."""
    return weight + (binarize_weight(weight) - weight).detach()


@register_pass
class Binarize(TransformPass):
    """Replace chosen conv/linear weights by scaled signs; optionally fine-tune first."""

    name = "binarize"
    summary = "1-bit weights (sign x per-channel mean |w|) with optional straight-through fine-tuning"
    Options = BinarizeOptions
    contract = approximate(None, "output error reported; accuracy is the user's metric")

    def _chosen(self, module: Module) -> list[fx.Node]:
        candidates = [n for n in module.compute_nodes() if as_weighted(n, module) is not None]
        rules = self.options.layers
        if not rules:
            return candidates[1:-1]
        return [n for n in candidates if matches_any(n, rules)]

    def run(self, module: Module, analyses: Any, context: PassContext) -> PassResult:
        chosen = self._chosen(module)
        if not chosen:
            return PassResult(changed=False, stats={"binarized": 0})
        stats: dict[str, int | float] = {}
        if self.options.finetune_steps > 0:
            stats.update(self._finetune(module, chosen, context))
        packed = float_bits = 0
        for node in chosen:
            weight_node = node.args[1]
            weight = module.constant(weight_node)
            binary = binarize_weight(weight.detach())
            new = module.add_constant(f"{weight_node.target}_binary", binary, before=node)
            node.replace_input_with(weight_node, new)
            node.meta[QUANT] = {"dtype": "binary", "observer": "sign x mean|w| per channel"}
            packed += weight.numel() + 32 * weight.shape[0]
            float_bits += 32 * weight.numel()
        stats.update({"binarized": len(chosen), "packed_bits": packed, "float_bits": float_bits})
        return PassResult(changed=True, stats=stats)

    def _finetune(self, module: Module, chosen: list[fx.Node], context: PassContext) -> dict[str, float]:
        data = list(context.calibration or [module.example_inputs])
        torch.manual_seed(context.seed)
        with torch.no_grad():
            targets = [module(*batch) for batch in data]
        student = copy.deepcopy(module.graph_module)
        graph = student.graph
        names = {n.name for n in chosen}
        for node in graph.nodes:
            if node.name in names:
                with graph.inserting_before(node):
                    ste = graph.call_function(_ste, (node.args[1],))
                node.replace_input_with(node.args[1], ste)
        student.recompile()
        tensors = float_constants(student)
        params = list(tensors.values())
        for p in params:
            p.requires_grad_(True)
        optimizer = torch.optim.Adam(params, lr=self.options.lr)

        def loss_of(batch: Any, target: tuple[torch.Tensor, ...]) -> torch.Tensor:
            out = student(*batch)
            out = out if isinstance(out, (tuple, list)) else (out,)
            return sum(torch.nn.functional.mse_loss(o, t) for o, t in zip(out, target))

        with torch.no_grad():
            before = float(sum(loss_of(b, t) for b, t in zip(data, targets)) / len(data))
        for step in range(self.options.finetune_steps):
            i = step % len(data)
            optimizer.zero_grad()
            loss_of(data[i], targets[i]).backward()
            optimizer.step()
        with torch.no_grad():
            after = float(sum(loss_of(b, t) for b, t in zip(data, targets)) / len(data))
        for name, tensor in tensors.items():
            module.set_constant(name, tensor.detach().clone())
        return {"finetune_loss_before": before, "finetune_loss_after": after}
