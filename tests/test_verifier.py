"""The verifier catches what a broken pass leaves behind."""
from __future__ import annotations

import pytest
import torch

import lepton_ir
from lepton_ir import VerificationError, verify


@pytest.fixture
def ir(tiny_cnn):
    model, inputs = tiny_cnn
    return lepton_ir.trace(model, inputs)


def test_valid_ir_passes(ir):
    verify(ir)


def test_stale_shape_metadata_is_reported_with_the_node(ir):
    relu = next(n for n in ir.compute_nodes() if n.target == torch.ops.aten.relu.default)
    relu.meta["val"] = torch.empty(1, 2)
    with pytest.raises(VerificationError) as info:
        verify(ir, pass_name="broken")
    assert "stale shape metadata" in str(info.value) and "%relu" in str(info.value)
    assert "invalid IR after 'broken'" in str(info.value)


def test_missing_metadata_is_reported(ir):
    relu = next(n for n in ir.compute_nodes() if n.target == torch.ops.aten.relu.default)
    del relu.meta["val"]
    with pytest.raises(VerificationError, match="no shape metadata"):
        verify(ir)


def test_missing_constant_is_reported(ir):
    del ir.graph_module.conv._parameters["weight"]
    with pytest.raises(VerificationError, match="conv.weight references nonexistent attribute"):
        verify(ir)


def test_changed_output_shape_is_reported_unless_declared(ir):
    output = next(n for n in reversed(ir.graph.nodes) if n.op == "output")
    linear = output.args[0][0]
    with ir.graph.inserting_after(linear):
        sliced = ir.graph.call_function(torch.ops.aten.slice.Tensor, (linear, 1, 0, 2))
    output.args = ((sliced,),)
    ir.recompile()
    ir.refresh_shapes()
    with pytest.raises(VerificationError, match="output 0 is f32\\[2,2\\], the model's was f32\\[2,4\\]"):
        verify(ir)
    verify(ir, outputs_may_change=True)


def test_graph_lint_failure_is_reported(ir):
    relu = next(n for n in ir.compute_nodes() if n.target == torch.ops.aten.relu.default)
    conv = relu.args[0]
    relu.args = (relu,)  # a node that uses itself: fx lint rejects it
    with pytest.raises(VerificationError, match="lint"):
        verify(ir)
    relu.args = (conv,)
