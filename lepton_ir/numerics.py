"""Comparing a model's outputs with the reference: the numbers every contract is judged by."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch


@dataclass(frozen=True)
class Comparison:
    """How far ``actual`` is from ``expected``, over all outputs.

    ``max_rel_error`` is the largest absolute difference divided by the largest reference
    magnitude of the same output: robust to outputs that are zero in places.
    ``mismatch`` says why the outputs could not be compared at all (count, shape, dtype).
    """

    max_abs_error: float
    max_rel_error: float
    cosine: float
    mismatch: str | None = None

    def within(self, rtol: float) -> bool:
        return self.mismatch is None and self.max_rel_error <= rtol


def compare_outputs(actual: Sequence[torch.Tensor], expected: Sequence[torch.Tensor]) -> Comparison:
    if len(actual) != len(expected):
        return Comparison(float("inf"), float("inf"), 0.0, f"{len(actual)} outputs, expected {len(expected)}")
    max_abs = 0.0
    max_rel = 0.0
    cosine = 1.0
    for i, (a, e) in enumerate(zip(actual, expected)):
        a = torch.as_tensor(a)
        if tuple(a.shape) != tuple(e.shape):
            return Comparison(float("inf"), float("inf"), 0.0, f"output {i} has shape {list(a.shape)}, expected {list(e.shape)}")
        if e.numel() == 0:
            continue
        a64, e64 = a.detach().to(torch.float64), e.detach().to(torch.float64)
        diff = float((a64 - e64).abs().max())
        scale = float(e64.abs().max())
        max_abs = max(max_abs, diff)
        max_rel = max(max_rel, diff / scale if scale > 0 else diff)
        if e.is_floating_point():
            na, ne = float(a64.norm()), float(e64.norm())
            if na > 0 and ne > 0:
                cosine = min(cosine, float((a64.flatten() @ e64.flatten()) / (na * ne)))
            elif na != ne:
                cosine = 0.0
    return Comparison(max_abs, max_rel, cosine)
