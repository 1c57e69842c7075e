"""binarize: sign x per-channel mean |w|, chosen layers, and straight-through fine-tuning."""
from __future__ import annotations

import torch
from torch import nn

import lepton_ir
from lepton_ir.passes.transforms.binarize import binarize_weight
from tests.passes.helpers import trace


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))


def test_binarized_weight_is_scaled_sign():
    w = torch.tensor([[0.5, -1.5], [2.0, 0.0]])
    torch.testing.assert_close(binarize_weight(w), torch.tensor([[1.0, -1.0], [1.0, 1.0]]))


def test_default_keeps_first_and_last_layers():
    ir = trace(_net(), torch.randn(4, 8))
    result = lepton_ir.PassManager("binarize,dce").run(ir)
    row = result.report.passes[0]
    assert row.stats == {"binarized": 1, "packed_bits": 16 * 16 + 32 * 16, "float_bits": 32 * 16 * 16}
    linears = [n for n in result.module.compute_nodes() if "linear" in str(n.target)]
    middle = result.module.constant(linears[1].args[1])
    assert middle.abs().unique(dim=1).shape[1] == 1  # one magnitude per output channel
    torch.testing.assert_close(result.module.constant(linears[0].args[1]), ir.constant("0.weight"))
    assert result.module.node(linears[1].name).meta["lepton.quant"]["dtype"] == "binary"


def test_finetune_reduces_the_output_error():
    ir = trace(_net(), torch.randn(4, 8))
    data = [(torch.randn(16, 8),) for _ in range(8)]
    plain = lepton_ir.PassManager("binarize{layers=[0,2]}", calibration=data).run(ir)
    tuned = lepton_ir.PassManager("binarize{layers=[0,2],finetune_steps=200,lr=0.01}", calibration=data).run(ir)
    stats = tuned.report.passes[0].stats
    assert stats["binarized"] == 2 and stats["finetune_loss_after"] < 0.5 * stats["finetune_loss_before"]
    x = torch.randn(64, 8)
    reference = ir(x)[0]
    err = lambda m: float((m(x)[0] - reference).pow(2).mean())  # noqa: E731
    assert err(tuned.module) < err(plain.module)
    again = lepton_ir.PassManager("binarize{layers=[0,2],finetune_steps=200,lr=0.01}", calibration=data).run(ir)
    torch.testing.assert_close(again.module(x)[0], tuned.module(x)[0], rtol=0, atol=0)  # deterministic


def test_nothing_chosen_is_a_no_op():
    ir = trace(_net(), torch.randn(4, 8))
    result = lepton_ir.PassManager("binarize{layers=[nothing]}").run(ir)
    assert not result.report.passes[0].changed and str(result.module) == str(ir)
