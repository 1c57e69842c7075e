"""Backends: ONNX (simplified, checked, verified in ONNX Runtime) and TorchScript (frozen, reloaded)."""
from __future__ import annotations

import os

import onnx
import pytest
import torch

import lepton_ir
from lepton_ir import LoweringError, PassManager
from lepton_ir.backends import get_backend
from lepton_ir.backends.onnx import run_session, session
from lepton_ir.backends.result import check_artifact


@pytest.fixture
def ir(tiny_cnn):
    model, inputs = tiny_cnn
    return PassManager("-O1").run(lepton_ir.trace(model, inputs)).module


def test_onnx_is_single_file_checked_and_verified(ir, tmp_path):
    path = str(tmp_path / "m.onnx")
    result = get_backend("onnx").lower(ir, path)
    assert os.listdir(tmp_path) == ["m.onnx"]  # weights inline: no stray .data file
    onnx.checker.check_model(onnx.load(path), full_check=True)
    v = result.verification
    assert v.passed and v.backend == "onnxruntime" and v.max_abs_error < 1e-5
    assert result.details["simplify"] == "ok"
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert "Conv" in ops and "Dropout" not in ops


def test_onnx_dynamic_batch_runs_other_batch_sizes(tiny_cnn, tmp_path):
    model, inputs = tiny_cnn
    ir = lepton_ir.trace(model, inputs, dynamic_batch=True)
    path = str(tmp_path / "d.onnx")
    get_backend("onnx").lower(ir, path)
    x = torch.randn(5, 3, 8, 8)
    out = run_session(session(path), ir, (x,))[0]
    torch.testing.assert_close(out, model(x), rtol=1e-4, atol=1e-5)


def test_torchscript_is_frozen_and_reloads(ir, tmp_path):
    path = str(tmp_path / "m.pt")
    result = get_backend("torchscript").lower(ir, path)
    assert result.verification.passed and result.verification.max_abs_error < 1e-5
    loaded = torch.jit.load(path)
    x = ir.example_inputs[0]
    torch.testing.assert_close(loaded(x)[0], ir(x)[0])
    assert not any(True for _ in loaded.parameters())  # frozen: weights are constants


def test_artifact_that_strays_from_the_ir_is_refused(ir):
    wrong = [o + 1.0 for o in ir.run_examples()]
    with pytest.raises(LoweringError, match="does not reproduce the IR: max abs error 1.000e\\+00"):
        check_artifact("onnxruntime", ir, wrong, 1e-4, "m.onnx")
    with pytest.raises(LoweringError, match="output 0 has shape"):
        check_artifact("onnxruntime", ir, [o[:1] for o in ir.run_examples()], 1e-4, "m.onnx")


def test_unknown_target():
    with pytest.raises(LoweringError, match="unknown target 'tflite'"):
        get_backend("tflite")


def test_quantized_dynamic_batch_onnx_is_refused_with_the_way_out(tiny_cnn, tmp_path):
    model, inputs = tiny_cnn
    ir = lepton_ir.trace(model, inputs, dynamic_batch=True)
    q = PassManager("-O2").run(ir).module
    with pytest.raises(LoweringError, match="without --dynamic-batch"):
        get_backend("onnx").lower(q, str(tmp_path / "q.onnx"))
    assert get_backend("torchscript").lower(q, str(tmp_path / "q.pt")).verification.passed
