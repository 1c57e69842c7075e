"""Decisions from sensitivity: prune-channels{allocate=sensitivity} and quantize{precision=auto}."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import lepton_ir
from lepton_ir.errors import PassError, PipelineSyntaxError
from lepton_ir.passes.analysis.sensitivity_metrics import total_divergence
from tests.passes.helpers import trace
from tests.passes.test_sensitivity import TwoBranch, _data


def _divergence(candidate, reference, batches, kind="kl"):
    return sum(float(total_divergence([kind], candidate(*b), reference(*b))) for b in batches) / len(batches)


def test_allocation_meets_the_budget_prunes_the_insensitive_group_and_beats_uniform():
    ir = trace(TwoBranch(), torch.randn(2, 3, 6, 6))
    batches = _data()
    run = lepton_ir.PassManager("prune-channels{target_macs=0.65,allocate=sensitivity}", calibration=batches).run(ir)
    row = run.report.passes[-1]
    assert row.stats["macs_kept"] <= 0.65 * 1.005
    chosen = {g["group"]: g for g in run.report.extra["prune_allocation"][0]["groups"]}
    assert chosen["conv2d_1"]["ratio"] >= 0.5 > chosen["conv2d"]["ratio"]  # branch b (conv2d_1) barely matters
    uniform = lepton_ir.PassManager("prune-channels{ratio=0.375}").run(ir)
    assert uniform.report.after.macs <= run.report.before.macs * 0.66
    assert _divergence(run.module, ir, batches) < 0.5 * _divergence(uniform.module, ir, batches)
    # the predicted sensitivity is the sum of the chosen points on the measured curves; the measured
    # one is the whole pruned model's divergence on the same batches
    assert row.stats["predicted_sensitivity"] == pytest.approx(sum(g["sensitivity"] for g in chosen.values()))
    assert row.stats["measured_sensitivity"] == pytest.approx(_divergence(run.module, ir, batches), rel=1e-6)


def test_allocation_says_when_the_budget_is_out_of_reach_and_needs_a_budget():
    ir = trace(TwoBranch(), torch.randn(2, 3, 6, 6))
    with pytest.raises(PassError, match=r"cannot reach macs 0\.100x.*ratios=\[\.\.\.,0\.9\]"):
        lepton_ir.PassManager("prune-channels{target_macs=0.1,allocate=sensitivity}").run(ir)
    best = lepton_ir.PassManager("prune-channels{target_macs=0.1,allocate=sensitivity,best_effort=true}").run(ir)
    assert 0.1 < best.report.passes[-1].stats["macs_kept"] < 0.5
    assert best.report.extra["prune_allocation"][0]["reached"] is False
    assert any("cannot reach macs 0.100x" in w for w in best.report.extra["warnings"])
    with pytest.raises(PipelineSyntaxError, match="needs a budget"):
        lepton_ir.PassManager("prune-channels{allocate=sensitivity}")
    with pytest.raises(PipelineSyntaxError, match="iterative_steps must be 1"):
        lepton_ir.PassManager("prune-channels{target_macs=0.5,allocate=sensitivity,iterative_steps=2}")


class Outlier(nn.Module):
    """fc1 writes one channel 1000x larger than the rest: quantizing fc2's input to uint8 erases the rest."""

    def __init__(self):
        super().__init__()
        self.fc0 = nn.Linear(16, 16)
        self.fc1 = nn.Linear(16, 16)
        self.fc2 = nn.Linear(16, 10)
        with torch.no_grad():
            self.fc1.weight[0] *= 1000
            self.fc2.weight[:, 0] /= 1000

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(torch.relu(self.fc0(x)))))


