"""dce: removes unused nodes and constants, keeps side effects, exact."""
from __future__ import annotations

import torch
from torch import nn

from tests.passes.helpers import assert_same_outputs, body, run_pass, trace


class Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.unused = nn.Linear(4, 4)

    def forward(self, x):
        _ = self.unused(x).sigmoid()  # computed, never used
        return self.fc(x)


def test_dce_removes_dead_chain_and_its_weights():
    ir = trace(Unused(), torch.randn(2, 4))
    out, row = run_pass(ir, "dce")
    assert body(out) == "\n".join([
        "%x : f32[2,4] = input",
        "%linear_1 : f32[2,4] = aten.linear(%x, %fc_weight, %fc_bias)  @ fc",
        "return (%linear_1,)",
    ])
    assert row.stats == {"nodes_removed": 4, "constants_removed": 2}
    assert not list(out.graph_module.get_submodule("unused").buffers())
    assert_same_outputs(ir, out, (torch.randn(3, 4),))


def test_dce_keeps_side_effects_and_inputs():
    ir = trace(Unused(), torch.randn(2, 4))
    x = next(n for n in ir.graph.nodes if n.op == "placeholder")
    with ir.graph.inserting_after(x):
        ir.graph.call_function(torch.ops.aten._assert_scalar.default, (True, "kept"))
    ir.recompile()
    ir.refresh_shapes()
    out, _ = run_pass(ir, "dce")
    assert "aten._assert_scalar" in str(out)
    assert "%x : f32[2,4] = input" in str(out)


def test_dce_reports_no_change_on_clean_graph():
    ir, _ = run_pass(trace(Unused(), torch.randn(2, 4)), "dce")
    again, row = run_pass(ir, "dce")
    assert not row.changed and row.stats == {"nodes_removed": 0, "constants_removed": 0}
    assert str(again) == str(ir)
