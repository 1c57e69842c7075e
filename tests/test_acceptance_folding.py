"""Folding acceptance: after -O1 no BatchNorm remains, outputs match within 1e-5 relative, and the
ONNX artifact verifies in ONNX Runtime, on a ResNet-style CNN and three Hugging Face CNNs."""
from __future__ import annotations

import pytest
import torch

import lepton_ir
from lepton_ir.tools import zoo

MODELS = {
    "resnet-style": lambda: zoo.resnet_small(resolution=64),
    "hf-resnet": zoo.hf_resnet,
    "hf-mobilenet-v2": zoo.hf_mobilenet_v2,
    "hf-convnext": zoo.hf_convnext,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_o1_folds_every_batchnorm_exactly(name, tmp_path):
    model, inputs = MODELS[name]()
    result = lepton_ir.compile(model, inputs, pipeline="-O1", target="onnx", output=str(tmp_path / f"{name}.onnx"))
    ops = [str(n.target) for n in result.module.compute_nodes()]
    assert not any("batch_norm" in op for op in ops)
    rows = {r.name: r for r in result.report.passes if r.changed}
    if name != "hf-convnext":
        assert "fold-batchnorm" in rows
    else:
        assert rows["fold-affine"].stats["output_folds"] >= 5  # every LayerScale multiply
    x = torch.randn_like(inputs[0])
    with torch.no_grad():
        expected = model(x)
    expected = expected if isinstance(expected, torch.Tensor) else expected[0]
    got = result.module(x)[0]
    relative = float((got - expected).abs().max() / expected.abs().max())
    assert relative < 1e-5, relative
    v = result.report.verification
    assert v.passed and v.backend == "onnxruntime" and v.reference_max_abs_error < 1e-4
