"""cse: repeated pure computations merged; random ops never."""
from __future__ import annotations

import torch
from torch import nn

from tests.passes.helpers import assert_same_outputs, body, run_pass, trace


class Repeated(nn.Module):
    def forward(self, x):
        return x.sigmoid() * 2 + x.sigmoid() * 2


def test_repeated_expressions_merge_golden():
    ir = trace(Repeated(), torch.randn(3))
    out, row = run_pass(ir, "cse,dce")
    assert row.stats == {"eliminated": 2}
    assert body(out) == "\n".join([
        "%x : f32[3] = input",
        "%sigmoid : f32[3] = aten.sigmoid(%x)",
        "%mul : f32[3] = aten.mul.Tensor(%sigmoid, 2)",
        "%add : f32[3] = aten.add.Tensor(%mul, %mul)",
        "return (%add,)",
    ])
    assert_same_outputs(ir, out, (torch.randn(3),))


class Distinct(nn.Module):
    def forward(self, x):
        return x.sigmoid() * 2 + x.sigmoid() * 3


def test_different_arguments_stay():
    ir = trace(Distinct(), torch.randn(3))
    out, row = run_pass(ir, "cse")
    assert row.stats == {"eliminated": 1}  # the sigmoid only
    assert "aten.mul.Tensor(%sigmoid, 3)" in str(out)


def test_no_duplicates_no_change():
    ir = trace(nn.Sequential(nn.Linear(3, 3), nn.ReLU()), torch.randn(1, 3))
    out, row = run_pass(ir, "cse")
    assert not row.changed and str(out) == str(ir)


class CopiesMutated(nn.Module):
    """Found by the differential run: merging the two clones let add_ reach both."""

    def forward(self, x):
        a = x.clone()
        b = x.clone()
        a.add_(1.0)
        return a * b


def test_values_written_in_place_are_not_merged():
    ir = trace(CopiesMutated(), torch.randn(3))
    out, row = run_pass(ir, "cse")
    assert not row.changed
    assert_same_outputs(ir, out, (torch.randn(3),), rtol=0)
