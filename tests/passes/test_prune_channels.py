"""channel-groups and prune-channels: coupling, exclusions with reasons, physical removal."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import lepton_ir
from lepton_ir.backends import get_backend
from lepton_ir.tools.zoo import randomize_batchnorm
from tests.passes.helpers import trace


class ConcatSplitDepthwise(nn.Module):
    """Concat, split, a depthwise conv, a residual add, flatten into a linear head."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 1)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.bn = nn.BatchNorm2d(16)
        self.c = nn.Conv2d(8, 8, 1)
        self.d = nn.Conv2d(8, 8, 1)
        self.fc = nn.Linear(16 * 4 * 4, 5)
        randomize_batchnorm(self)

    def forward(self, x):
        y = torch.cat([torch.relu(self.a(x)), self.b(x)], dim=1)
        y = torch.relu(self.bn(self.dw(y)))
        left, right = torch.split(y, [8, 8], dim=1)
        z = torch.cat([self.c(left) + left, self.d(right)], dim=1)
        z = nn.functional.adaptive_avg_pool2d(z, 4)
        return self.fc(torch.flatten(z, 1))


def _groups(module):
    return lepton_ir.AnalysisManager(module).get("channel-groups")


def test_groups_follow_concat_split_and_residuals():
    ir = trace(ConcatSplitDepthwise(), torch.randn(2, 3, 8, 8))
    groups = {tuple(g.spaces): g for g in _groups(ir).groups}
    # the residual couples conv a's channels (through cat, depthwise, split) with conv c's output
    assert ("conv2d", "conv2d_3") in groups and groups[("conv2d", "conv2d_3")].channels == 8
    assert groups[("conv2d_1",)].channels == 8 and groups[("conv2d_4",)].channels == 8
    assert groups[("linear",)].excluded == "reaches a model output"
    assert all(g.excluded is None for k, g in groups.items() if k != ("linear",))
    conv = next(n for n in ir.compute_nodes() if n.name == "conv2d")
    assert conv.meta["lepton.prune_group"] == groups[("conv2d", "conv2d_3")].id


def test_pruning_concat_split_depthwise_keeps_the_ir_consistent(tmp_path):
    x = torch.randn(2, 3, 8, 8)
    ir = trace(ConcatSplitDepthwise(), x)
    result = lepton_ir.PassManager("prune-channels{ratio=0.5}").run(ir)
    pruned = result.module
    stats = result.report.passes[0].stats
    assert stats["groups_pruned"] == 3 and stats["units_removed"] == 12
    shapes = {n.name: tuple(n.meta["val"].shape) for n in pruned.compute_nodes() if hasattr(n.meta["val"], "shape")}
    assert shapes["conv2d"] == (2, 4, 8, 8) and shapes["cat"] == (2, 8, 8, 8) and shapes["conv2d_2"] == (2, 8, 8, 8)
    split = next(n for n in pruned.compute_nodes() if "split" in str(n.target))
    assert split.args[1] == [4, 4]
    dw = next(n for n in pruned.compute_nodes() if n.name == "conv2d_2")
    assert dw.args[6] == 8 and pruned.constant(dw.args[1]).shape == (8, 1, 3, 3)
    fc = next(n for n in pruned.compute_nodes() if "linear" in str(n.target))
    assert pruned.constant(fc.args[1]).shape == (5, 8 * 16)
    assert pruned(x)[0].shape == (2, 5)
    lepton_ir.verify(pruned)
    pruned.save(str(tmp_path / "p.lepton"))
    reloaded = lepton_ir.Module.load(str(tmp_path / "p.lepton"))
    torch.testing.assert_close(reloaded(x)[0], pruned(x)[0])
    for target in ("onnx", "torchscript"):
        assert get_backend(target).lower(reloaded, str(tmp_path / f"p.{target}")).verification.passed


