"""distill: recovery after pruning, quantization-aware fine-tuning, binary STE, and what it must not touch."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import lepton_ir
from lepton_ir.pass_base import TrainData
from lepton_ir.tools import demo
from tests.passes.helpers import trace

TRAIN = "epochs=30,lr=0.005,batch_size=16"


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    return demo.load_data()


def _accuracy(module, data):
    return demo.accuracy(lambda x: module(x)[0], data.x_test, data.y_test, batch=64)


def test_soft_distillation_recovers_pruned_demo_within_one_point(digits):
    model = demo.load_model()
    state = copy.deepcopy(model.state_dict())
    ir = lepton_ir.trace(model, demo.example_inputs())
    before = str(ir)
    result = lepton_ir.PassManager(f"-O1,prune-channels{{target_macs=0.3}},distill{{{TRAIN},alpha=1.0}}",
                                   train_data=TrainData((digits.x_train,), digits.y_train)).run(ir)
    assert result.report.after.macs <= 0.31 * lepton_ir.PassManager("-O1").run(ir).report.after.macs
    assert _accuracy(ir, digits) - _accuracy(result.module, digits) <= 1.0
    row = result.report.passes[-1]
    assert row.name == "distill" and row.stats["loss_last"] < row.stats["loss_first"]
    assert str(ir) == before  # the teacher (the pipeline's input) is untouched
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())  # and so is the user's model


def test_quantization_aware_distillation_is_at_least_post_training(digits):
    ir = lepton_ir.trace(demo.load_model(), demo.example_inputs())
    calibration = [(digits.x_train[i:i + 1],) for i in range(256)]
    train = TrainData((digits.x_train,), digits.y_train)
    ptq = lepton_ir.PassManager("-O1,quantize", calibration=calibration).run(ir).module
    qat = lepton_ir.PassManager(f"-O1,quantize,distill{{{TRAIN},alpha=1.0}}", calibration=calibration,
                                train_data=train).run(ir).module
    assert _accuracy(qat, digits) >= _accuracy(ptq, digits)
    scales = [n for n in qat.compute_nodes() if "fake_quantize_per_channel" in str(n.target)]
    for node in scales:  # calibrated scales stay; only weights train
        assert torch.equal(qat.constant(node.args[1]), ptq.constant(ptq.node(node.name).args[1]))


def _small():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))


def test_binary_layers_stay_binary_and_runs_are_deterministic():
    ir = trace(_small(), torch.randn(4, 8))
    data = TrainData((torch.randn(256, 8),))
    runs = [lepton_ir.PassManager("binarize,distill{epochs=3,batch_size=32,lr=0.01}", train_data=data).run(ir)
            for _ in range(2)]
    for result in runs:
        middle = [n for n in result.module.compute_nodes() if "linear" in str(n.target)][1]
        weight = result.module.constant(middle.args[1])
        assert weight.abs().unique(dim=1).shape[1] == 1  # still one magnitude per output channel
    x = torch.randn(5, 8)
    torch.testing.assert_close(runs[0].module(x)[0], runs[1].module(x)[0], rtol=0, atol=0)


def test_feature_matching_and_its_errors():
    ir = trace(_small(), torch.randn(4, 8))
    data = TrainData((torch.randn(64, 8),))
    ok = lepton_ir.PassManager("distill{epochs=1,features=[relu],feature_weight=0.5}", train_data=data).run(ir)
    assert ok.report.passes[0].stats["steps"] == 2
    with pytest.raises(lepton_ir.PassError, match="feature 'nope' is missing"):
        lepton_ir.PassManager("distill{epochs=1,features=[nope]}", train_data=data).run(ir)


def test_without_data_nothing_changes_and_bad_options_are_refused():
    ir = trace(_small(), torch.randn(4, 8))
    result = lepton_ir.PassManager("distill").run(ir)
    assert not result.report.passes[0].changed and str(result.module) == str(ir)
    with pytest.raises(lepton_ir.PipelineSyntaxError, match="alpha must be in"):
        lepton_ir.parse_pipeline("distill{alpha=1.5}")


def test_early_stopping_on_held_out_accuracy():
    ir = trace(_small(), torch.randn(4, 8))
    x = torch.randn(400, 8)
    labels = (x[:, 0] > 0).long()
    result = lepton_ir.PassManager("distill{epochs=50,batch_size=32,lr=0.05,patience=2,alpha=0.0}",
                                   train_data=TrainData((x,), labels)).run(ir)
    stats = result.report.passes[0].stats
    assert 0.0 <= stats["val_accuracy"] <= 1.0
    assert stats.get("stopped_early") == 1 and stats["steps"] < 50 * 11
