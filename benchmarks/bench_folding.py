"""TorchScript (and ORT) latency of a ResNet-18-shaped CNN compiled with -O0 vs -O1.

    .venv/bin/python benchmarks/bench_folding.py [--resolution 224] [--rounds 15]

Both artifacts come from the same traced model; they run interleaved in one process (torch and
ORT at 2 threads); the ratio -O1/-O0 is what to compare. ``torchscript`` is Lepton's artifact
(traced and frozen); ``ts-unfrozen`` is the same trace without torch.jit.freeze, whose own
conv-BN folding otherwise hides the difference.
"""
from __future__ import annotations

import argparse
import os
import tempfile

import torch

import lepton_ir
from lepton_ir.backends.onnx import session
from lepton_ir.tools.latency import interleaved_medians
from lepton_ir.tools.zoo import resnet18


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model, inputs = resnet18(args.resolution)
    ir = lepton_ir.trace(model, inputs)
    out = tempfile.mkdtemp(prefix="lepton-bench-")
    runners, nodes = {}, {}
    x = inputs[0]
    for level in ("-O0", "-O1"):
        ts = lepton_ir.compile(ir, pipeline=level, target="torchscript", output=os.path.join(out, f"r{level}.pt"))
        ox = lepton_ir.compile(ir, pipeline=level, target="onnx", output=os.path.join(out, f"r{level}.onnx"))
        nodes[level] = ts.report.after.nodes
        loaded = torch.jit.load(ts.report.output)
        sess = session(ox.report.output, spin=False)
        feed = {sess.get_inputs()[0].name: x.numpy()}

        def run_ts(loaded=loaded) -> object:
            with torch.no_grad():
                return loaded(x)

        traced = torch.jit.trace(lepton_ir.PassManager(level).run(ir).module.graph_module, (x,), check_trace=False)

        def run_traced(traced=traced) -> object:
            with torch.no_grad():
                return traced(x)

        runners[f"torchscript {level}"] = run_ts
        runners[f"ts-unfrozen {level}"] = run_traced
        runners[f"onnxruntime {level}"] = lambda sess=sess, feed=feed: sess.run(None, feed)
    medians = interleaved_medians(runners, rounds=args.rounds)
    print(f"ResNet-18-shaped CNN, 1x3x{args.resolution}x{args.resolution}, 2 threads, median of {args.rounds * 5} runs")
    print(f"IR nodes: -O0 {nodes['-O0']}, -O1 {nodes['-O1']}")
    for name, seconds in medians.items():
        print(f"  {name:<20} {seconds * 1e3:8.2f} ms")
    for backend in ("torchscript", "ts-unfrozen", "onnxruntime"):
        ratio = medians[f"{backend} -O1"] / medians[f"{backend} -O0"]
        print(f"{backend}: -O1 / -O0 latency = {ratio:.3f}")


if __name__ == "__main__":
    main()
