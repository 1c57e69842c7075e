"""A seeded generator of random CNN-style models for differential testing of exact passes.

Each model is a DAG built from: conv (groups, strides, padding, dilation, with/without bias),
conv-transpose, BatchNorm with random statistics, activations, residual adds, channel concats,
reshape/permute round trips, per-channel and scalar mul/add/sub/div by constants, constant
subexpressions (normalisation-style arithmetic on constants), pooling, and a
linear head (sometimes two linears in a row, sometimes BatchNorm1d between them).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import nn

from lepton_ir.tools.zoo import randomize_batchnorm


@dataclass
class Feature:
    channels: int
    size: int


class RandomNet(nn.Module):
    """Interprets a random program; the program is fixed at construction, so export sees no branches."""

    def __init__(self, seed: int):
        super().__init__()
        rng = random.Random(seed)
        torch.manual_seed(seed)
        self.seed = seed
        self.in_channels = rng.choice([3, 4, 8])
        self.size = rng.choice([8, 10, 12])
        self.layers = nn.ModuleList()
        self.constants = nn.ParameterList()
        self.program: list[tuple] = []
        features = [Feature(self.in_channels, self.size)]
        for _ in range(rng.randint(4, 10)):
            self._add_op(rng, features)
        self._add_head(rng, features)
        randomize_batchnorm(self, seed)

    # -- program construction ------------------------------------------------------------------
    def _layer(self, module: nn.Module) -> int:
        self.layers.append(module)
        return len(self.layers) - 1

    def _constant(self, tensor: torch.Tensor) -> int:
        self.constants.append(nn.Parameter(tensor, requires_grad=False))
        return len(self.constants) - 1

    def _add_op(self, rng: random.Random, features: list[Feature]) -> None:
        src = rng.randrange(len(features))
        f = features[src]
        kind = rng.choices(
            ["conv", "conv", "conv_bn", "conv_bn", "convt", "bn", "act", "add", "cat", "affine", "affine",
             "const_expr", "pool", "reshape", "permute"], k=1)[0]
        if kind in ("conv", "conv_bn"):
            cout = rng.choice([4, 8, 12, 16])
            divisors = [g for g in (1, 2, 4, f.channels) if f.channels % g == 0 and cout % g == 0]
            groups = rng.choice(divisors)
            k = rng.choice([1, 3])
            dilation = rng.choice([1, 2]) if k == 3 else 1
            padding = rng.choice([0, 1, 2]) if k == 3 else rng.choice([0, 1])
            stride = rng.choice([1, 2]) if f.size >= 6 else 1
            size = (f.size + 2 * padding - dilation * (k - 1) - 1) // stride + 1
            if size < 2:
                padding, stride, dilation = k // 2, 1, 1
                size = f.size
            conv = nn.Conv2d(f.channels, cout, k, stride, padding, dilation, groups, bias=rng.random() < 0.5)
            index = self._layer(conv)
            if kind == "conv_bn":
                self.program.append(("conv_bn", src, index, self._layer(nn.BatchNorm2d(cout))))
            else:
                self.program.append(("layer", src, index))
            features.append(Feature(cout, size))
        elif kind == "convt":
            cout = rng.choice([4, 8])
            groups = rng.choice([g for g in (1, 2) if f.channels % g == 0 and cout % g == 0])
            index = self._layer(nn.ConvTranspose2d(f.channels, cout, 2, 2, groups=groups, bias=rng.random() < 0.5))
            bn = self._layer(nn.BatchNorm2d(cout))
            self.program.append(("conv_bn", src, index, bn))
            features.append(Feature(cout, f.size * 2))
        elif kind == "bn":
            self.program.append(("layer", src, self._layer(nn.BatchNorm2d(f.channels))))
            features.append(f)
        elif kind == "act":
            act = rng.choice([nn.ReLU(), nn.GELU(), nn.Sigmoid(), nn.Hardswish(), nn.SiLU(), nn.ReLU6(),
                              nn.ReLU(inplace=True), nn.Hardswish(inplace=True)])
            self.program.append(("layer", src, self._layer(act)))
            features.append(f)
        elif kind == "add":
            same = [i for i, g in enumerate(features) if g == f and i != src]
            if not same:
                return self._add_op(rng, features)
            self.program.append(("add", src, rng.choice(same)))
            features.append(f)
        elif kind == "cat":
            same = [i for i, g in enumerate(features) if g.size == f.size and i != src]
            if not same:
                return self._add_op(rng, features)
            other = rng.choice(same)
            self.program.append(("cat", src, other))
            features.append(Feature(f.channels + features[other].channels, f.size))
        elif kind == "affine":
            op = rng.choice(["mul", "add", "sub", "div"])
            if rng.random() < 0.7:
                value = torch.rand(f.channels, 1, 1) + 0.5 if op in ("mul", "div") else torch.randn(f.channels, 1, 1)
                self.program.append(("affine", src, op, self._constant(value)))
            else:
                self.program.append(("scalar", src, op, rng.choice([0.5, 1.0, 2.0, 0.0, -1.5]) if op != "div" else 2.0))
            features.append(f)
        elif kind == "const_expr":
            # a constant computed in the graph (normalisation-style): fold-constants evaluates it
            self.program.append(("const_expr", src, self._constant(torch.rand(f.channels))))
            features.append(f)
        elif kind == "pool":
            if f.size < 4:
                return self._add_op(rng, features)
            pool = nn.MaxPool2d(2) if rng.random() < 0.5 else nn.AvgPool2d(2)
            self.program.append(("layer", src, self._layer(pool)))
            features.append(Feature(f.channels, f.size // 2))
        elif kind == "reshape":
            self.program.append(("reshape", src))
            features.append(f)
        else:
            self.program.append(("permute", src))
            features.append(f)

    def _add_head(self, rng: random.Random, features: list[Feature]) -> None:
        f = features[-1]
        hidden = rng.choice([4, 8, 32])
        classes = rng.choice([3, 10])
        first = self._layer(nn.Linear(f.channels, hidden, bias=rng.random() < 0.7))
        middle = self._layer(nn.BatchNorm1d(hidden)) if rng.random() < 0.4 else None
        second = self._layer(nn.Linear(hidden, classes)) if rng.random() < 0.6 else None
        self.head = (first, middle, second, rng.random() < 0.3)

    # -- execution ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values = [x]
        for step in self.program:
            kind, src = step[0], values[step[1]]
            if kind == "layer":
                out = self.layers[step[2]](src)
            elif kind == "conv_bn":
                out = self.layers[step[3]](self.layers[step[2]](src))
            elif kind == "add":
                out = src + values[step[2]] if step[1] % 2 else src.clone().add_(values[step[2]])
            elif kind == "cat":
                out = torch.cat([src, values[step[2]]], dim=1)
            elif kind in ("affine", "scalar"):
                c = self.constants[step[3]] if kind == "affine" else step[3]
                out = {"mul": lambda: src * c, "add": lambda: src + c, "sub": lambda: src - c,
                       "div": lambda: src / c}[step[2]]()
            elif kind == "const_expr":
                c = self.constants[step[2]]
                out = src * (c.reshape(-1, 1, 1) * 0.5 + 0.75) + c.reshape(1, -1, 1, 1).neg()
            elif kind == "reshape":
                n, ch, h, w = src.shape
                out = src.reshape(n, ch, h * w).reshape(n, ch, h, w)
            else:
                out = src.permute(0, 2, 3, 1).permute(0, 3, 1, 2)
            values.append(out)
        first, middle, second, two_outputs = self.head
        pooled = values[-1].mean((2, 3))
        y = self.layers[first](pooled)
        if middle is not None:
            y = self.layers[middle](y)
        if second is not None:
            y = self.layers[second](y)
        return (y, values[-1]) if two_outputs else (y,)

    def example_input(self, batch: int = 2, seed: int = 0) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1000 + seed)
        return torch.randn(batch, self.in_channels, self.size, self.size, generator=generator)
