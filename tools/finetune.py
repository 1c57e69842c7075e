"""A plain supervised fine-tune of an IR (cross-entropy to the labels): the ``distill`` pass with
alpha=0 and hard=labels, callable on a Module directly. Returns a new module; the input is untouched."""
from __future__ import annotations

import torch

from lepton_ir.module import Module
from lepton_ir.pass_base import TrainData
from lepton_ir.pass_manager import PassManager


def finetune(module: Module, inputs: torch.Tensor, labels: torch.Tensor, *, epochs: int = 3, lr: float = 1e-3,
             batch: int = 32, seed: int = 0) -> Module:
    """Train every floating-point weight of a copy of ``module`` on (inputs, labels)."""
    pipeline = f"distill{{epochs={epochs},lr={lr},batch_size={batch},alpha=0.0,hard=labels}}"
    return PassManager(pipeline, train_data=TrainData((inputs,), labels), seed=seed).run(module).module
