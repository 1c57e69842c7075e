"""Sensitivity acceptance (what can be checked without timing): allocated pruning beats uniform on
the demo at 0.4x MACs; precision=auto finds the ops that destroy a BERT's fidelity by itself.
Latency and sweep time are measured in benchmarks/bench_sensitivity_bert.py and
benchmarks/bench_sensitivity_sweep.py; benchmarks/bench_sensitivity_prune.py prints the demo table."""
from __future__ import annotations

import torch

import lepton_ir
from lepton_ir.backends.onnx import run_session, session
from lepton_ir.backends.onnx_kernels import kernel_counts
from lepton_ir.tools import demo, zoo


def test_demo_sensitivity_allocation_beats_uniform_ratio_at_0_4x_macs():
    data = demo.load_data()
    ir = lepton_ir.PassManager("-O1").run(lepton_ir.trace(demo.load_model(), (data.x_test[:8],))).module
    calibration = [(data.x_train[i:i + 64],) for i in range(0, 512, 64)]

    def accuracy(module):
        return float((module(data.x_test)[0].argmax(1) == data.y_test).float().mean() * 100)

    allocated = lepton_ir.PassManager("prune-channels{target_macs=0.4,allocate=sensitivity}",
                                      calibration=calibration).run(ir)
    assert allocated.report.after.macs <= 0.4 * 1.005 * allocated.report.before.macs
    # uniform: the smallest single ratio that reaches the same budget
    for ratio in [i / 100 for i in range(5, 91)]:
        uniform = lepton_ir.PassManager(f"prune-channels{{ratio={ratio}}}").run(ir)
        if uniform.report.after.macs <= 0.4 * 1.005 * uniform.report.before.macs:
            break
    assert accuracy(allocated.module) > accuracy(uniform.module) + 3.0  # measured: 26.00% vs 19.11%


def _with_outlier_dimensions(model):
    """Trained BERTs have a few hidden dimensions with LayerNorm gains tens of times the rest
    (Kovaleva et al. 2021); random weights do not, so two are implanted in every layer (at gain 40,
    as benchmarks/bench_sensitivity_bert.py uses on 6x384, this 2x64 model still keeps cosine 0.9994
    under plain int8: nothing to find)."""
    with torch.no_grad():
        for layer in model.encoder.layer:
            layer.output.LayerNorm.weight[[7, 50]] = 100.0
    return model


def _sentence_cosine(got, want, mask):
    m = mask.unsqueeze(-1).double()
    e1 = torch.nn.functional.normalize((got.double() * m).sum(1) / m.sum(1), dim=-1)
    e2 = torch.nn.functional.normalize((want.double() * m).sum(1) / m.sum(1), dim=-1)
    return float((e1 * e2).sum(-1).min())


def test_bert_precision_auto_finds_the_destructive_ops_and_keeps_fidelity(tmp_path):
    model, args, kwargs = zoo.bert_small(batch=4)
    model = _with_outlier_dimensions(model)
    generator = torch.Generator().manual_seed(5)

    def batch():
        ids = torch.randint(0, 512, (4, 16), generator=generator)
        mask = torch.ones(4, 16, dtype=torch.long)
        for i in range(1, 4):
            mask[i, int(torch.randint(4, 16, (1,), generator=generator)):] = 0
        return ids, mask

    calibration, held_out = [batch() for _ in range(8)], [batch() for _ in range(4)]
    ir = lepton_ir.trace(model, args, kwargs, name="bert")
    plain = lepton_ir.PassManager("-O2", calibration=calibration).run(ir).module
    auto = lepton_ir.compile(ir, pipeline="-O1,quantize{precision=auto},dce", output=str(tmp_path / "a.onnx"),
                             calibration=calibration)
    choice = auto.report.extra["quantize_auto"][0]
    sweep = {e["name"]: e["values"]["int8"] for e in auto.report.extra["sensitivity"][0]["entries"]}
    # it found ops to keep float, and they are the ones its own sweep ranks most sensitive
    assert choice["float"] and set(choice["float"]) == set(sorted(sweep, key=sweep.get)[-len(choice["float"]):])
    linears = [n for n in auto.module.compute_nodes() if "linear" in str(n.target)]
    quantized = [n for n in linears if "lepton.quant" in n.meta]
    assert len(quantized) >= 0.8 * len(linears)
    kernels = kernel_counts(str(tmp_path / "a.onnx"))
    assert sum(kernels["integer"].values()) >= len(quantized)
    sess = session(str(tmp_path / "a.onnx"))
    worst_auto = worst_plain = 1.0
    for ids, mask in held_out:
        with torch.no_grad():
            want = model(ids, attention_mask=mask).last_hidden_state
        worst_auto = min(worst_auto, _sentence_cosine(run_session(sess, auto.module, (ids, mask))[0], want, mask))
        worst_plain = min(worst_plain, _sentence_cosine(plain(ids, mask)[0], want, mask))
    assert worst_auto >= 0.99
    assert 1 - worst_auto < 0.5 * (1 - worst_plain)  # the ops it kept float were the ones costing fidelity


def test_o3_compiles_a_cnn_and_a_transformer_to_a_verified_artifact(tmp_path):
    for name, (model, args, *kwargs) in {"resnet": zoo.resnet_small(), "bert": zoo.bert_small()}.items():
        result = lepton_ir.compile(model, args, example_kwargs=kwargs[0] if kwargs else None, pipeline="-O3",
                                   output=str(tmp_path / f"{name}.onnx"))
        report = result.report
        assert report.verification.passed, name
        plan = report.extra["prune_allocation"][0]
        assert plan["reached"] and report.after.macs <= 0.7 * 1.005 * report.before.macs, name
        assert report.extra["quantize_auto"][0]["divergence"] <= 0.001, name
        assert sum(kernel_counts(str(tmp_path / f"{name}.onnx"))["integer"].values()) > 0, name
