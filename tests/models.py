"""Small models for tests, each built to exercise one thing."""
from __future__ import annotations

import torch
from torch import nn

from lepton_ir.tools.zoo import randomize_batchnorm


class TinyCNN(nn.Module):
    """conv-bn-relu, a residual add, dropout, pooling and a linear head."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(8, 4)
        randomize_batchnorm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))
        y = y + self.conv2(y)
        y = y.mean((2, 3))
        return self.fc(self.drop(y))


class DataDependent(nn.Module):
    """Branches on a tensor's value: torch.export cannot trace it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return self.fc(x)
        return -x


class Identities(nn.Module):
    """Every kind of identity op remove-identity knows, around real compute."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.drop(x).clone().contiguous().detach()
        y = y.reshape(x.shape).permute(0, 1).transpose(1, 1).to(torch.float32)
        return self.fc(y)


class TwoOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.a(x), self.b(x)
