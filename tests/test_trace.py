"""Tracing: the IR's shape and metadata, the user's model untouched, clear errors on bad input."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import lepton_ir
from lepton_ir.metadata import module_path, source_line
from tests.models import DataDependent, TinyCNN, TwoOutputs


def test_trace_keeps_aten_graph_with_constants_and_metadata(tiny_cnn):
    model, inputs = tiny_cnn
    ir = lepton_ir.trace(model, inputs)
    ops = [n.target for n in ir.compute_nodes()]
    assert torch.ops.aten.conv2d.default in ops and torch.ops.aten.batch_norm.default in ops
    weights = [n for n in ir.graph.nodes if n.op == "get_attr"]
    assert {"conv.weight", "bn.running_mean", "fc.bias"} <= {n.target for n in weights}
    conv = next(n for n in ir.compute_nodes() if n.target == torch.ops.aten.conv2d.default)
    assert module_path(conv) == "conv"
    assert tuple(conv.meta["val"].shape) == (2, 8, 8, 8)
    add = next(n for n in ir.compute_nodes() if n.target == torch.ops.aten.add.Tensor)
    assert "tests/models.py" in source_line(add) and "y + self.conv2(y)" in source_line(add)
    torch.testing.assert_close(ir.run_examples()[0], model(*inputs), rtol=0, atol=0)


def test_trace_never_mutates_the_users_model():
    model = TinyCNN().train()
    calls = []
    handle = model.conv.register_forward_hook(lambda *a: calls.append(1))
    before = copy.deepcopy(model.state_dict())
    ir = lepton_ir.trace(model, (torch.randn(2, 3, 8, 8),))
    assert model.training and all(m.training for m in model.modules())
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert len(model.conv._forward_hooks) == 1
    handle.remove()
    assert not ir.graph_module.training


def test_reference_outputs_come_from_eval_mode():
    model = TinyCNN().train()
    x = torch.randn(2, 3, 8, 8)
    ir = lepton_ir.trace(model, (x,))
    expected = copy.deepcopy(model).eval()(x)
    torch.testing.assert_close(ir.reference_outputs[0], expected)


def test_multiple_outputs_are_flattened():
    ir = lepton_ir.trace(TwoOutputs().eval(), (torch.randn(3, 4),))
    outs = ir.run_examples()
    assert [tuple(o.shape) for o in outs] == [(3, 3), (3, 2)]
    assert ir.output_names == ("output_0", "output_1")


def test_output_names_follow_dict_keys_and_fall_back_to_positions():
    class Named(torch.nn.Module):
        def forward(self, x):
            return x + 1, {"logits": x * 2, "pooled.out": x - 1}

    ir = lepton_ir.trace(Named().eval(), (torch.randn(2, 3),))
    assert ir.output_names == ("output_0", "logits", "pooled_out")


def test_dynamic_batch_runs_other_batch_sizes(tiny_cnn):
    model, inputs = tiny_cnn
    ir = lepton_ir.trace(model, inputs, dynamic_batch=True)
    assert ir.dynamic_batch
    x = torch.randn(5, 3, 8, 8)
    torch.testing.assert_close(ir(x)[0], model(x))


def test_dynamic_batch_rejects_batch_of_one(tiny_cnn):
    model, _ = tiny_cnn
    with pytest.raises(lepton_ir.InputError, match="batch size >= 2"):
        lepton_ir.trace(model, (torch.randn(1, 3, 8, 8),), dynamic_batch=True)


def test_untraceable_model_names_the_line_and_a_fix():
    with pytest.raises(lepton_ir.TraceError) as info:
        lepton_ir.trace(DataDependent(), (torch.randn(2, 4),))
    text = str(info.value)
    assert "torch.export could not trace DataDependent" in text
    assert "tests/models.py" in text and "if x.sum() > 0" in text
    assert "torch.where or torch.cond" in text


def test_wrong_input_shape_is_an_input_error(tiny_cnn):
    model, _ = tiny_cnn
    with pytest.raises(lepton_ir.InputError) as info:
        lepton_ir.trace(model, (torch.randn(2, 1, 8, 8),))
    text = str(info.value)
    assert "float32[2, 1, 8, 8]" in text and "expected input" in text
    assert "tests/models.py" in text and "--input-shape" in text


def test_non_module_and_bad_inputs_are_rejected():
    with pytest.raises(lepton_ir.InputError, match="nn.Module"):
        lepton_ir.trace(lambda x: x, (torch.randn(1),))
    with pytest.raises(lepton_ir.InputError, match="tuple of tensors"):
        lepton_ir.trace(nn.Linear(2, 2), {"x": torch.randn(1, 2)})


def test_from_exported_program_uses_its_example_inputs(tmp_path, tiny_cnn):
    model, inputs = tiny_cnn
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, inputs), str(path))
    ir = lepton_ir.from_exported_program(torch.export.load(str(path)), name="m")
    torch.testing.assert_close(ir.run_examples()[0], model(*inputs))


class MutatesInput(nn.Module):
    def forward(self, x):
        y = x * 2
        x.relu_()  # writes into the caller's tensor
        return y + x


def test_a_model_that_mutates_its_input_leaves_the_callers_tensor_alone():
    x = torch.randn(2, 3)
    before = x.clone()
    ir = lepton_ir.trace(MutatesInput(), (x,))
    assert torch.equal(x, before) and torch.equal(ir.example_inputs[0], before)
    first, second = ir.run_examples(), ir.run_examples()
    assert torch.equal(first[0], second[0]) and torch.equal(ir.example_inputs[0], before)
    torch.testing.assert_close(first[0], MutatesInput()(before.clone()))