def test_pruned_weights_are_the_kept_slices():
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), nn.Conv2d(8, 4, 1))
    ir = trace(model, torch.randn(1, 3, 2, 2))
    pruned = lepton_ir.PassManager("prune-channels{ratio=0.5,criterion=l2}").run(ir).module
    w = model[0].weight.detach()
    keep = sorted(w.pow(2).sum((1, 2, 3)).sqrt().argsort(descending=True)[:4].tolist())
    first, second = [n for n in pruned.compute_nodes() if "conv" in str(n.target)]
    torch.testing.assert_close(pruned.constant(first.args[1]), w[keep])
    torch.testing.assert_close(pruned.constant(first.args[2]), model[0].bias.detach()[keep])
    torch.testing.assert_close(pruned.constant(second.args[1]), model[2].weight.detach()[:, keep])


class Untouchable(nn.Module):
    def __init__(self):
        super().__init__()
        self.grouped = nn.Conv2d(4, 8, 3, padding=1, groups=2)
        self.conv = nn.Conv2d(8, 8, 1)

    def forward(self, x):
        y = self.conv(self.grouped(x))
        return y.reshape(y.shape[0], 4, 2, -1).sum(2)  # splits the channel dim


def test_exclusions_name_their_reason():
    ir = trace(Untouchable(), torch.randn(2, 4, 4, 4))
    reasons = {tuple(g.spaces): g.excluded for g in _groups(ir).groups}
    assert reasons[("conv2d",)].startswith("grouped or transposed conv")
    assert reasons[("conv2d_1",)].startswith("reshape across the channel dim")
    result = lepton_ir.PassManager("prune-channels").run(ir)
    assert not result.report.passes[0].changed and str(result.module) == str(ir)


def test_round_to_and_ignore():
    model = nn.Sequential(nn.Conv2d(3, 32, 1), nn.ReLU(), nn.Conv2d(32, 24, 1), nn.ReLU(), nn.Conv2d(24, 4, 1))
    ir = trace(model, torch.randn(1, 3, 2, 2))
    out = lepton_ir.PassManager("prune-channels{ratio=0.3,round_to=8}").run(ir).module
    convs = [n for n in out.compute_nodes() if "conv" in str(n.target)]
    assert [out.constant(c.args[1]).shape[0] for c in convs] == [24, 16, 4]
    kept = lepton_ir.PassManager("prune-channels{ratio=0.5,ignore=[0]}").run(ir).module
    convs = [n for n in kept.compute_nodes() if "conv" in str(n.target)]
    assert [kept.constant(c.args[1]).shape[0] for c in convs] == [32, 12, 4]


def test_ratio_zero_is_a_no_op_and_bad_ratio_is_refused():
    ir = trace(nn.Sequential(nn.Conv2d(3, 8, 1), nn.Conv2d(8, 2, 1)), torch.randn(1, 3, 2, 2))
    result = lepton_ir.PassManager("prune-channels{ratio=0}").run(ir)
    assert not result.report.passes[0].changed and str(result.module) == str(ir)
    with pytest.raises(lepton_ir.PipelineSyntaxError, match="ratio must be in"):
        lepton_ir.parse_pipeline("prune-channels{ratio=1.5}")


class Attention(nn.Module):
    """Q/K/V projections split into 4 heads with a hard-coded head count, attention, output projection."""

    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(32, 32) for _ in range(4))
        self.ffn = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 32))

    def forward(self, x):
        b, n, _ = x.shape
        heads = [p(x).view(b, n, 4, 8).transpose(1, 2) for p in (self.q, self.k, self.v)]
        y = nn.functional.scaled_dot_product_attention(*heads).transpose(1, 2).reshape(b, n, 32)
        return self.ffn(self.o(y))


