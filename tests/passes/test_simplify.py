"""simplify: each rule of the table, on a model where only it applies; plus no-op and negatives."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.passes.helpers import assert_same_outputs, body, run_pass, trace


class Lambda(nn.Module):
    def __init__(self, fn, buffers=None):
        super().__init__()
        self.fn = fn
        for name, value in (buffers or {}).items():
            self.register_buffer(name, value)

    def forward(self, x):
        return self.fn(self, x)


CASES = {
    "mul-by-one": (lambda m, x: (x * 1.0).relu(), None),
    "add-zero": (lambda m, x: (x - 0.0 + m.zeros).relu(), {"zeros": torch.zeros(4)}),
    "div-by-one": (lambda m, x: (x / 1.0).relu(), None),
    "double-negation": (lambda m, x: (-(-x)).relu(), None),
    "double-transpose": (lambda m, x: x.transpose(0, 1).transpose(1, 0).relu(), None),
    "permute-of-permute": (lambda m, x: x.permute(1, 0).permute(1, 0).relu(), None),
    "reshape-of-reshape": (lambda m, x: x.reshape(12).reshape(4, 3).relu(), None),
    "squeeze-unsqueeze": (lambda m, x: x.unsqueeze(1).squeeze(1).relu(), None),
    "cat-of-one": (lambda m, x: torch.cat([x], dim=1).relu(), None),
    # export already turns x[:, 0:100] into an alias; a slice op as other frontends emit it:
    "full-slice": (lambda m, x: torch.ops.aten.slice.Tensor(x, 1, 0, 100).relu(), None),
    "cast-round-trip": (lambda m, x: x.to(torch.float64).to(torch.float32).relu(), None),
    "idempotent-relu": (lambda m, x: x.relu().relu(), None),
}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires_and_is_exact(rule):
    fn, buffers = CASES[rule]
    x = torch.randn(3, 4)
    ir = trace(Lambda(fn, buffers), x)
    out, row = run_pass(ir, "simplify,dce")
    assert row.stats[rule] >= 1, row.stats
    assert_same_outputs(ir, out, (torch.randn(3, 4),), rtol=0)


def test_golden_permutes_compose():
    ir = trace(Lambda(lambda m, x: x.permute(2, 0, 1).permute(0, 2, 1)), torch.randn(2, 3, 4))
    out, _ = run_pass(ir, "simplify,dce")
    assert body(out) == "\n".join([
        "%x : f32[2,3,4] = input",
        "%permute_default : f32[4,3,2] = aten.permute(%x, [2, 1, 0])",
        "return (%permute_default,)",
    ])


NEGATIVE = {
    "mul by 2": lambda m, x: x * 2.0,
    "broadcasting ones": lambda m, x: x * torch.ones(2, 3, 4),
    "different transposes": lambda m, x: x.transpose(0, 1).transpose(0, 1)[None].transpose(0, 2),
    "partial slice": lambda m, x: torch.ops.aten.slice.Tensor(x, 1, 1, 100),
    "lossy cast": lambda m, x: x.to(torch.float16).to(torch.float32),
    "cat of two": lambda m, x: torch.cat([x, x], 1),
}


@pytest.mark.parametrize("case", sorted(NEGATIVE))
def test_rules_do_not_fire_where_they_would_change_values(case):
    ir = trace(Lambda(NEGATIVE[case]), torch.randn(3, 4))
    out, row = run_pass(ir, "simplify")
    assert_same_outputs(ir, out, (torch.randn(3, 4),), rtol=0)
    if case != "different transposes":
        assert not row.changed, row.stats


def test_no_op_on_clean_graph():
    ir = trace(nn.Sequential(nn.Linear(3, 3), nn.ReLU()), torch.randn(1, 3))
    out, row = run_pass(ir, "simplify")
    assert not row.changed and row.stats == {"rewritten": 0} and str(out) == str(ir)


class PermuteThenMutate(nn.Module):
    """Found by the differential run: a rejected rewrite left its new node behind (changed=False lied)."""

    def forward(self, x):
        w = x * 1.5
        z = w.permute(1, 0, 2).permute(0, 2, 1)  # composes into one new permute: rejected, z is mutated
        z.mul_(2.0)
        return z.sum() + w.sum()


def test_rejected_rewrite_leaves_no_trace():
    ir = trace(PermuteThenMutate(), torch.randn(2, 3, 4))
    out, row = run_pass(ir, "simplify")
    assert not row.changed and str(out) == str(ir)
