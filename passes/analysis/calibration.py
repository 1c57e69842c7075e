"""``calibrate``: run the model on calibration data and choose a quantization range per activation.

Two sweeps over the data: the first records each floating-point activation's min and max, the
second its histogram over that range; a method then picks the range (see range_selection.py).
Data comes from the pass context (``--calib`` on the CLI, ``calibration=`` in the API); without
any, the module's example inputs are used and the result says so.
Options: ``method`` (minmax | percentile | mse | entropy), ``percentile``, ``bins``, ``max_batches``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import torch
import torch.fx as fx
from tqdm import tqdm

from lepton_ir.module import Module
from lepton_ir.pass_base import AnalysisPass
from lepton_ir.registry import register_pass

from .range_selection import entropy_range, mse_range, percentile_range


@dataclass(frozen=True)
class CalibrationOptions:
    method: Literal["minmax", "percentile", "mse", "entropy"] = "percentile"
    percentile: float = 99.99
    bins: int = 2048
    max_batches: int = 256


@dataclass
class TensorRange:
    low: float
    high: float
    observed_low: float
    observed_high: float


@dataclass
class CalibrationResult:
    ranges: dict[str, TensorRange] = field(default_factory=dict)
    batches: int = 0
    method: str = ""
    source: str = ""


class _Observer(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule, record: Any):
        super().__init__(gm)
        self.record = record

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        if n.op in ("placeholder", "call_function") and isinstance(result, torch.Tensor) and result.is_floating_point():
            self.record(n.name, result.detach())
        return result


def calibration_batches(module: Module, data: Any, limit: int) -> tuple[list[Sequence[torch.Tensor]], str]:
    """Up to ``limit`` input tuples from ``data`` (the example inputs when there is none) and a
    description of where they came from, for the report."""
    if data is None:
        return [module.example_inputs], "example inputs (no calibration data given: pass --calib)"
    batches = []
    for i, batch in enumerate(data):
        if i >= limit:
            break
        batches.append(tuple(batch) if isinstance(batch, (tuple, list)) else (batch,))
    if not batches:
        return [module.example_inputs], "example inputs (the calibration data was empty)"
    return batches, f"{len(batches)} calibration batches"


@register_pass
class Calibrate(AnalysisPass[CalibrationResult]):
    """Observe activations on calibration data; choose a range per tensor."""

    name = "calibrate"
    summary = "observe activations on calibration data and choose quantization ranges"
    Options = CalibrationOptions

    def run(self, module: Module, analyses: Any) -> CalibrationResult:
        context = getattr(analyses, "context", None)
        batches, source = calibration_batches(module, getattr(context, "calibration", None), self.options.max_batches)
        lows: dict[str, float] = {}
        highs: dict[str, float] = {}

        def minmax(name: str, t: torch.Tensor) -> None:
            lo, hi = float(t.min()), float(t.max())
            lows[name] = min(lows.get(name, lo), lo)
            highs[name] = max(highs.get(name, hi), hi)

        hists: dict[str, torch.Tensor] = {}

        def histogram(name: str, t: torch.Tensor) -> None:
            lo, hi = lows[name], highs[name]
            if hi <= lo:
                return
            h = torch.histc(t.to(torch.float64).flatten(), self.options.bins, lo, hi)
            hists[name] = hists[name] + h if name in hists else h

        with torch.no_grad():
            for record, label in ((minmax, "calibrating (ranges)"), (histogram, "calibrating (histograms)")):
                observer = _Observer(module.graph_module, record)
                for batch in tqdm(batches, desc=label, disable=None if len(batches) > 8 else True, leave=False):
                    observer.run(*batch)
        result = CalibrationResult(batches=len(batches), method=self.options.method, source=source)
        for name, lo in lows.items():
            hi = highs[name]
            result.ranges[name] = TensorRange(*self._choose(hists.get(name), lo, hi), lo, hi)
        return result

    def _choose(self, hist: torch.Tensor | None, lo: float, hi: float) -> tuple[float, float]:
        method = self.options.method
        if hist is None or method == "minmax":
            return lo, hi
        if method == "percentile":
            return percentile_range(hist, lo, hi, self.options.percentile)
        if method == "mse":
            return mse_range(hist, lo, hi)
        return entropy_range(hist, lo, hi)

    def stats(self, result: CalibrationResult) -> dict[str, int | float]:
        return {"tensors": len(result.ranges), "batches": result.batches}
