"""Pruning acceptance that needs no timing (latency vs Torch-Pruning: benchmarks/bench_prune.py)."""
from __future__ import annotations

import pytest
import torch

import lepton_ir
from lepton_ir.backends.onnx import run_session, session
from lepton_ir.tools import demo, zoo
from lepton_ir.tools.finetune import finetune


def test_resnet_style_at_half_ratio_quarter_macs(tmp_path):
    model, inputs = zoo.resnet18(resolution=64)  # ResNet-18 channels; a smaller image keeps the test fast
    result = lepton_ir.compile(model, inputs, pipeline="-O1,prune-channels{ratio=0.5}", output=str(tmp_path / "p.onnx"))
    before = lepton_ir.compile(model, inputs, pipeline="-O1", target=None).report.after.macs
    assert result.report.after.macs <= 0.28 * before
    assert result.report.verification.passed  # the ONNX artifact matches the pruned IR


@pytest.mark.parametrize("name", ["hf-mobilenet-v2", "hf-convnext"])
def test_hf_cnns_prune_at_0_3(name, tmp_path):
    model, inputs = {"hf-mobilenet-v2": zoo.hf_mobilenet_v2, "hf-convnext": zoo.hf_convnext}[name]()
    result = lepton_ir.compile(model, inputs, pipeline="-O1,prune-channels{ratio=0.3}", output=str(tmp_path / "p.onnx"))
    assert result.report.after.macs <= 0.75 * result.report.before.macs
    out = run_session(session(str(tmp_path / "p.onnx")), result.module)
    assert out[0].shape == result.module.reference_outputs[0].shape[:1] + out[0].shape[1:]


def test_demo_half_macs_then_int8_within_two_points(tmp_path):
    torch.set_num_threads(1)
    data = demo.load_data()
    ir = lepton_ir.trace(demo.load_model(), demo.example_inputs())
    folded = lepton_ir.PassManager("-O1").run(ir)
    pruned = lepton_ir.PassManager("-O1,prune-channels{ratio=0.3}").run(ir)
    assert pruned.report.after.macs <= 0.5 * folded.report.after.macs
    tuned = finetune(pruned.module, data.x_train, data.y_train, epochs=20, lr=3e-3)
    calibration = [(data.x_train[i:i + 1],) for i in range(256)]
    lepton_ir.compile(tuned, pipeline="quantize,dce", output=str(tmp_path / "q.onnx"), calibration=calibration)
    sess = session(str(tmp_path / "q.onnx"))
    name = sess.get_inputs()[0].name
    int8 = demo.accuracy(lambda x: torch.from_numpy(sess.run(None, {name: x.numpy()})[0]), data.x_test, data.y_test)
    original = demo.accuracy(demo.load_model(), data.x_test, data.y_test, batch=64)
    assert original - int8 <= 2.0


@pytest.mark.parametrize("name", ["hf-bert", "hf-vit"])
def test_transformers_prune_heads_and_ffn_at_0_3(name, tmp_path):
    if name == "hf-bert":
        model, args, kwargs = zoo.bert_small()
    else:
        (model, args), kwargs = zoo.hf_vit(), None
    result = lepton_ir.compile(model, args, example_kwargs=kwargs, pipeline="-O1,prune-channels{ratio=0.3}",
                               output=str(tmp_path / "p.onnx"))
    assert result.report.after.macs <= 0.75 * result.report.before.macs
    assert result.report.verification.passed
    views = [n for n in result.module.compute_nodes() if "scaled_dot_product_attention" in str(n.target)]
    heads = {tuple(n.meta["val"].shape)[1] for n in views}
    assert heads == ({3} if name == "hf-bert" else {4})  # 4 -> 3 and 6 -> 4 heads per layer
    result.module.save(str(tmp_path / "p.lepton"))
    reloaded = lepton_ir.Module.load(str(tmp_path / "p.lepton"))
    torch.testing.assert_close(reloaded.run_examples()[0], result.module.run_examples()[0])
