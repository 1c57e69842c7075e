"""The demo digits model pruned to about half its MACs, fine-tuned, then quantized (-O2-style).

    .venv/bin/python benchmarks/prune_demo.py [--ratio 0.3]

Prints test accuracy: float, pruned (no fine-tune), pruned + 20 epochs of plain fine-tuning with the
training labels, and that model quantized (int8, calibrated on training images), run in ONNX Runtime.
"""
from __future__ import annotations

import argparse
import os
import tempfile

import torch

import lepton_ir
from lepton_ir.backends.onnx import session
from lepton_ir.tools import demo
from lepton_ir.tools.finetune import finetune


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ratio", type=float, default=0.3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = demo.load_data()
    ir = lepton_ir.trace(demo.load_model(), demo.example_inputs())

    def accuracy(module: lepton_ir.Module) -> float:
        return demo.accuracy(lambda x: module(x)[0], data.x_test, data.y_test, batch=1)

    folded = lepton_ir.PassManager("-O1").run(ir)
    pruned = lepton_ir.PassManager(f"-O1,prune-channels{{ratio={args.ratio}}}").run(ir)
    tuned = finetune(pruned.module, data.x_train, data.y_train, epochs=20, lr=3e-3)
    calibration = [(data.x_train[i:i + 1],) for i in range(0, 256)]
    out = os.path.join(tempfile.mkdtemp(prefix="lepton-prune-demo-"), "q.onnx")
    quantized = lepton_ir.compile(tuned, pipeline="quantize,dce", output=out, calibration=calibration)
    sess = session(out)
    name = sess.get_inputs()[0].name
    int8 = demo.accuracy(lambda x: torch.from_numpy(sess.run(None, {name: x.numpy()})[0]), data.x_test, data.y_test)
    macs = pruned.report.after.macs / folded.report.after.macs
    print(f"prune-channels ratio {args.ratio}: MACs {macs:.3f}x of the folded model")
    print(f"float (-O1)                      {accuracy(folded.module):6.2f}%")
    print(f"pruned, no fine-tune             {accuracy(pruned.module):6.2f}%")
    print(f"pruned + 20 epochs fine-tune     {accuracy(tuned):6.2f}%")
    print(f"... + int8 (ONNX Runtime)        {int8:6.2f}%   verified: {quantized.report.verification.passed}")


if __name__ == "__main__":
    main()
