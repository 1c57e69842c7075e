"""Cheap sensitivity proxies for models too large to sweep: no trial model is built; each setting's
weight change Delta w (pruned rows set to zero, weights rounded to int8/int4/binary) is scored.

  ``magnitude``  ||Delta w||^2 / ||w||^2 over the touched tensors: the share of weight energy changed
  ``taylor``     |g . Delta w|, g the gradient of the output energy (first-order Taylor; Molchanov et al.)
  ``fisher``     1/2 sum F_ii Delta w_i^2, F the diagonal Fisher information estimated from gradients
                 of the log-likelihood of targets sampled from the model's own outputs (categorical for
                 KL, Gaussian otherwise): the second-order change of the divergence (Theis et al.)
  ``hessian``    1/2 sum H_ii Delta w_i^2, H_ii the Hessian diagonal of the divergence itself estimated
                 by Hutchinson's method, E[v * Hv] over Rademacher v (HAWQ-style)
Proxies see weights only: quantizing an op's *activations* (and ops without weights: add, pool,
cat, matmul) is not measured, and the report says so. Use ``method=sweep`` when that matters.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
import torch.fx as fx

from lepton_ir.module import Module

from ..transforms.binarize import binarize_weight
from ..transforms.weighted_ops import BIAS_INDEX, arg
from .channel_groups import Label
from .sensitivity_metrics import choose_metrics, total_divergence

Deltas = dict[str, torch.Tensor]


def _weight_target(node: fx.Node) -> Optional[str]:
    value = node.args[1] if len(node.args) > 1 else None
    return str(value.target) if isinstance(value, fx.Node) and value.op == "get_attr" else None


def prune_deltas(module: Module, removed: set[Label]) -> Deltas:
    """Removing channels = zeroing the producing rows (and bias entries) of the removed labels."""
    rows: dict[str, list[int]] = {}
    for space, index in removed:
        rows.setdefault(space, []).append(index)
    deltas: Deltas = {}
    for space, indices in rows.items():
        node = module.node(space)
        for value in (node.args[1], arg(node, BIAS_INDEX)):
            if isinstance(value, fx.Node) and value.op == "get_attr":
                w = module.constant(value).detach()
                d = torch.zeros_like(w)
                d[indices] = -w[indices]
                deltas[str(value.target)] = d
    return deltas


def quant_deltas(module: Module, node: fx.Node, precision: str, block_size: int = 32) -> Optional[Deltas]:
    """Weight rounding error of ``precision`` on ``node``'s weight; None where it does not apply."""
    target = _weight_target(node)
    if target is None:
        return None
    w = module.constant(target).detach()
    if precision == "int8":
        scale = (w.abs().reshape(w.shape[0], -1).amax(1) / 127).clamp_min(1e-12)
        scale = scale.reshape(-1, *([1] * (w.dim() - 1)))
        return {target: torch.round(w / scale).clamp(-127, 127) * scale - w}
    if precision == "int4":
        if w.dim() != 2 or w.shape[1] % block_size or "linear" not in str(node.target):
            return None
        blocks = w.reshape(w.shape[0], -1, block_size)
        scale = (blocks.abs().amax(-1, keepdim=True) / 7).clamp_min(1e-12)
        return {target: (torch.round(blocks / scale).clamp(-8, 7) * scale).reshape(w.shape) - w}
    if precision == "binary":
        return {target: binarize_weight(w) - w}
    return None


