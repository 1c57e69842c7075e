"""fold-batchnorm: BN folded into conv/conv-transpose/linear, else lowered to a multiply-add."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from lepton_ir.tools.zoo import randomize_batchnorm
from tests.passes.helpers import assert_same_outputs, body, run_pass, trace


def _net(*layers: nn.Module) -> nn.Module:
    return randomize_batchnorm(nn.Sequential(*layers)).eval()


def test_conv_bn_golden():
    ir = trace(_net(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)), torch.randn(2, 3, 6, 6))
    out, row = run_pass(ir, "fold-batchnorm,dce")
    assert body(out) == "\n".join([
        "%input_1 : f32[2,3,6,6] = input",
        "%conv2d : f32[2,4,6,6] = aten.conv2d(%input_1, %_lepton_0_weight_bn, %_lepton_0_weight_bias_bn, [1, 1], [1, 1])  @ 0",
        "return (%conv2d,)",
    ])
    assert_same_outputs(ir, out, (torch.randn(2, 3, 6, 6),))


@pytest.mark.parametrize("layers, shape, where", [
    ((nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)), (2, 3, 6, 6), "into_conv"),
    ((nn.Conv2d(4, 8, 3, groups=4), nn.BatchNorm2d(8)), (2, 4, 6, 6), "into_conv"),
    ((nn.Conv2d(6, 6, 3, groups=6, bias=False), nn.BatchNorm2d(6)), (2, 6, 6, 6), "into_conv"),
    ((nn.Conv1d(3, 5, 3), nn.BatchNorm1d(5)), (2, 3, 9), "into_conv"),
    ((nn.Conv3d(2, 4, 3, padding=1), nn.BatchNorm3d(4)), (1, 2, 4, 4, 4), "into_conv"),
    ((nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2), nn.BatchNorm2d(6)), (2, 4, 3, 3), "into_conv_transpose"),
    ((nn.ConvTranspose2d(3, 5, 3, bias=False), nn.BatchNorm2d(5)), (2, 3, 4, 4), "into_conv_transpose"),
    ((nn.Linear(7, 5), nn.BatchNorm1d(5)), (4, 7), "into_linear"),
    ((nn.BatchNorm2d(3),), (2, 3, 4, 4), "to_affine"),
])
def test_fold_targets_are_exact(layers, shape, where):
    ir = trace(_net(*layers), torch.randn(*shape))
    out, row = run_pass(ir, "fold-batchnorm")
    assert row.stats[where] == 1 and sum(row.stats.values()) == 1
    assert "aten.batch_norm" not in str(out)
    assert_same_outputs(ir, out, (torch.randn(*shape),))


class AddThenBN(nn.Module):
    def __init__(self, padding: int):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.bn = nn.BatchNorm2d(4)
        self.b = nn.Conv2d(4, 4, 3, padding=padding)
        randomize_batchnorm(self)

    def forward(self, x):
        y = self.a(x)
        return self.b(self.bn(y + y.sigmoid()))


def test_bn_after_add_becomes_affine_and_folds_forward_when_exact():
    x = torch.randn(2, 3, 6, 6)
    ir = trace(AddThenBN(padding=0).eval(), x)
    out, row = run_pass(ir, "fold-batchnorm")
    assert row.stats["to_affine"] == 1
    assert "aten.mul.Tensor(%add, %_lepton_batch_norm_scale)" in str(out)
    folded, affine_row = run_pass(out, "fold-affine,dce")
    assert affine_row.changed and "aten.mul" not in str(folded) and "aten.add.Tensor(%add" not in str(folded)
    assert_same_outputs(ir, folded, (x,))


def test_shift_does_not_cross_a_zero_padded_conv():
    x = torch.randn(2, 3, 6, 6)
    ir = trace(AddThenBN(padding=1).eval(), x)
    out, _ = run_pass(ir, "fold-batchnorm,fold-affine,dce")
    assert "aten.add.Tensor(%mul" in str(out)  # the shift stays before the padded conv
    assert_same_outputs(ir, out, (x,))


class SharedConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.bn = nn.BatchNorm2d(4)
        randomize_batchnorm(self)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y  # y is used unnormalised too: folding into conv would change it


def test_shared_conv_output_is_not_folded_into():
    ir = trace(SharedConv().eval(), torch.randn(2, 3, 4, 4))
    out, row = run_pass(ir, "fold-batchnorm")
    assert row.stats["into_conv"] == 0 and row.stats["to_affine"] == 1
    assert_same_outputs(ir, out, (torch.randn(2, 3, 4, 4),))


def test_no_batchnorm_is_a_no_op():
    ir = trace(nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU()).eval(), torch.randn(1, 3, 4, 4))
    out, row = run_pass(ir, "fold-batchnorm")
    assert not row.changed and str(out) == str(ir)
