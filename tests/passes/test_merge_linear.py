"""merge-linear: consecutive linear layers merged only when that makes the model smaller."""
from __future__ import annotations

import torch
from torch import nn

from tests.passes.helpers import assert_same_outputs, body, run_pass, trace


def test_wide_then_narrow_merges():
    model = nn.Sequential(nn.Linear(16, 32), nn.Linear(32, 4))
    ir = trace(model, torch.randn(5, 16))
    out, row = run_pass(ir, "merge-linear,dce")
    assert row.stats == {"merged": 1}
    assert body(out) == "\n".join([
        "%input_1 : f32[5,16] = input",
        "%linear_1 : f32[5,4] = aten.linear(%input_1, %_lepton_linear_1_merged_weight, %_lepton_linear_1_merged_bias)  @ 1",
        "return (%linear_1,)",
    ])
    assert out.parameter_count() == 16 * 4 + 4
    assert_same_outputs(ir, out, (torch.randn(5, 16),))


def test_bottleneck_is_not_merged():
    ir = trace(nn.Sequential(nn.Linear(16, 4), nn.Linear(4, 16)), torch.randn(5, 16))
    out, row = run_pass(ir, "merge-linear")
    assert not row.changed and str(out) == str(ir)


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(16, 32)
        self.b = nn.Linear(32, 2)

    def forward(self, x):
        h = self.a(x)
        return self.b(h), h.relu()


def test_shared_hidden_output_is_not_merged():
    ir = trace(Shared(), torch.randn(3, 16))
    _, row = run_pass(ir, "merge-linear")
    assert not row.changed


def test_without_biases_and_3d_inputs():
    model = nn.Sequential(nn.Linear(8, 24, bias=False), nn.Linear(24, 3, bias=False))
    ir = trace(model, torch.randn(2, 7, 8))
    out, row = run_pass(ir, "merge-linear")
    assert row.stats == {"merged": 1}
    assert_same_outputs(ir, out, (torch.randn(2, 7, 8),))
