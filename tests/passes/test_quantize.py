"""quantize and calibrate: placement, parameters, options, and fidelity against the float model."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import lepton_ir
from lepton_ir.passes.analysis.range_selection import entropy_range, mse_range, percentile_range
from lepton_ir.passes.transforms.quantize import activation_qparams
from tests.passes.helpers import trace

FQ = "aten.fake_quantize_per_tensor_affine"
FQC = "aten.fake_quantize_per_channel_affine"


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = self.pool(torch.relu(self.conv1(x)))
        y = torch.relu(y + self.conv2(y))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


def _quantized(model, pipeline="quantize{calib=minmax}", batches=8):
    x = torch.randn(2, 3, 8, 8)
    ir = trace(model.eval(), x)
    calibration = [(torch.randn(2, 3, 8, 8),) for _ in range(batches)]
    result = lepton_ir.PassManager(pipeline, calibration=calibration).run(ir)
    return ir, result.module, result.report.passes[-1]


def _structure(module) -> list[tuple[str, list[str]]]:
    """(op, [input ops]) per compute node, constants shown as 'const': the placement without numbers."""
    def kind(n):
        return "const" if n.op == "get_attr" else ("input" if n.op == "placeholder" else str(n.target).split(".")[1])
    return [(kind(n), [kind(a) for a in n.all_input_nodes]) for n in module.compute_nodes()]


def test_placement_golden():
    _, q, row = _quantized(ConvNet())
    assert _structure(q) == [
        ("fake_quantize_per_tensor_affine", ["input"]),
        ("fake_quantize_per_channel_affine", ["const", "const", "const"]),
        ("conv2d", ["fake_quantize_per_tensor_affine", "fake_quantize_per_channel_affine", "const"]),
        ("relu", ["conv2d"]),
        ("fake_quantize_per_tensor_affine", ["relu"]),
        ("max_pool2d", ["fake_quantize_per_tensor_affine"]),
        ("fake_quantize_per_tensor_affine", ["max_pool2d"]),
        ("fake_quantize_per_channel_affine", ["const", "const", "const"]),
        ("conv2d", ["fake_quantize_per_tensor_affine", "fake_quantize_per_channel_affine", "const"]),
        ("fake_quantize_per_tensor_affine", ["conv2d"]),
        ("add", ["fake_quantize_per_tensor_affine", "fake_quantize_per_tensor_affine"]),
        ("relu", ["add"]),
        ("fake_quantize_per_tensor_affine", ["relu"]),
        ("adaptive_avg_pool2d", ["fake_quantize_per_tensor_affine"]),
        ("fake_quantize_per_tensor_affine", ["adaptive_avg_pool2d"]),
        ("flatten", ["fake_quantize_per_tensor_affine"]),
        ("fake_quantize_per_tensor_affine", ["flatten"]),
        ("fake_quantize_per_channel_affine", ["const", "const", "const"]),
        ("linear", ["fake_quantize_per_tensor_affine", "fake_quantize_per_channel_affine", "const"]),
    ]
    assert row.stats["quantized_conv"] == 2 and row.stats["quantized_add"] == 1 and row.stats["weight_quantizers"] == 3


def test_maxpool_and_reshape_keep_their_input_parameters():
    _, q, _ = _quantized(ConvNet())
    nodes = list(q.compute_nodes())
    pool = next(n for n in nodes if "max_pool2d" in str(n.target))
    after = next(iter(pool.users))
    assert after.args[1:] == pool.args[0].args[1:]  # same scale, zero point, range
    flatten = next(n for n in nodes if "flatten" in str(n.target))
    assert next(iter(flatten.users)).args[1:] == flatten.args[0].args[1:]


def test_parameters_follow_the_calibrated_range():
    scale, zero, qmin, qmax = activation_qparams(-1.0, 3.0, "uint8")
    assert (qmin, qmax) == (0, 255) and scale == pytest.approx(4.0 / 255) and zero == 64
    scale, zero, qmin, qmax = activation_qparams(0.5, 2.0, "int8")
    assert (qmin, qmax) == (-128, 127) and zero == -128 and scale == pytest.approx(2.0 / 255)  # range includes 0


def test_fidelity_and_weights_per_channel():
    ir, q, _ = _quantized(ConvNet(), "quantize{calib=mse}")
    x = torch.randn(2, 3, 8, 8)
    a, b = ir(x)[0].flatten().double(), q(x)[0].flatten().double()
    assert float(a @ b / (a.norm() * b.norm())) > 0.995
    weights = [n for n in q.compute_nodes() if str(n.target).startswith("aten.fake_quantize_per_channel")]
    conv1 = ir.constant("conv1.weight")
    scale = q.constant(weights[0].args[1])
    torch.testing.assert_close(scale, conv1.abs().reshape(8, -1).amax(1) / 127)


def test_options_ignore_int8_and_per_tensor():
    _, q, row = _quantized(ConvNet(), "quantize{ignore=[fc],activations=int8,per_channel=false}")
    linear = next(n for n in q.compute_nodes() if "linear" in str(n.target))
    assert not any("fake_quantize_per_channel" in str(a.target) for a in linear.all_input_nodes)
    assert row.stats["ignored"] == 1
    fq = next(n for n in q.compute_nodes() if str(n.target).startswith("aten.fake_quantize_per_tensor"))
    assert fq.args[3:5] == (-128, 127)
    w = next(n for n in q.compute_nodes() if str(n.target).startswith("aten.fake_quantize_per_channel"))
    assert q.constant(w.args[1]).unique().numel() == 1


class MaskAndSoftmax(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(8, 8)
        self.register_buffer("mask", torch.tensor([0.0, 0.0, -3.4e38, -3.4e38]))

    def forward(self, x):
        scores = self.q(x) @ x.transpose(1, 2) + self.mask  # [B, 4, 4] + additive mask
        return scores.softmax(-1) @ x + self.q(x)


def test_mask_add_and_softmax_stay_float():
    x = torch.randn(2, 4, 8)
    ir = trace(MaskAndSoftmax(), x)
    q = lepton_ir.PassManager("quantize").run(ir).module
    for node in q.compute_nodes():
        if "softmax" in str(node.target):
            assert "fake_quantize" not in str(node.args[0].target)
        if str(node.target) == "aten.add.Tensor" and any(a.op == "get_attr" for a in node.all_input_nodes):
            assert all("fake_quantize" not in str(a.target) for a in node.all_input_nodes)
    assert sum("fake_quantize_per_tensor" in str(n.target) for n in q.compute_nodes()) > 0


def test_no_quantizable_ops_is_a_no_op():
    ir = trace(nn.Sequential(nn.Sigmoid(), nn.Tanh()), torch.randn(2, 3))
    result = lepton_ir.PassManager("quantize").run(ir)
    assert not result.report.passes[-1].changed and str(result.module) == str(ir)


def test_unknown_op_kind_is_a_parse_error():
    with pytest.raises(lepton_ir.PipelineSyntaxError, match="unknown op kinds \\['softmax'\\]"):
        lepton_ir.parse_pipeline("quantize{ops=[conv,softmax]}")


def test_range_selection_methods():
    from lepton_ir.passes.analysis.range_selection import _expected_error

    values = torch.cat([torch.randn(100_000), torch.tensor([60.0])])
    lo, hi = float(values.min()), float(values.max())
    hist = torch.histc(values.double(), 2048, lo, hi)
    for a, b in (percentile_range(hist, lo, hi, 99.99), entropy_range(hist, lo, hi)):
        assert lo <= a < 0 < 2.5 < b < 30  # the lone outlier at 60 is clipped, the bulk kept
    edges = torch.linspace(lo, hi, 2049, dtype=torch.float64)
    centers = (edges[:-1] + edges[1:]) / 2
    m_lo, m_hi = mse_range(hist, lo, hi)
    assert _expected_error(hist, centers, m_lo, m_hi, 256) <= _expected_error(hist, centers, lo, hi, 256)
    heavy = torch.cat([torch.randn(100_000), torch.full((2_000,), 40.0)])
    h = torch.histc(heavy.double(), 2048, float(heavy.min()), 40.0)
    assert mse_range(h, float(heavy.min()), 40.0)[1] == pytest.approx(40.0, rel=0.05)  # a real mode is kept


def test_calibration_reports_its_source():
    ir = trace(ConvNet().eval(), torch.randn(2, 3, 8, 8))
    result = lepton_ir.PassManager("calibrate").run(ir)
    assert result.report.passes[0].stats["batches"] == 1
    am = lepton_ir.AnalysisManager(ir)
    assert "example inputs" in am.get("calibrate").source


def test_weight_only_int8_leaves_activations_float():
    _, q, row = _quantized(ConvNet(), "quantize{activations=none}")
    assert not any(str(n.target).startswith("aten.fake_quantize_per_tensor") for n in q.compute_nodes())
    assert row.stats["weight_quantizers"] == 3 and row.stats["calibration_batches"] == 0


def test_int4_weight_only_rounds_blocks_to_sixteen_levels(tmp_path):
    import onnx

    from lepton_ir.backends import get_backend
    from lepton_ir.backends.onnx_kernels import kernel_counts

    model = nn.Sequential(nn.Linear(64, 32), nn.GELU(), nn.Linear(32, 8)).eval()
    ir = trace(model, torch.randn(3, 5, 64))
    result = lepton_ir.PassManager("quantize{activations=none,weights=int4,block_size=16},dce").run(ir)
    q = result.module
    assert result.report.passes[0].stats["weight_quantizers"] == 2
    first = next(n for n in q.compute_nodes() if "linear" in str(n.target))
    w = q.constant(first.args[1])
    blocks = w.reshape(32, 4, 16)
    scale = blocks.abs().amax(-1, keepdim=True) / 7
    codes = blocks / scale
    torch.testing.assert_close(codes, codes.round(), atol=1e-4, rtol=0)  # on the int4 grid
    assert int(codes.round().min()) >= -8 and int(codes.round().max()) <= 7
    lowered = get_backend("onnx").lower(q, str(tmp_path / "m.onnx"))
    assert lowered.details["int4_weights"] == 2 and lowered.verification.passed
    saved = onnx.load(str(tmp_path / "m.onnx"))
    assert sum(i.data_type == onnx.TensorProto.INT4 for i in saved.graph.initializer) == 2
    assert kernel_counts(str(tmp_path / "m.onnx"))["integer"].get("MatMulNBits", 0) == 2


def test_int4_needs_weight_only_and_a_power_of_two_block():
    with pytest.raises(lepton_ir.PipelineSyntaxError, match="weights=int4 is weight-only: add activations=none"):
        lepton_ir.parse_pipeline("quantize{weights=int4}")
    with pytest.raises(lepton_ir.PipelineSyntaxError, match="block_size must be a power of two"):
        lepton_ir.parse_pipeline("quantize{activations=none,weights=int4,block_size=24}")
