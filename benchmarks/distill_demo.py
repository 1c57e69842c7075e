"""Accuracy recovery on the demo digits model pruned to 0.3x MACs: four ways, same pruned model.

    .venv/bin/python benchmarks/distill_demo.py

(a) no recovery; (b) plain fine-tune with the labels (tools/finetune.py); (c) soft-target distillation
(alpha=1: KL to the teacher at T=4, x T^2); (d) hard-target distillation (alpha=0, cross-entropy to the
teacher's argmax, no labels). Same optimiser budget for (b)-(d): 30 epochs, Adam lr 0.005, batch 16.
Then quantization-aware distillation: -O2-style int8 alone vs int8 followed by distillation.
"""
from __future__ import annotations

import torch

import lepton_ir
from lepton_ir.pass_base import TrainData
from lepton_ir.tools import demo
from lepton_ir.tools.finetune import finetune

TRAIN = "epochs=30,lr=0.005,batch_size=16"


def main() -> None:
    torch.set_num_threads(2)
    data = demo.load_data()
    ir = lepton_ir.trace(demo.load_model(), demo.example_inputs())
    train = TrainData((data.x_train,), data.y_train)
    unlabeled = TrainData((data.x_train,))

    def accuracy(module: lepton_ir.Module) -> float:
        return demo.accuracy(lambda x: module(x)[0], data.x_test, data.y_test, batch=64)

    def run(pipeline: str, train_data: TrainData = train) -> lepton_ir.RunResult:
        calibration = [(data.x_train[i:i + 1],) for i in range(256)]
        return lepton_ir.PassManager(pipeline, train_data=train_data, calibration=calibration).run(ir)

    prune = "-O1,prune-channels{target_macs=0.3}"
    pruned = run(prune)
    macs = pruned.report.after.macs / run("-O1").report.after.macs
    print(f"original                          {accuracy(ir):6.2f}%")
    print(f"pruned to {macs:.3f}x MACs:")
    print(f"  (a) no recovery                 {accuracy(pruned.module):6.2f}%")
    tuned = finetune(pruned.module, data.x_train, data.y_train, epochs=30, lr=0.005, batch=16)
    print(f"  (b) fine-tune with labels       {accuracy(tuned):6.2f}%")
    print(f"  (c) soft-target distillation    {accuracy(run(f'{prune},distill{{{TRAIN},alpha=1.0}}').module):6.2f}%")
    hard = run(f"{prune},distill{{{TRAIN},alpha=0.0,hard=teacher}}", unlabeled)
    print(f"  (d) hard-target distillation    {accuracy(hard.module):6.2f}%")
    ptq = run("-O1,quantize,dce")
    qat = run(f"-O1,quantize,distill{{{TRAIN},alpha=1.0}},dce")
    print(f"int8 post-training                {accuracy(ptq.module):6.2f}%")
    print(f"int8 + quantization-aware distill {accuracy(qat.module):6.2f}%")


if __name__ == "__main__":
    main()
