"""prune-weights: magnitude sparsity (local, global) and N:M, with actual sparsity reported."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import lepton_ir
from tests.passes.helpers import trace


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))


def _weights(module):
    return [module.constant(n.args[1]) for n in module.compute_nodes() if "linear" in str(n.target)]


def test_local_sparsity_per_layer():
    ir = trace(_model(), torch.randn(2, 16))
    result = lepton_ir.PassManager("prune-weights{sparsity=0.75}").run(ir)
    stats = result.report.passes[0].stats
    assert stats["layers"] == 2 and stats["sparsity"] == pytest.approx(0.75, abs=0.01)
    for w, original in zip(_weights(result.module), _weights(ir)):
        assert float((w == 0).float().mean()) == pytest.approx(0.75, abs=0.01)
        kept = w != 0
        assert float(original[kept].abs().min()) >= float(original[~kept].abs().max())  # the smallest went
        torch.testing.assert_close(w[kept], original[kept])
    assert stats["sparsity.linear"] == pytest.approx(0.75, abs=0.01)


def test_global_sparsity_uses_one_threshold():
    ir = trace(_model(), torch.randn(2, 16))
    stats = lepton_ir.PassManager("prune-weights{sparsity=0.5,scope=global}").run(ir).report.passes[0].stats
    assert stats["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert stats["sparsity.linear"] != stats["sparsity.linear_1"]  # layers differ under one threshold


def test_two_four_sparsity():
    ir = trace(_model(), torch.randn(2, 16))
    out = lepton_ir.PassManager("prune-weights{n=2,m=4}").run(ir).module
    for w in _weights(out):
        groups = (w != 0).reshape(w.shape[0], -1, 4).sum(-1)
        assert bool((groups <= 2).all())


def test_no_op_and_bad_options():
    ir = trace(_model(), torch.randn(2, 16))
    result = lepton_ir.PassManager("prune-weights{sparsity=0}").run(ir)
    assert not result.report.passes[0].changed and str(result.module) == str(ir)
    with pytest.raises(lepton_ir.PipelineSyntaxError, match="N:M sparsity needs 0 < n < m"):
        lepton_ir.parse_pipeline("prune-weights{n=4,m=2}")
