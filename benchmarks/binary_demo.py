"""Binary weights on the demo digits model: test accuracy without and with straight-through fine-tuning.

    .venv/bin/python benchmarks/binary_demo.py

-O1 folds BatchNorm first; binarize then turns the three inner convolutions into sign x per-channel
scale (the stem conv and the classifier stay float, as binary networks usually keep them). Fine-tuning
matches the float model's outputs on the training images in batches of 32 (no labels used).
"""
from __future__ import annotations

import torch

import lepton_ir
from lepton_ir.tools import demo


def main() -> None:
    torch.set_num_threads(2)
    data = demo.load_data()
    ir = lepton_ir.trace(demo.load_model(), demo.example_inputs())
    batches = [(data.x_train[i:i + 32],) for i in range(0, len(data.x_train) - 31, 32)]

    def accuracy(module: lepton_ir.Module) -> float:
        return demo.accuracy(lambda x: module(x)[0], data.x_test, data.y_test, batch=64)

    print(f"float (-O1)                     {accuracy(lepton_ir.PassManager('-O1').run(ir).module):6.2f}%")
    for steps in (0, 300, 1000, 3000):
        result = lepton_ir.PassManager(f"-O1,binarize{{finetune_steps={steps},lr=0.003}}", calibration=batches).run(ir)
        stats = result.report.passes[-1].stats
        label = f"binary, {steps} fine-tune steps"
        print(f"{label:<32}{accuracy(result.module):6.2f}%   binarized layers {stats['binarized']}, "
              f"{stats['packed_bits'] / 8 / 1024:.1f} KiB packed vs {stats['float_bits'] / 8 / 1024:.1f} KiB float")


if __name__ == "__main__":
    main()
