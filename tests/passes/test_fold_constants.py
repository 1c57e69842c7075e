"""fold-constants: constant-only subgraphs evaluated ahead of time, within a size budget."""
from __future__ import annotations

import torch
from torch import nn

from tests.passes.helpers import assert_same_outputs, body, run_pass, trace


class WeightMath(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 6))
        self.register_buffer("c", torch.rand(6))

    def forward(self, x):
        return x @ self.w.t().t().transpose(0, 1) * (self.c.reshape(1, 6) * 2.0 + 1.0)[:, :4]


def test_weight_transposes_and_constant_arithmetic_fold():
    x = torch.randn(3, 6)
    ir = trace(WeightMath(), x)
    out, row = run_pass(ir, "fold-constants,dce")
    assert row.stats == {"folded": 2}
    assert body(out) == "\n".join([
        "%x : f32[3,6] = input",
        "%matmul : f32[3,4] = aten.matmul(%x, %_lepton_folded_transpose)",
        "%mul_1 : f32[3,4] = aten.mul.Tensor(%matmul, %_lepton_folded_slice_1)",
        "return (%mul_1,)",
    ])
    assert_same_outputs(ir, out, (torch.randn(3, 6),))


class BigExpand(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("row", torch.rand(1, 512))

    def forward(self, x):
        return x + self.row.expand(256, 512)


def test_results_much_larger_than_their_inputs_stay_computed():
    ir = trace(BigExpand(), torch.randn(256, 512))
    out, row = run_pass(ir, "fold-constants")
    assert not row.changed and "aten.expand" in str(out)


def test_no_constants_no_change():
    ir = trace(nn.Sequential(nn.Linear(3, 3), nn.ReLU()), torch.randn(1, 3))
    out, row = run_pass(ir, "fold-constants")
    assert not row.changed and str(out) == str(ir)
