"""Quantization acceptance (what can be checked without timing): integer kernels, fidelity, accuracy.
Latency is measured in benchmarks/bench_quantize.py and benchmarks/bench_quantize_bert.py."""
from __future__ import annotations

import json
import os
import re

import pytest
import torch

import lepton_ir
from lepton_ir.backends.onnx import run_session, session
from lepton_ir.backends.onnx_kernels import kernel_counts
from lepton_ir.tools import zoo
from tests.cli_helpers import lepton


def test_demo_o2_keeps_accuracy_and_runs_integer_kernels(tmp_path):
    r = lepton("compile", "-O2", "--calib", "demo", "--report", "r.json", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    original, compiled = map(float, re.search(r"original ([\d.]+)%, compiled \(onnx\) ([\d.]+)%", r.stdout).groups())
    assert abs(original - compiled) <= 0.5
    path = str(tmp_path / "lepton-out" / "digits_cnn.onnx")
    kernels = kernel_counts(path)
    assert kernels["integer"]["QLinearConv"] == 4 and kernels["integer"]["QLinearAdd"] == 1
    assert "Conv" not in kernels["float"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["artifact"]["integer_weights"] == 5  # weights stored as int8, not float + QuantizeLinear
    fp32 = lepton("compile", "-O1", "-o", "f.onnx", cwd=str(tmp_path))
    assert fp32.returncode == 0
    assert os.path.getsize(path) < 0.5 * os.path.getsize(tmp_path / "f.onnx")


@pytest.mark.parametrize("name", ["resnet-style", "hf-resnet"])
def test_cnn_o2_every_conv_is_an_integer_kernel(name, tmp_path):
    model, inputs = zoo.resnet_small() if name == "resnet-style" else zoo.hf_resnet()
    generator = torch.Generator().manual_seed(3)
    calibration = [(torch.randn(inputs[0].shape, generator=generator),) for _ in range(8)]
    result = lepton_ir.compile(model, inputs, pipeline="-O2", output=str(tmp_path / "q.onnx"), calibration=calibration)
    convs = sum("conv2d" in str(n.target) for n in result.module.compute_nodes())
    kernels = kernel_counts(str(tmp_path / "q.onnx"))
    assert kernels["integer"]["QLinearConv"] == convs and "Conv" not in kernels["float"]
    assert result.report.verification.passed
    x = torch.randn(inputs[0].shape, generator=generator)
    with torch.no_grad():
        expected = model(x)
    expected = (expected if isinstance(expected, torch.Tensor) else expected[0]).flatten().double()
    got = run_session(session(str(tmp_path / "q.onnx")), result.module, (x,))[0].flatten().double()
    assert float(got @ expected / (got.norm() * expected.norm())) > 0.99


def _sentence_embeddings(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).double()
    return torch.nn.functional.normalize((hidden.double() * m).sum(1) / m.sum(1), dim=-1)


def test_bert_o2_keeps_cosine_with_an_attention_mask(tmp_path):
    model, args, kwargs = zoo.bert_small()
    generator = torch.Generator().manual_seed(5)

    def batch():
        ids = torch.randint(0, 512, (2, 16), generator=generator)
        mask = torch.ones(2, 16, dtype=torch.long)
        mask[:, int(torch.randint(4, 16, (1,), generator=generator)):] = 0
        mask[0] = 1
        return ids, mask

    calibration = [batch() for _ in range(16)]
    result = lepton_ir.compile(model, args, example_kwargs=kwargs, pipeline="-O2", output=str(tmp_path / "b.onnx"),
                               calibration=calibration)
    kernels = kernel_counts(str(tmp_path / "b.onnx"))
    assert sum(kernels["integer"].values()) >= 12  # the 12 linear layers of the two encoder blocks
    sess = session(str(tmp_path / "b.onnx"))
    for _ in range(4):
        ids, mask = batch()
        got = run_session(sess, result.module, (ids, mask))[0]
        with torch.no_grad():
            want = model(ids, attention_mask=mask).last_hidden_state
        cosine = (_sentence_embeddings(got, mask) * _sentence_embeddings(want, mask)).sum(-1)
        assert float(cosine.min()) >= 0.99


def test_torchscript_and_onnx_agree_within_one_quantization_step(tmp_path):
    from lepton_ir.tools import demo

    model = demo.load_model()
    ir = lepton_ir.trace(model, demo.example_inputs())
    data = demo.load_data()
    calibration = [(data.x_train[i:i + 1],) for i in range(64)]
    q = lepton_ir.PassManager("-O2", calibration=calibration).run(ir).module
    lepton_ir.backends.get_backend("onnx").lower(q, str(tmp_path / "q.onnx"))
    lepton_ir.backends.get_backend("torchscript").lower(q, str(tmp_path / "q.pt"))
    ts, sess = torch.jit.load(str(tmp_path / "q.pt")), session(str(tmp_path / "q.onnx"))
    linear = next(n for n in q.compute_nodes() if "linear" in str(n.target))
    step = linear.args[0].args[1]  # scale of the last quantized activation (the classifier's input)
    weight = q.constant(linear.args[1].args[0])
    bound = step * float(weight.abs().sum(1).max())  # one step on every input of the last layer
    for i in range(0, 64, 8):
        x = data.x_test[i:i + 1]
        diff = (ts(x)[0] - run_session(sess, q, (x,))[0]).abs().max()
        assert float(diff) <= bound
