"""Choosing a quantization range from an activation's observed histogram.

Four methods (each a function of a histogram over [lo, hi] with uniform bins):
- ``minmax``: the whole observed range; no clipping, largest rounding error.
- ``percentile``: drop the ``p``-th tail on both sides (outliers cost resolution for everyone else).
- ``mse``: the clipping range that minimises expected squared error (clipping + rounding) for 8 bits.
- ``entropy``: the threshold minimising KL divergence between the clipped and the quantized
  distribution (TensorRT's calibration), applied to the side with the heavier tail.
"""
from __future__ import annotations

import math

import torch


def _edges(lo: float, hi: float, bins: int) -> torch.Tensor:
    return torch.linspace(lo, hi, bins + 1, dtype=torch.float64)


def percentile_range(hist: torch.Tensor, lo: float, hi: float, percentile: float) -> tuple[float, float]:
    cdf = torch.cumsum(hist.to(torch.float64), 0)
    total = float(cdf[-1])
    if total == 0:
        return lo, hi
    tail = total * (1.0 - percentile / 100.0)
    edges = _edges(lo, hi, hist.numel())
    low_index = int(torch.searchsorted(cdf, torch.tensor(tail, dtype=torch.float64)))
    high_index = int(torch.searchsorted(cdf, torch.tensor(total - tail, dtype=torch.float64)))
    return float(edges[min(low_index, hist.numel() - 1)]), float(edges[min(high_index + 1, hist.numel())])


def _expected_error(hist: torch.Tensor, centers: torch.Tensor, a: float, b: float, levels: int) -> float:
    step = (b - a) / (levels - 1) if b > a else 1e-12
    clipped = centers.clamp(a, b)
    rounded = a + torch.round((clipped - a) / step) * step
    return float((hist * (centers - rounded) ** 2).sum())


def mse_range(hist: torch.Tensor, lo: float, hi: float, levels: int = 256, steps: int = 64) -> tuple[float, float]:
    """Shrink the range from both ends in proportion to their distance from zero; keep the best."""
    hist = hist.to(torch.float64)
    edges = _edges(lo, hi, hist.numel())
    centers = (edges[:-1] + edges[1:]) / 2
    best, best_range = math.inf, (lo, hi)
    for i in range(steps):
        fraction = 1.0 - i / steps * 0.9  # 100% down to 10% of the observed extent
        a, b = min(lo * fraction, 0.0), max(hi * fraction, 0.0)
        error = _expected_error(hist, centers, a, b, levels)
        if error < best:
            best, best_range = error, (a, b)
    return best_range


def _kl_threshold(hist: torch.Tensor, levels: int = 128) -> int:
    """Number of bins to keep (from the start) minimising KL(P || Q), TensorRT style."""
    hist = hist.to(torch.float64)
    bins = hist.numel()
    best_kl, best_keep = math.inf, bins
    for keep in range(levels, bins + 1, max(1, (bins - levels) // 128)):
        p = hist[:keep].clone()
        p[-1] += hist[keep:].sum()
        if p.sum() == 0:
            continue
        chunks = torch.tensor_split(hist[:keep], levels)
        q = torch.cat([torch.where(c > 0, c.sum() / max(int((c > 0).sum()), 1), torch.zeros_like(c)) for c in chunks])
        p, q = p / p.sum(), q / max(float(q.sum()), 1e-12)
        mask = p > 0
        kl = float((p[mask] * torch.log(p[mask] / q[mask].clamp_min(1e-12))).sum())
        if kl < best_kl:
            best_kl, best_keep = kl, keep
    return best_keep


def entropy_range(hist: torch.Tensor, lo: float, hi: float) -> tuple[float, float]:
    edges = _edges(lo, hi, hist.numel())
    width = (hi - lo) / hist.numel()
    zero = int(torch.searchsorted(edges, torch.tensor(0.0, dtype=torch.float64))) if lo < 0 < hi else (0 if lo >= 0 else hist.numel())
    positive, negative = hist[zero:], hist[:zero].flip(0)
    a, b = lo, hi
    if positive.numel() >= 128 and hi > 0:
        b = max(0.0, lo) + _kl_threshold(positive) * width if lo >= 0 else _kl_threshold(positive) * width
    if negative.numel() >= 128 and lo < 0:
        a = -_kl_threshold(negative) * width
    return min(a, b), max(a, b)
