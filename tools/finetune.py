"""A plain supervised fine-tune of an IR's weights (cross-entropy on labels), for recovering accuracy
after pruning. Deterministic: fixed seed and data order. Returns a new module; the input is untouched.
The distillation issue builds the full recovery step (soft/hard targets, pipeline syntax) on this."""
from __future__ import annotations

import torch

from lepton_ir.module import Module


def finetune(module: Module, inputs: torch.Tensor, labels: torch.Tensor, *, epochs: int = 3, lr: float = 1e-3,
             batch: int = 32, seed: int = 0) -> Module:
    """Train every floating-point constant of a copy of ``module`` on (inputs, labels)."""
    tuned = module.clone()
    gm = tuned.graph_module
    tensors = dict(gm.named_parameters())
    tensors.update(gm.named_buffers())
    trainable = {k: v for k, v in tensors.items() if v.is_floating_point()}
    for t in trainable.values():
        t.requires_grad_(True)
    optimizer = torch.optim.Adam(trainable.values(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    gm.train(False)
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for i in range(0, len(order) - batch + 1, batch):
            idx = order[i:i + batch]
            optimizer.zero_grad()
            out = gm(inputs[idx])
            logits = out[0] if isinstance(out, (tuple, list)) else out
            torch.nn.functional.cross_entropy(logits, labels[idx]).backward()
            optimizer.step()
    for name, t in trainable.items():
        tuned.set_constant(name, t.detach().clone())
    tuned.recompile()
    return tuned
