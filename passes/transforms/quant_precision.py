"""``quantize{precision=auto}``: choose each op's precision from its measured sensitivity so the
whole model stays within ``max_drop``.

The ``sensitivity`` analysis ranks ops by how much quantizing each alone moves the outputs. Then
the ranking is checked on the whole model, since errors add up across ops:
- W8A8 (``activations`` uint8/int8): the k most sensitive ops stay float; k is the smallest for
  which the fully quantized model's divergence is within ``max_drop`` (binary search over k: the
  divergence falls as k grows, up to noise, and k = all ops is the float model).
- weight-only int4 (``activations=none,weights=int4``): each linear gets int4, int8 or float; the
  most int4-sensitive go to int8 first (binary search), and if all-int8 is still over budget, the
  most int8-sensitive of those go to float (a second search).
Every candidate is quantized for real on a copy and scored on the calibration data in the
analysis' metric, so the final choice is measured, whichever method ordered the ops.
"""
from __future__ import annotations

from typing import Any, Callable

from lepton_ir.module import Module
from lepton_ir.pass_base import PassContext

from ..analysis.calibration import CalibrationResult
from ..analysis.sensitivity_trials import TrialScorer


def choose_precisions(quantizer: Any, module: Module, analyses: Any, context: PassContext,
                      calibration: CalibrationResult) -> tuple[dict[str, str], dict[str, int | float]]:
    from ..analysis.sensitivity import SensitivityOptions, sensitivity_batches

    o = quantizer.options
    int4 = o.weights == "int4"
    precisions = ("int4", "int8") if int4 else ("int8",)
    sensitivity = analyses.get("sensitivity", SensitivityOptions(
        method=o.sensitivity, metric=o.metric, prune=False, precisions=precisions, activations=o.activations,
        calib=o.calib, ops=o.ops, ignore=o.ignore))
    names = [n.name for n, _ in quantizer.candidates(module) if not quantizer.is_ignored(n)]
    batches, _ = sensitivity_batches(module, context.calibration, SensitivityOptions.max_samples)
    scorer = TrialScorer(module, batches, o.metric)
    measured: dict[frozenset, float] = {}

    def divergence(plan: dict[str, str]) -> float:
        key = frozenset(plan.items())
        if key not in measured:
            trial = module.clone()
            quantizer.apply(trial, calibration, plan)
            trial.recompile()
            measured[key] = scorer(trial)
        return measured[key]

    def ranked(setting: str) -> list[str]:
        value = {n: (sensitivity.for_op(n).at(setting) if sensitivity.for_op(n) else None) for n in names}
        # ops without a value for this setting (no weights under a proxy) rank as most sensitive
        return sorted(names, key=lambda n: (-(value[n] if value[n] is not None else float("inf")), names.index(n)))

    if int4:
        # layers int4 cannot take (convs, widths not divisible by the block) go int8 from the start
        fixed = {n: "int8" for n in names if sensitivity.for_op(n) is None or sensitivity.for_op(n).at("int4") is None}
        order4 = [n for n in ranked("int4") if n not in fixed]
        plan = _smallest(len(order4), lambda k: {**fixed, **{n: "int8" for n in order4[:k]}}, divergence, o.max_drop)
        if plan is None:
            base = {n: "int8" for n in names}
            order8 = ranked("int8")
            plan = _smallest(len(order8), lambda k: {**base, **{n: "float" for n in order8[:k]}}, divergence, o.max_drop)
    else:
        order = ranked("int8")
        plan = _smallest(len(order), lambda k: {n: "float" for n in order[:k]}, divergence, o.max_drop)
    if plan is None:
        plan = {n: "float" for n in names}
    final = divergence(plan)
    kept_float = [n for n in names if plan.get(n) == "float"]
    context.report_extra.setdefault("quantize_auto", []).append({
        "max_drop": o.max_drop, "metric": o.metric, "method": sensitivity.method, "divergence": final,
        "float": kept_float, "int8": [n for n in names if plan.get(n, "int4" if int4 else "int8") == "int8"],
        "int4": [n for n in names if plan.get(n, "int4" if int4 else "int8") == "int4"],
        "sensitivity": {n: (sensitivity.for_op(n).values if sensitivity.for_op(n) else {}) for n in names},
    })
    return plan, {"auto_divergence": final, "auto_evaluations": len(measured), "auto_kept_float": len(kept_float)}


def _smallest(count: int, plan_for: Callable[[int], dict[str, str]], divergence: Callable[[dict[str, str]], float],
              limit: float) -> dict[str, str] | None:
    """The plan with the smallest k whose divergence is within ``limit``; None if even k=count is not."""
    if divergence(plan_for(0)) <= limit:
        return plan_for(0)
    if divergence(plan_for(count)) > limit:
        return None
    low, high = 0, count  # divergence(low) > limit >= divergence(high)
    while high - low > 1:
        middle = (low + high) // 2
        if divergence(plan_for(middle)) <= limit:
            high = middle
        else:
            low = middle
    return plan_for(high)
