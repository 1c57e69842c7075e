"""Sensitivity-allocated vs uniform-ratio structured pruning of the demo model at the same MAC
budget, accuracy before any fine-tuning.

    .venv/bin/python benchmarks/bench_sensitivity_prune.py [--budget 0.4]

The demo digits CNN (99.11% on the test split), folded with -O1. Uniform: one ratio for every
group (``prune-channels{ratio=r}``), the smallest r whose MACs reach the budget. Importance: the
existing global ranking (``prune-channels{target_macs=b}``). Sensitivity: ``prune-channels{
target_macs=b,allocate=sensitivity}`` with the measured sweep (KL on 512 training images) and with
each proxy, and with the sweep scored by ``metric=demo-accuracy`` (accuracy on 300 training images)
instead of KL. Accuracy on the 450-image test split, which no step sees.
"""
from __future__ import annotations

import argparse
import time

import torch

import lepton_ir
from lepton_ir.tools.demo import load_data, load_model  # also registers metric=demo-accuracy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=0.4)
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_data()
    ir = lepton_ir.PassManager("-O1").run(lepton_ir.trace(load_model(), (data.x_test[:8],), name="digits")).module
    calibration = [(data.x_train[i:i + 64],) for i in range(0, 512, 64)]

    def accuracy(module: lepton_ir.Module) -> float:
        return float((module(data.x_test)[0].argmax(1) == data.y_test).float().mean() * 100)

    def run(pipeline: str) -> tuple[float, float, float, str]:
        start = time.perf_counter()
        result = lepton_ir.PassManager(pipeline, calibration=calibration).run(ir)
        seconds = time.perf_counter() - start
        plan = result.report.extra.get("prune_allocation", [{"groups": []}])[0]
        text = " ".join(f"{g['group']}:{g['ratio']:.2f}" for g in plan["groups"])
        if "predicted" in plan:
            text += f"  (summed {plan['predicted']:.3g}, measured {plan['measured']:.3g})"
        return result.report.after.macs / result.report.before.macs, accuracy(result.module), seconds, text

    print(f"demo digits CNN, -O1 first: {accuracy(ir):.2f}% on the test split; MAC budget {args.budget}x; "
          "no fine-tuning")
    uniform = None
    for r in [i / 100 for i in range(5, 91)]:
        macs = run(f"prune-channels{{ratio={r}}}")
        if macs[0] <= args.budget * 1.005:
            uniform = (f"uniform ratio {r:.2f}", macs)
            break
    rows = [uniform] if uniform else []
    rows.append(("importance ranking (global l1)", run(f"prune-channels{{target_macs={args.budget}}}")))
    for method in ("sweep", "fisher", "hessian", "taylor", "magnitude"):
        rows.append((f"sensitivity ({method})",
                     run(f"prune-channels{{target_macs={args.budget},allocate=sensitivity,sensitivity={method}}}")))
    rows.append(("sensitivity (sweep, demo-accuracy)",
                 run(f"prune-channels{{target_macs={args.budget},allocate=sensitivity,metric=demo-accuracy}}")))
    print(f"{'pruning':<34}{'MACs':>7}{'accuracy':>10}{'seconds':>9}  per-group ratios")
    for name, (macs, acc, seconds, ratios) in rows:
        print(f"{name:<34}{macs:7.3f}{acc:9.2f}%{seconds:9.2f}  {ratios}")


if __name__ == "__main__":
    main()