class ProxyScorer:
    """Scores weight changes with one proxy; gradient statistics are computed once, up front."""

    def __init__(self, module: Module, batches: Sequence[Sequence[torch.Tensor]], metric: str, method: str,
                 targets: set[str], samples: int, seed: int):
        self.module = module
        self.method = method
        self.stat: dict[str, torch.Tensor] = {}
        self.passes = 0
        self.kinds: list[str] = []  # the divergence per output the gradients follow (none for magnitude)
        if method == "magnitude":
            return
        gm = module.graph_module
        leaves = {t: module.constant(t).detach().clone().requires_grad_(True) for t in sorted(targets)}
        generator = torch.Generator().manual_seed(seed)
        reference = [module(*b) for b in batches]
        kinds = self.kinds = choose_metrics(metric, reference[0], module.output_names or [])
        acc = {t: torch.zeros_like(v) for t, v in leaves.items()}
        repeats = 1 if method == "taylor" else samples
        for batch, ref in zip(batches, reference):
            for _ in range(repeats):
                # the math attention kernel has second derivatives (the fused CPU kernels do not)
                with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
                    outs = _as_tuple(torch.func.functional_call(gm, leaves, tuple(batch)))
                self.passes += 1
                if method == "taylor":
                    loss = sum(o.pow(2).mean() / 2 for o in outs if o.is_floating_point())
                    grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
                    for (t, _), g in zip(leaves.items(), grads):
                        if g is not None:
                            acc[t] += g
                elif method == "fisher":
                    loss = _sampled_nll(outs, kinds, generator)
                    grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
                    for (t, _), g in zip(leaves.items(), grads):
                        if g is not None:
                            acc[t] += g.pow(2) / (len(batches) * repeats)
                else:  # hessian: Hutchinson's estimate of the divergence's Hessian diagonal
                    loss = total_divergence(kinds, outs, ref)
                    params = list(leaves.values())
                    try:
                        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
                        pairs = [(p, g) for p, g in zip(params, grads) if g is not None and g.requires_grad]
                        vs = [torch.randint(0, 2, p.shape, generator=generator).to(p.dtype) * 2 - 1 for p, _ in pairs]
                        hvs = torch.autograd.grad([g for _, g in pairs], [p for p, _ in pairs], grad_outputs=vs,
                                                  allow_unused=True) if pairs else []
                    except RuntimeError as e:
                        if "not implemented" not in str(e):
                            raise
                        raise ValueError(f"method=hessian needs second derivatives, which this model's ops do not "
                                         f"all have ({str(e).splitlines()[0]}); use method=fisher, the same "
                                         "second-order quantity estimated from first derivatives") from e
                    names = {id(p): t for t, p in leaves.items()}
                    for (p, _), v, hv in zip(pairs, vs, hvs):
                        if hv is not None:
                            acc[names[id(p)]] += (v * hv).detach() / (len(batches) * repeats)
        self.stat = {t: a.detach() for t, a in acc.items()}

    def __call__(self, deltas: Deltas) -> float:
        if self.method == "magnitude":
            changed = sum(float(d.double().pow(2).sum()) for d in deltas.values())
            total = sum(float(self.module.constant(t).double().pow(2).sum()) for t in deltas)
            return changed / total if total else 0.0
        if self.method == "taylor":
            return abs(sum(float((self.stat[t].double() * d.double()).sum()) for t, d in deltas.items() if t in self.stat))
        return sum(0.5 * float((self.stat[t].double().clamp_min(0) * d.double().pow(2)).sum())
                   for t, d in deltas.items() if t in self.stat)


def _as_tuple(out: Any) -> tuple[torch.Tensor, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _sampled_nll(outs: Sequence[torch.Tensor], kinds: Sequence[str], generator: torch.Generator) -> torch.Tensor:
    """Negative log-likelihood of targets drawn from the model's own predictive distribution."""
    total = torch.zeros((), dtype=torch.float64)
    for out, kind in zip(outs, kinds):
        if not kind:
            continue
        if kind == "kl":
            logits = out.reshape(-1, out.shape[-1]).double()
            probs = torch.softmax(logits.detach(), -1)
            y = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            total = total + torch.nn.functional.cross_entropy(logits, y, reduction="sum")
        else:
            sigma = out.detach().double().std().clamp_min(1e-6)
            noise = torch.randn(out.shape, generator=generator, dtype=torch.float64)
            target = out.detach().double() + sigma * noise
            total = total + ((out.double() - target) / sigma).pow(2).sum() / 2
    return total
