"""The IR object: printing, cloning, saving and loading."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import lepton_ir
from lepton_ir import Module


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x)) * 2.0


def test_printed_ir_lists_name_op_inputs_shape_dtype_and_module_path():
    ir = lepton_ir.trace(Small(), (torch.randn(2, 4),), name="small")
    assert str(ir) == "\n".join([
        "module small: 3 ops, 15 constant elements",
        "%fc_weight : f32[3,4] = constant fc.weight",
        "%fc_bias : f32[3] = constant fc.bias",
        "%x : f32[2,4] = input",
        "%linear : f32[2,3] = aten.linear(%x, %fc_weight, %fc_bias)  @ fc",
        "%relu : f32[2,3] = aten.relu(%linear)",
        "%mul : f32[2,3] = aten.mul.Tensor(%relu, 2.0)",
        "return (%mul,)",
    ])


def test_save_load_round_trip_keeps_graph_weights_and_references(tmp_path, tiny_cnn):
    model, inputs = tiny_cnn
    ir = lepton_ir.trace(model, inputs, dynamic_batch=True)
    path = tmp_path / "m.lepton"
    ir.save(str(path))
    loaded = Module.load(str(path))
    assert str(loaded) == str(ir)
    assert loaded.dynamic_batch and loaded.input_names == ir.input_names
    for a, b in zip(loaded.reference_outputs, ir.reference_outputs):
        assert torch.equal(a, b)
    x = torch.randn(3, 3, 8, 8)
    torch.testing.assert_close(loaded(x)[0], ir(x)[0], rtol=0, atol=0)
    conv = next(n for n in loaded.compute_nodes() if n.target == torch.ops.aten.conv2d.default)
    assert conv.meta["nn_module_stack"] and "stack_trace" in conv.meta


def test_load_rejects_other_files(tmp_path):
    bogus = tmp_path / "x.lepton"
    torch.save({"graph": "{}"}, str(bogus))
    with pytest.raises(lepton_ir.SerializationError, match="not a saved Lepton IR"):
        Module.load(str(bogus))
    with pytest.raises(lepton_ir.SerializationError, match="no such IR file"):
        Module.load(str(tmp_path / "missing.lepton"))


def test_clone_is_independent(tiny_cnn):
    model, inputs = tiny_cnn
    ir = lepton_ir.trace(model, inputs)
    copy = ir.clone()
    copy.constant("conv.weight").mul_(0)
    first = next(n for n in copy.compute_nodes())
    first.name = "renamed"
    assert ir.constant("conv.weight").abs().sum() > 0
    assert "renamed" not in str(ir)


def test_add_constant_creates_a_unique_get_attr(tiny_cnn):
    model, inputs = tiny_cnn
    ir = lepton_ir.trace(model, inputs)
    anchor = next(ir.compute_nodes())
    a = ir.add_constant("conv.weight", torch.ones(2), before=anchor)
    b = ir.add_constant("conv.weight", torch.zeros(2), before=anchor)
    assert a.target != b.target
    assert torch.equal(ir.constant(a), torch.ones(2)) and torch.equal(ir.constant(b), torch.zeros(2))
