"""cost: params and MACs per node match hand-computed values."""
from __future__ import annotations

import torch
from torch import nn

from lepton_ir import AnalysisManager
from tests.passes.helpers import run_pass, trace


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        y = self.up(self.dw(torch.relu(self.conv(x))))         # [1,4,8,8]
        y = y.flatten(2)                                         # [1,4,64]
        att = torch.nn.functional.scaled_dot_product_attention(y, y, y)  # L=4, S=4, E=64
        z = torch.matmul(att, att.transpose(1, 2))               # [1,4,4], K=64
        return self.fc(z.reshape(1, 16))


def test_macs_and_params_per_node():
    ir = trace(Mixed(), torch.randn(1, 3, 4, 4))
    cost = AnalysisManager(ir).get("cost")
    by_op = {}
    for node in ir.compute_nodes():
        by_op.setdefault(str(node.target).split(".")[1], []).append(cost.nodes[node.name])
    conv, dw = by_op["conv2d"]
    assert conv.macs == 8 * 4 * 4 * 3 * 9 and conv.params == 8 * 3 * 9 + 8
    assert dw.macs == 8 * 4 * 4 * 9 and dw.params == 8 * 9
    (up,) = by_op["conv_transpose2d"]
    assert up.macs == (8 * 4 * 4) * 4 * 2 * 2 and up.params == 8 * 4 * 4 + 4
    (att,) = by_op["scaled_dot_product_attention"]
    assert att.macs == 1 * 4 * 4 * (64 + 64) and att.kind == "attention"
    (mm,) = by_op["matmul"]
    assert mm.macs == 16 * 64
    (fc,) = by_op["linear"]
    assert fc.macs == 5 * 16 and fc.params == 5 * 16 + 5
    (relu,) = by_op["relu"]
    assert relu.macs == 0 and relu.elementwise == 8 * 16
    assert cost.total_macs == sum(c.macs for c in cost.nodes.values())
    assert cost.total_params == sum(p.numel() for p in Mixed().parameters())
    assert cost.macs_by_kind["conv"] == conv.macs + dw.macs + up.macs


def test_cost_as_a_pipeline_step_reports_totals_and_changes_nothing():
    ir = trace(Mixed(), torch.randn(1, 3, 4, 4))
    out, row = run_pass(ir, "cost")
    assert not row.changed and row.kind == "analysis"
    assert row.stats["macs"] == row.macs > 0 and row.stats["params"] == row.params
    assert str(out) == str(ir)
