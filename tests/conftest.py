"""Shared fixtures: one torch thread per test process (pytest-xdist runs two), fixed seeds."""
from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def tiny_cnn():
    from tests.models import TinyCNN

    model = TinyCNN().eval()
    return model, (torch.randn(2, 3, 8, 8),)
