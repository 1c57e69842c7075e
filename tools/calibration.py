"""Calibration data from a ``--calib`` SPEC: ``random:N``, ``demo``, or ``data.npz``."""
from __future__ import annotations

import torch

from lepton_ir.errors import InputError
from lepton_ir.module import Module

from .npz_inputs import npz_inputs


def load_calibration(spec: str, module: Module, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    """A list of input tuples shaped like ``module.example_inputs``.

    ``random:N``: N batches of random data (normal for floats; integers drawn within the range seen in
    the example inputs). ``demo``: the digits training images. ``x.npz``: arrays named after the model's
    inputs (or arr_0, arr_1, ... in input order), first axis = samples, batched like the example inputs.
    """
    if spec.startswith("random:"):
        try:
            count = int(spec.split(":", 1)[1])
        except ValueError:
            raise InputError(f"--calib random:N needs a whole number, got {spec!r}") from None
        if count <= 0:
            raise InputError(f"--calib random:N needs N > 0, got {count}")
        generator = torch.Generator().manual_seed(seed)
        return [tuple(_random_like(t, generator) for t in module.example_inputs) for _ in range(count)]
    if spec == "demo":
        from .demo import load_data

        batch = module.example_inputs[0].shape[0]
        x = load_data().x_train
        return [(x[i:i + batch],) for i in range(0, len(x) - batch + 1, batch)]
    if spec.endswith(".npz"):
        return _from_npz(spec, module)
    raise InputError(f"unknown --calib SPEC {spec!r}: use random:N, demo, or a .npz file")


def _random_like(t: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    if t.is_floating_point():
        return torch.randn(t.shape, generator=generator, dtype=t.dtype)
    if t.dtype == torch.bool:
        return torch.randint(0, 2, t.shape, generator=generator).bool()
    low, high = int(t.min()), int(t.max()) + 1
    return torch.randint(low, max(high, low + 1), t.shape, generator=generator, dtype=t.dtype)


def _from_npz(path: str, module: Module) -> list[tuple[torch.Tensor, ...]]:
    arrays, _ = npz_inputs(path, module, "calibration")
    batch = module.example_inputs[0].shape[0] if module.example_inputs[0].dim() else 1
    count = arrays[0].shape[0]
    return [tuple(a[i:i + batch] for a in arrays) for i in range(0, count - batch + 1, batch)]