def test_precision_auto_keeps_the_destructive_op_float_and_meets_max_drop():
    torch.manual_seed(0)
    ir = trace(Outlier(), torch.randn(4, 16))
    g = torch.Generator().manual_seed(3)
    batches = [(torch.randn(16, 16, generator=g),) for _ in range(4)]
    fixed = lepton_ir.PassManager("quantize", calibration=batches).run(ir)
    auto = lepton_ir.PassManager("quantize{precision=auto,max_drop=0.001}", calibration=batches).run(ir)
    assert _divergence(fixed.module, ir, batches) > 0.001
    choice = auto.report.extra["quantize_auto"][0]
    assert choice["float"] == ["linear_2"] and set(choice["int8"]) == {"linear", "linear_1"}
    assert choice["divergence"] <= 0.001
    assert _divergence(auto.module, ir, batches) == pytest.approx(choice["divergence"], rel=1e-6)
    stats = auto.report.passes[-1].stats
    assert stats["quantized_linear"] == 2 and stats["kept_float"] == 1 and stats["auto_kept_float"] == 1
    # the most sensitive op in the sweep is the one kept float
    sweep = {e["name"]: e["values"]["int8"] for e in auto.report.extra["sensitivity"][0]["entries"]}
    assert max(sweep, key=sweep.get) == "linear_2"


class Blocks(nn.Module):
    """Three linears; fc1 has one large weight in every block of 32 (reading an input that is always 0,
    so the float model does not see it), and int4 blocks scaled to it lose the rest."""

    def __init__(self):
        super().__init__()
        self.fc0, self.fc1, self.fc2 = nn.Linear(64, 64), nn.Linear(64, 64), nn.Linear(64, 64)
        with torch.no_grad():
            self.fc0.weight[::32] = 0.0
            self.fc0.bias[::32] = 0.0
            self.fc1.weight[:, ::32] = 3.0

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(torch.relu(self.fc0(x)))))


def test_precision_auto_picks_int8_or_int4_per_layer_and_lowers_to_onnx(tmp_path):
    ir = trace(Blocks(), torch.randn(2, 4, 64))
    batches = [(torch.randn(2, 8, 64),) for _ in range(4)]
    pipeline = "quantize{activations=none,weights=int4,precision=auto,max_drop=0.02,metric=mse}"
    result = lepton_ir.compile(ir, pipeline=pipeline, output=str(tmp_path / "m.onnx"), calibration=batches)
    choice = result.report.extra["quantize_auto"][0]
    assert choice["int8"] == ["linear_1"] and set(choice["int4"]) == {"linear", "linear_2"} and not choice["float"]
    assert choice["divergence"] <= 0.02
    all_int4 = lepton_ir.PassManager("quantize{activations=none,weights=int4}").run(ir).module
    assert _divergence(all_int4, ir, batches, "mse") > 0.02
    assert result.report.verification.passed and result.artifact.details["int4_weights"] == 2
    from lepton_ir.backends.onnx_kernels import kernel_counts

    # ONNX Runtime runs both int4 and int8 weight-only matmuls as MatMulNBits (bits 4 and 8)
    assert kernel_counts(str(tmp_path / "m.onnx"))["integer"].get("MatMulNBits") == 3


def test_allocation_keeps_round_to_multiples():
    ir = trace(TwoBranch(), torch.randn(2, 3, 6, 6))
    run = lepton_ir.PassManager("prune-channels{target_macs=0.6,allocate=sensitivity,round_to=4}",
                                calibration=_data()).run(ir)
    groups = run.report.extra["prune_allocation"][0]["groups"]
    assert all((g["units"] - g["removed"]) % 4 == 0 for g in groups) and any(g["removed"] for g in groups)
    convs = [n for n in run.module.compute_nodes() if "conv2d" in str(n.target)]
    assert all(run.module.constant(n.args[1]).shape[0] % 4 == 0 for n in convs)
    assert run.report.passes[-1].stats["macs_kept"] <= 0.6 * 1.005


def test_int4_auto_gives_layers_int4_cannot_take_int8():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))
    ir = trace(model, torch.randn(2, 3, 6, 6))
    run = lepton_ir.PassManager("quantize{activations=none,weights=int4,precision=auto,max_drop=1.0}",
                                calibration=_data()).run(ir)
    choice = run.report.extra["quantize_auto"][0]
    assert choice["int8"] == ["conv2d"] and choice["int4"] == ["linear", "linear_1"]
    assert run.report.passes[-1].stats["weights_int4"] == 2 and run.report.passes[-1].stats["weights_int8"] == 1
