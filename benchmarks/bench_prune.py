"""Structured pruning: Lepton prune-channels vs Torch-Pruning at the same ratio, side by side.

    .venv/bin/pip install torch-pruning        # benchmark-only dependency (pip install -e '.[bench]')
    .venv/bin/python benchmarks/bench_prune.py [--ratio 0.5] [--resolution 224] [--rounds 10]

Same ResNet-18 layout (random weights, random BatchNorm statistics), same ratio, final classifier
kept; Torch-Pruning's MagnitudePruner with L1 group importance (its defaults), Lepton's
-O1,prune-channels{ratio,criterion=l1}. Both pruned models are exported to ONNX by Lepton and timed
interleaved in ONNX Runtime (2 threads). Also printed: MACs and params (Lepton's cost analysis on
both, so they are counted the same way) and the wall time each tool took to prune.
"""
from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time

import torch

import lepton_ir
from lepton_ir.backends.onnx import session
from lepton_ir.tools.latency import interleaved_medians
from lepton_ir.tools.zoo import resnet18


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    import torch_pruning as tp

    torch.set_num_threads(2)
    model, inputs = resnet18(args.resolution)
    out = tempfile.mkdtemp(prefix="lepton-bench-prune-")

    start = time.perf_counter()
    tp_model = copy.deepcopy(model)
    pruner = tp.pruner.MagnitudePruner(tp_model, inputs, importance=tp.importance.MagnitudeImportance(p=1),
                                       pruning_ratio=args.ratio, ignored_layers=[tp_model.fc])
    pruner.step()
    tp_seconds = time.perf_counter() - start

    start = time.perf_counter()
    ir = lepton_ir.trace(model, inputs, name="resnet18")
    lepton = lepton_ir.PassManager(f"-O1,prune-channels{{ratio={args.ratio},criterion=l1}}").run(ir)
    lepton_seconds = time.perf_counter() - start

    compiled = {
        "original": lepton_ir.compile(ir, pipeline="-O1", output=os.path.join(out, "original.onnx")),
        "torch-pruning": lepton_ir.compile(tp_model.eval(), inputs, pipeline="-O1",
                                           output=os.path.join(out, "torch_pruning.onnx"), name="tp"),
        "lepton": lepton_ir.compile(lepton.module, pipeline="-O0", output=os.path.join(out, "lepton.onnx")),
    }
    sessions = {k: session(c.report.output, spin=False) for k, c in compiled.items()}
    feed = {sessions["original"].get_inputs()[0].name: inputs[0].numpy()}
    medians = interleaved_medians({k: (lambda s=s: s.run(None, feed)) for k, s in sessions.items()},
                                  rounds=args.rounds)
    base = compiled["original"].report.after
    print(f"ResNet-18 layout 1x3x{args.resolution}x{args.resolution}, ratio {args.ratio}, ORT intra_op=2, "
          f"median of {args.rounds * 5} runs")
    print(f"{'model':<15}{'MACs':>10}{'x':>7}{'params':>10}{'x':>7}{'ORT ms':>9}{'x orig':>8}{'x TP':>7}{'prune s':>9}")
    seconds = {"original": 0.0, "torch-pruning": tp_seconds, "lepton": lepton_seconds}
    for key, c in compiled.items():
        after = c.report.after
        print(f"{key:<15}{after.macs / 1e9:9.3f}G{after.macs / base.macs:7.3f}{after.params / 1e6:9.2f}M"
              f"{after.params / base.params:7.3f}{medians[key] * 1e3:9.2f}{medians[key] / medians['original']:8.3f}"
              f"{medians[key] / medians['torch-pruning']:7.3f}{seconds[key]:9.2f}")
    print(f"verified (ORT vs pruned IR): lepton {compiled['lepton'].report.verification.passed}")


if __name__ == "__main__":
    main()
