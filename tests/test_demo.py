"""The built-in demo: shipped weights are good, and retraining reproduces them exactly."""
from __future__ import annotations

import torch

from lepton_ir.tools import demo


def test_shipped_weights_classify_digits():
    data = demo.load_data()
    assert len(data.x_test) == 450 and data.x_train.shape[1:] == (1, 8, 8)
    assert demo.accuracy(demo.load_model(), data.x_test, data.y_test, batch=64) > 97.0


def test_retraining_reproduces_the_shipped_weights(tmp_path):
    path = str(tmp_path / "w.pt")
    _, acc = demo.train(output=path)
    shipped = torch.load(demo.WEIGHTS, weights_only=True)
    retrained = torch.load(path, weights_only=True)
    assert shipped.keys() == retrained.keys()
    assert all(torch.equal(shipped[k], retrained[k]) for k in shipped)
    assert acc > 97.0
