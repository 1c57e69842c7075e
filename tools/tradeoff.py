"""The accuracy/MACs trade-off: the model pruned to a range of MAC budgets, once with per-group
ratios allocated by sensitivity and once with one uniform ratio for every group, each scored
against the unpruned model on the calibration data (divergence, or an evaluator's score)."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch

from lepton_ir.errors import PassError
from lepton_ir.module import Module
from lepton_ir.pass_manager import PassManager

from ..passes.analysis.sensitivity import SensitivityOptions, sensitivity_batches
from ..passes.analysis.sensitivity_trials import TrialScorer

BUDGETS = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4)
UNIFORM_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def tradeoff(ir: Module, calibration: Optional[Sequence[tuple[torch.Tensor, ...]]], metric: str = "auto",
             budgets: Sequence[float] = BUDGETS, ratios: Sequence[float] = UNIFORM_RATIOS,
             cache_dir: Optional[str] = None, criterion: str = "l1") -> dict[str, Any]:
    """Points ``{"macs": kept fraction, "value": divergence or score}`` for both strategies.

    With an evaluator metric ``value`` is the candidate's score (higher is better), else the
    divergence from the unpruned model (lower is better); ``higher_is_better`` says which.
    """
    batches, _ = sensitivity_batches(ir, calibration, SensitivityOptions.max_samples)
    scorer = TrialScorer(ir, batches, metric)

    def point(pipeline: str) -> Optional[dict[str, float]]:
        try:
            result = PassManager(pipeline, calibration=calibration, cache_dir=cache_dir, check_numerics=False).run(ir)
        except PassError:
            return None  # a budget the measured ratios cannot reach
        lost = scorer(result.module)
        value = scorer.baseline - lost if scorer.baseline is not None else lost
        return {"macs": result.report.after.macs / result.report.before.macs, "value": value}

    allocated = [point(f"prune-channels{{target_macs={b},allocate=sensitivity,metric={metric},criterion={criterion}}}")
                 for b in budgets]
    uniform = [point(f"prune-channels{{ratio={r},criterion={criterion}}}") for r in ratios]
    return {"metric": metric, "higher_is_better": scorer.baseline is not None, "reference": scorer.baseline,
            "sensitivity": [p for p in allocated if p], "uniform": [p for p in uniform if p]}
