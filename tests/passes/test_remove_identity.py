"""remove-identity: each rule removes its op, keeps the values, and leaves real ops alone."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.models import Identities
from tests.passes.helpers import assert_same_outputs, body, run_pass, trace


def test_all_identity_ops_are_removed():
    ir = trace(Identities(), torch.randn(2, 6))
    out, row = run_pass(ir, "remove-identity,dce")
    assert body(out) == "\n".join([
        "%x : f32[2,6] = input",
        "%linear : f32[2,6] = aten.linear(%x, %fc_weight, %fc_bias)  @ fc",
        "return (%linear,)",
    ])
    assert_same_outputs(ir, out, (torch.randn(2, 6),))


def test_rule_counters():
    ir = trace(Identities(), torch.randn(2, 6))
    _, row = run_pass(ir, "remove-identity")
    assert row.stats["dropout"] == 1
    assert row.stats["copy"] == 1 and row.stats["contiguous-copy"] == 1  # detach; clone (export drops contiguous)
    assert row.stats["metadata-assert"] == 1 and row.stats["same-dtype-cast"] == 1 and row.stats["noop-reshape"] == 1
    assert row.stats["identity-permute"] == 1 and row.stats["self-transpose"] == 1
    assert row.stats["removed"] == sum(v for k, v in row.stats.items() if k != "removed")


class RealReshapes(nn.Module):
    def forward(self, x):
        y = x.reshape(2, 3, 2).permute(0, 2, 1).transpose(0, 1).to(torch.float64)
        return y.contiguous().view(-1)


def test_real_reshapes_and_casts_stay():
    ir = trace(RealReshapes(), torch.randn(2, 6))
    out, row = run_pass(ir, "remove-identity")
    for op in ("aten.reshape", "aten.permute", "aten.transpose", "aten.view"):
        assert op in str(out), op
    assert "f64" in str(out)
    assert row.stats.get("noop-reshape", 0) == 0 and row.stats.get("identity-permute", 0) == 0
    torch.testing.assert_close(out(torch.arange(12.).reshape(2, 6))[0], RealReshapes()(torch.arange(12.).reshape(2, 6)))


def test_no_op_on_clean_graph():
    ir, _ = run_pass(trace(nn.Sequential(nn.Linear(3, 3), nn.ReLU()), torch.randn(1, 3)), "remove-identity")
    again, row = run_pass(ir, "remove-identity")
    assert not row.changed and row.stats == {"removed": 0}
    assert str(again) == str(ir)


@pytest.mark.parametrize("dynamic", [False, True])
def test_same_shape_reshape_only_removed_for_static_shapes(dynamic):
    class Flat(nn.Module):
        def forward(self, x):
            return x.reshape(x.shape[0], 4) * 2

    ir = trace(Flat(), torch.randn(2, 4), dynamic_batch=dynamic)
    out, row = run_pass(ir, "remove-identity")
    assert ("aten.reshape" in str(out) or "aten.view" in str(out)) == dynamic
    x = torch.randn(2, 4)
    torch.testing.assert_close(out(x)[0], Flat()(x))


class CopyThenMutate(nn.Module):
    """Found by the differential generator: removing this clone let add_ write into a view of x."""

    def forward(self, x):
        y = x.permute(0, 2, 3, 1).permute(0, 3, 1, 2)
        z = y.clone()
        z.add_(1.0)
        return z + y.sigmoid()


def test_copy_that_is_mutated_in_place_stays():
    x = torch.randn(2, 3, 4, 4)
    ir = trace(CopyThenMutate(), x)
    out, row = run_pass(ir, "remove-identity")
    assert "aten.clone" in str(out) and row.stats.get("contiguous-copy", 0) == 0
    assert_same_outputs(ir, out, (x,), rtol=0)
    functional, _ = run_pass(ir, "functionalize,remove-identity")
    assert "aten.clone" not in str(functional)  # once functional, the copy is removable
    assert_same_outputs(ir, functional, (x,), rtol=0)
