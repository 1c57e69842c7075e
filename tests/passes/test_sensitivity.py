"""sensitivity: measured values equal an independent measurement, rankings follow the model's
structure, metrics, evaluators, proxies, caching and option errors."""
from __future__ import annotations

import json
import os

import pytest
import torch
from torch import nn

import lepton_ir
from lepton_ir.analysis_manager import AnalysisManager
from lepton_ir.errors import PipelineSyntaxError
from lepton_ir.pass_base import PassContext
from lepton_ir.metadata import SENSITIVITY
from lepton_ir.passes.analysis import sensitivity_cache
from lepton_ir.passes.analysis.sensitivity_metrics import (choose_metrics, divergence, register_evaluator,
                                                             total_divergence)
from tests.passes.helpers import trace


class TwoBranch(nn.Module):
    """Logits = head_a(branch a) + 0.001 x head_b(branch b): branch b barely matters."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 3, padding=1)
        self.head_a = nn.Linear(8, 5)
        self.head_b = nn.Linear(8, 5)

    def forward(self, x):
        pa = torch.relu(self.a(x)).mean((2, 3))
        pb = torch.relu(self.b(x)).mean((2, 3))
        return self.head_a(pa) + 0.001 * self.head_b(pb)


def _data(n=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(4, 3, 6, 6, generator=g),) for _ in range(n)]


def _sensitivity(model, pipeline="sensitivity", calibration=None, cache_dir=None):
    ir = trace(model, torch.randn(2, 3, 6, 6))
    calibration = calibration or _data()
    result = lepton_ir.PassManager(pipeline, calibration=calibration, cache_dir=cache_dir).run(ir)
    return ir, result, result.report.extra["sensitivity"][0]


def _mean_divergence(kinds, candidate, reference, batches):
    return sum(float(total_divergence(kinds, candidate(*b), reference(*b))) for b in batches) / len(batches)


def _by_name(result, kind):
    return {e["name"]: e for e in result["entries"] if e["kind"] == kind}


def test_the_analysis_annotates_each_layer_with_its_headline_value():
    ir = trace(TwoBranch(), torch.randn(2, 3, 6, 6))
    result = AnalysisManager(ir, PassContext(calibration=_data())).get("sensitivity")
    marks = {n.name: n.meta[SENSITIVITY] for n in ir.graph.nodes if SENSITIVITY in n.meta}
    conv = result.for_op("conv2d").values["int8"]
    assert marks["conv2d"] == max(conv, result.for_group(["conv2d"]).values["0.5"])
    assert marks["linear"] == result.for_op("linear").values["int8"]


def test_sweep_values_equal_an_independent_prune_and_quantize_of_that_layer_alone():
    ir, _, result = _sensitivity(TwoBranch())
    batches = _data()
    assert result["output_metrics"] == ["kl"] and result["method"] == "sweep"
    prune = _by_name(result, "prune")
    assert set(prune) == {"conv2d", "conv2d_1"} and all(set(e["values"]) == {"0.25", "0.5", "0.75"} for e in prune.values())
    # pruning only branch a by half with prune-channels, the other group ignored
    pruned = lepton_ir.PassManager("prune-channels{ratio=0.5,ignore=[b]}").run(ir).module
    assert prune["conv2d"]["values"]["0.5"] == pytest.approx(_mean_divergence(["kl"], pruned, ir, batches), rel=1e-6)
    # quantizing only head_a with the quantize pass (everything else ignored)
    quant = _by_name(result, "quantize")
    others = [n for n in quant if n != "linear"]
    single = lepton_ir.PassManager(f"quantize{{ignore=[{','.join(others)}]}}", calibration=batches).run(ir).module
    assert quant["linear"]["values"]["int8"] == pytest.approx(_mean_divergence(["kl"], single, ir, batches), rel=1e-6)
    assert quant["linear"]["values"]["int8"] > 0


def test_the_branch_that_matters_is_the_sensitive_one_at_every_ratio():
    _, run, result = _sensitivity(TwoBranch())
    prune = _by_name(result, "prune")
    for ratio in ("0.25", "0.5", "0.75"):
        assert prune["conv2d"]["values"][ratio] > 100 * prune["conv2d_1"]["values"][ratio]
    values = prune["conv2d"]["values"]
    assert values["0.25"] < values["0.75"]
    row = run.report.passes[0]
    assert row.name == "sensitivity" and row.stats["groups"] == 2 and row.stats["trials"] == result["trials"]


@pytest.mark.parametrize("method", ["fisher", "hessian", "taylor"])
def test_gradient_proxies_rank_the_branches_like_the_sweep(method):
    _, _, result = _sensitivity(TwoBranch(), f"sensitivity{{method={method},quantize=false}}")
    prune = _by_name(result, "prune")
    assert result["method"] == method and method in result["note"]
    assert prune["conv2d"]["values"]["0.5"] > 10 * prune["conv2d_1"]["values"]["0.5"] >= 0


def test_magnitude_proxy_is_the_share_of_weight_energy_changed():
    ir, _, result = _sensitivity(TwoBranch(), "sensitivity{method=magnitude,precisions=[int8,binary]}")
    quant = _by_name(result, "quantize")
    w = ir.constant(ir.node("linear").args[1])
    binary = w.abs().mean(1, keepdim=True) * w.sign()
    expected = float(((binary - w) ** 2).sum() / (w ** 2).sum())
    assert quant["linear"]["values"]["binary"] == pytest.approx(expected, rel=1e-5)
    assert 0 < quant["linear"]["values"]["int8"] < quant["linear"]["values"]["binary"]
    assert "add" not in quant or not quant["add"]["values"]  # ops without weights: proxies cannot see them
    assert all(0 < v < 1 for e in _by_name(result, "prune").values() for v in e["values"].values())


def test_metrics_auto_choice_and_values():
    logits, hidden = torch.randn(4, 10), torch.randn(2, 5, 8)
    assert choose_metrics("auto", [logits, hidden, torch.randn(4)], ["output_0", "output_1", "output_2"]) == \
        ["kl", "cosine", "mse"]
    assert choose_metrics("auto", [logits], ["pooler_output"]) == ["cosine"]
    assert choose_metrics("mse", [logits], ["x"]) == ["mse"]
    for kind in ("kl", "cosine", "mse"):
        assert float(divergence(kind, logits, logits)) == pytest.approx(0.0, abs=1e-12)
    p = torch.tensor([[0.0, 0.0]])
    q = torch.tensor([[0.0, 1.0]])
    # KL(softmax p || softmax q) = sum p_i log(p_i / q_i) with p = [1/2, 1/2], q = softmax([0, 1])
    sq = torch.softmax(q.double(), -1)[0]
    assert float(divergence("kl", q, p)) == pytest.approx(float(0.5 * torch.log(0.5 / sq).sum()), rel=1e-9)
    assert float(divergence("cosine", -hidden, hidden)) == pytest.approx(2.0)


def test_a_registered_evaluator_gives_the_score_lost():
    data = _data(2)
    calls = []

    @register_evaluator("test-top1-agreement")
    def agreement(run):
        calls.append(1)
        reference = TwoBranch_reference(data)
        return float(sum((run(*b)[0].argmax(1) == r).float().mean() for b, r in zip(data, reference)) / len(data))

    model = TwoBranch().eval()
    TwoBranch_reference.model = model
    _, _, result = _sensitivity(model, "sensitivity{metric=test-top1-agreement,quantize=false}", calibration=data)
    assert result["baseline"] == pytest.approx(1.0) and calls
    assert "score lost" in result["note"] and result["output_metrics"] == []
    values = _by_name(result, "prune")["conv2d"]["values"]
    assert all(0.0 <= v <= 1.0 for v in values.values()) and values["0.75"] > 0


def TwoBranch_reference(data):  # noqa: N802 - a tiny helper the evaluator closes over
    with torch.no_grad():
        return [TwoBranch_reference.model(*b).argmax(1) for b in data]


def test_evaluators_need_the_sweep_and_options_are_checked():
    register_evaluator("test-dummy-score")(lambda run: 1.0)
    ir = trace(TwoBranch(), torch.randn(2, 3, 6, 6))
    for bad, words in [("sensitivity{metric=test-dummy-score,method=fisher}", "needs method=sweep"),
                       ("sensitivity{metric=accuracy-typo}", "unknown metric"),
                       ("sensitivity{ratios=[0.5,1.0]}", "ratios must be in (0, 1)"),
                       ("sensitivity{precisions=[int2]}", "unknown precisions"),
                       ("sensitivity{prune=false,quantize=false}", "nothing to measure")]:
        with pytest.raises(PipelineSyntaxError, match=words.replace("(", r"\(").replace(")", r"\)")):
            lepton_ir.PassManager(bad).run(ir)


def test_results_are_saved_and_reused_across_runs_and_invalidated_by_new_weights(tmp_path):
    model = TwoBranch()
    cache = str(tmp_path / "cache")
    sensitivity_cache._MEMORY.clear()  # an earlier test in this process may have measured the same model
    _, first, r1 = _sensitivity(model, cache_dir=cache)
    files = os.listdir(cache)
    assert len(files) == 1 and files[0].startswith("m.sensitivity-") and first.report.passes[0].stats["reused"] == 0
    _, second, r2 = _sensitivity(model, cache_dir=cache)
    assert second.report.passes[0].stats["reused"] == 1 and r2["cached"] == os.path.join(cache, files[0])
    assert [e["values"] for e in r2["entries"]] == [e["values"] for e in r1["entries"]]
    assert json.load(open(os.path.join(cache, files[0])))["fingerprint"] == r1["fingerprint"]
    with torch.no_grad():
        model.a.weight[0, 0, 0, 0] += 1.0
    _, third, _ = _sensitivity(model, cache_dir=cache)
    assert third.report.passes[0].stats["reused"] == 0 and len(os.listdir(cache)) == 2
    # other data: another key as well
    assert sensitivity_cache.fingerprint(trace(model, torch.randn(2, 3, 6, 6)), "o", _data(seed=1)) != \
        sensitivity_cache.fingerprint(trace(model, torch.randn(2, 3, 6, 6)), "o", _data(seed=2))


def test_an_unfolded_model_with_batchnorm_buffers_is_measured_and_fingerprinted():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.LazyLinear(4))
    model(torch.randn(1, 3, 6, 6))
    _, run, result = _sensitivity(model, "sensitivity{quantize=false}")
    assert [e["name"] for e in result["entries"]] == ["conv2d"] and run.report.passes[0].stats["groups"] == 1


def test_the_users_model_is_untouched_and_the_sweep_is_deterministic():
    model = TwoBranch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _, _, r1 = _sensitivity(model, "sensitivity{method=hessian}")
    sensitivity_cache._MEMORY.clear()
    _, _, r2 = _sensitivity(model, "sensitivity{method=hessian}")
    assert r2.get("cached") is None
    assert [e["values"] for e in r1["entries"]] == [e["values"] for e in r2["entries"]]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("method", ["fisher", "hessian"])
def test_second_order_proxies_run_through_attention(method):
    from lepton_ir.tools import zoo

    model, args, kwargs = zoo.bert_small()
    ir = lepton_ir.trace(model, args, kwargs, name="bert")
    run = lepton_ir.PassManager(f"sensitivity{{method={method}}}").run(ir)
    result = run.report.extra["sensitivity"][0]
    heads = [e for e in result["entries"] if e["kind"] == "prune" and e["units"] == 4]  # attention heads
    assert heads and all(v >= 0 for e in result["entries"] for v in e["values"].values())
    assert result["output_metrics"] == ["cosine", "cosine"]  # last_hidden_state, pooler_output
    assert any(v > 0 for e in heads for v in e["values"].values())
