"""lepton_ir.compile: the one-call Python API, and the promise not to touch the user's model."""
from __future__ import annotations

import copy
import os

import torch

import lepton_ir
from tests.models import TinyCNN


def test_compile_leaves_the_users_model_bit_identical(tmp_path):
    model = TinyCNN().train()
    hook_calls = []
    model.fc.register_forward_pre_hook(lambda *a: hook_calls.append(1))
    state = copy.deepcopy(model.state_dict())
    flags = [m.training for m in model.modules()]
    x = torch.randn(2, 3, 8, 8)
    result = lepton_ir.compile(model, (x,), pipeline="-O1", target="onnx", output=str(tmp_path / "m.onnx"))
    assert result.report.verification.passed
    assert [m.training for m in model.modules()] == flags
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert len(model.fc._forward_pre_hooks) == 1
    assert result.report.output == str(tmp_path / "m.onnx") and os.path.exists(result.report.output)


def test_compile_without_target_returns_ir_and_report():
    model = TinyCNN().eval()
    result = lepton_ir.compile(model, (torch.randn(2, 3, 8, 8),), target=None)
    assert result.artifact is None and result.report.target is None
    assert result.report.after.nodes < result.report.before.nodes
    x = torch.randn(4, 3, 8, 8)
    torch.testing.assert_close(result.module(x)[0], model(x))


def test_compile_accepts_kwargs_and_an_exported_program(tmp_path):
    model = TinyCNN().eval()
    program = torch.export.export(model, (torch.randn(2, 3, 8, 8),))
    result = lepton_ir.compile(program, pipeline="-O0", target="torchscript", output=str(tmp_path / "m.pt"))
    assert result.report.verification.passed and result.report.passes == []