def test_attention_heads_are_units_and_head_counts_are_rewritten():
    x = torch.randn(2, 5, 32)
    ir = trace(Attention(), x)
    groups = {tuple(g.spaces): g for g in _groups(ir).groups}
    heads = groups[("linear", "linear_1", "linear_2")]
    assert heads.excluded is None and heads.channels == 4  # 4 heads, each 8 channels of q, k and v
    assert all(len(unit) == 3 * 8 for unit in heads.units)
    pruned = lepton_ir.PassManager("prune-channels{ratio=0.5}").run(ir).module
    views = [n for n in pruned.compute_nodes() if str(n.target) == "aten.view.default"]
    assert all(n.args[1][2] == 2 for n in views)  # the hard-coded 4 heads became 2
    sdpa = next(n for n in pruned.compute_nodes() if "scaled_dot_product_attention" in str(n.target))
    assert tuple(sdpa.meta["val"].shape) == (2, 2, 5, 8)
    assert pruned(x)[0].shape == (2, 5, 32)


def _resnet():
    from lepton_ir.tools.zoo import resnet_small

    model, inputs = resnet_small(resolution=32)
    return lepton_ir.PassManager("-O1").run(lepton_ir.trace(model, inputs)).module


@pytest.mark.parametrize("target", ["target_macs=0.5", "target_params=0.4"])
def test_global_targets_are_reached(target):
    ir = _resnet()
    result = lepton_ir.PassManager(f"prune-channels{{{target}}}").run(ir)
    before, after = result.report.before, result.report.after
    kind, goal = target.split("=")
    ratio = (after.macs / before.macs) if kind == "target_macs" else (after.params / before.params)
    assert float(goal) - 0.08 <= ratio <= float(goal) + 0.02
    assert result.report.passes[0].stats[kind.split("_")[1] + "_kept"] == pytest.approx(ratio, abs=1e-3)


def test_global_scope_prunes_groups_unevenly():
    ir = _resnet()
    local = lepton_ir.PassManager("prune-channels{ratio=0.5}").run(ir).module
    glob = lepton_ir.PassManager("prune-channels{ratio=0.5,scope=global}").run(ir).module
    widths = lambda m: [m.constant(n.args[1]).shape[0] for n in m.compute_nodes() if "conv" in str(n.target)]  # noqa: E731
    original = widths(ir)
    assert {round(w / o, 2) for w, o in zip(widths(local), original)} <= {0.5, 1.0}
    assert len({round(w / o, 2) for w, o in zip(widths(glob), original)}) > 2
    assert sum(widths(glob)) < sum(original)


@pytest.mark.parametrize("criterion", ["bn-scale", "taylor", "test-last-first"])
def test_criteria_and_user_scorers(criterion):
    from lepton_ir.passes.transforms.prune_scoring import register_scorer

    register_scorer("test-last-first")(lambda module, node, channel: float(channel))  # keeps the last channels
    model = randomize_batchnorm(nn.Sequential(nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 2, 1)))
    ir = trace(model, torch.randn(2, 3, 4, 4))
    out = lepton_ir.PassManager(f"prune-channels{{ratio=0.5,criterion={criterion}}}").run(ir).module
    first = next(n for n in out.compute_nodes() if "conv" in str(n.target))
    kept_weight = out.constant(first.args[1])
    original = model[0].weight.detach()
    kept = [i for i in range(8) if any(torch.equal(kept_weight[j], original[i]) for j in range(4))]
    if criterion == "bn-scale":
        assert kept == sorted(model[1].weight.detach().abs().argsort(descending=True)[:4].tolist())
    elif criterion == "test-last-first":
        assert kept == [4, 5, 6, 7]
    assert len(kept) == 4


def test_iterative_steps_reach_the_same_ratio():
    ir = _resnet()
    once = lepton_ir.PassManager("prune-channels{ratio=0.5}").run(ir)
    stepped = lepton_ir.PassManager("prune-channels{ratio=0.5,iterative_steps=3}").run(ir)
    assert stepped.report.passes[0].stats["steps"] == 3
    assert stepped.report.after.macs == pytest.approx(once.report.after.macs, rel=0.1)


def test_unknown_criterion_is_a_parse_error():
    with pytest.raises(lepton_ir.PipelineSyntaxError, match="unknown criterion 'fisher'"):
        lepton_ir.parse_pipeline("prune-channels{criterion=fisher}")
