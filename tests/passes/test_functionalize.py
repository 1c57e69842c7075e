"""functionalize: in-place ops on intermediates become functional; mutations that others see stay."""
from __future__ import annotations

import torch
from torch import nn

from tests.passes.helpers import assert_same_outputs, body, run_pass, trace


class InPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.fc(x)
        z = y.clone()
        y += z  # add_ on an intermediate; y is read again below
        return self.act(y) * 2, y.sum()


def test_inplace_ops_become_functional_golden():
    x = torch.randn(2, 4)
    ir = trace(InPlace(), x)
    out, row = run_pass(ir, "functionalize")
    assert row.stats == {"functionalized": 2, "skipped": 0}
    assert body(out) == "\n".join([
        "%x : f32[2,4] = input",
        "%linear : f32[2,4] = aten.linear(%x, %fc_weight, %fc_bias)  @ fc",
        "%clone : f32[2,4] = aten.clone(%linear)",
        "%add_tensor : f32[2,4] = aten.add.Tensor(%linear, %clone)",
        "%relu_default : f32[2,4] = aten.relu(%add_tensor)  @ act",
        "%mul : f32[2,4] = aten.mul.Tensor(%relu_default, 2)",
        "%sum_1 : f32[] = aten.sum(%relu_default)",
        "return (%mul, %sum_1)",
    ])
    assert_same_outputs(ir, out, (torch.randn(2, 4),), rtol=0)


class ViewMutation(nn.Module):
    def forward(self, x):
        y = x * 1.5
        v = y.view(-1)
        y.add_(1.0)  # visible through v: must stay in place
        return v + 0.0


def test_mutations_visible_through_views_or_inputs_stay():
    ir = trace(ViewMutation(), torch.randn(2, 3))
    out, row = run_pass(ir, "functionalize")
    assert row.stats["functionalized"] == 0 and row.stats["skipped"] >= 1
    assert_same_outputs(ir, out, (torch.randn(2, 3),), rtol=0)


def test_no_inplace_ops_no_change():
    ir = trace(nn.Sequential(nn.Linear(3, 3), nn.ReLU()), torch.randn(1, 3))
    out, row = run_pass(ir, "functionalize")
    assert not row.changed and str(out) == str(ir)
