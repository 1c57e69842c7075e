"""fold-affine: per-channel scale/shift constants folded into neighbouring conv/linear weights."""
from __future__ import annotations

import torch
from torch import nn

from tests.passes.helpers import assert_same_outputs, body, run_pass, trace


class LayerScale(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 8)
        self.gamma = nn.Parameter(torch.rand(8) + 0.3)

    def forward(self, x):
        return self.gamma * self.fc(x)


def test_layer_scale_golden():
    ir = trace(LayerScale(), torch.randn(2, 5, 6))
    out, row = run_pass(ir, "fold-affine,dce")
    assert body(out) == "\n".join([
        "%x : f32[2,5,6] = input",
        "%linear : f32[2,5,8] = aten.linear(%x, %_lepton_fc_weight_affine, %_lepton_fc_bias_affine)  @ fc",
        "return (%linear,)",
    ])
    assert_same_outputs(ir, out, (torch.randn(2, 5, 6),))


class ConvScaleShift(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, groups=1, bias=False)
        self.register_buffer("s", torch.rand(4, 1, 1) + 0.5)
        self.register_buffer("t", torch.randn(1, 4, 1, 1))

    def forward(self, x):
        return (self.conv(x) * self.s - self.t) / 3.0


def test_output_side_scale_shift_and_scalar_divide():
    x = torch.randn(2, 3, 6, 6)
    ir = trace(ConvScaleShift(), x)
    out, row = run_pass(ir, "fold-affine")
    assert row.stats == {"output_folds": 3, "input_folds": 0}
    assert [n.target.__name__ for n in out.compute_nodes()] == ["conv2d.default"]
    assert_same_outputs(ir, out, (torch.randn(2, 3, 6, 6),))


class Normalised(nn.Module):
    """(x - mean) / std before a conv: the scale folds; the shift only without zero padding."""

    def __init__(self, padding: int):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.4, 0.5, 0.6]).reshape(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.2, 0.25, 0.3]).reshape(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 6, 3, padding=padding, groups=3)

    def forward(self, x):
        return self.conv((x - self.mean) / self.std)


def test_input_side_without_padding_folds_scale_and_shift():
    x = torch.rand(2, 3, 7, 7)
    ir = trace(Normalised(padding=0), x)
    out, row = run_pass(ir, "fold-affine,dce")
    assert row.stats["input_folds"] == 2
    assert body(out).splitlines()[1].startswith("%conv2d : f32[2,6,5,5] = aten.conv2d(%x,")
    assert_same_outputs(ir, out, (torch.rand(2, 3, 7, 7),))


def test_input_side_with_padding_folds_only_the_scale():
    x = torch.rand(2, 3, 7, 7)
    ir = trace(Normalised(padding=1), x)
    out, row = run_pass(ir, "fold-affine,dce")
    assert row.stats["input_folds"] == 1
    assert "aten.sub.Tensor(%x, %mean)" in str(out) and "aten.div" not in str(out)
    assert_same_outputs(ir, out, (torch.rand(2, 3, 7, 7),))


class NotPerChannel(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.register_buffer("spatial", torch.rand(1, 1, 4, 4))

    def forward(self, x):
        y = self.conv(x)
        return y * self.spatial, y + 1.0  # varies along H/W; and y has two users


def test_spatial_constants_and_shared_outputs_are_left_alone():
    ir = trace(NotPerChannel(), torch.randn(2, 3, 4, 4))
    out, row = run_pass(ir, "fold-affine")
    assert not row.changed and str(out) == str(ir)
