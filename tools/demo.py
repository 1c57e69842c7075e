"""The built-in demo: a small residual CNN trained on scikit-learn's digits (8x8 images, 10 classes).

Its trained weights ship in ``tools/data/digits_cnn.pt``; ``lepton train-demo`` retrains them
reproducibly (fixed seed, one thread, fixed data split).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..passes.analysis.sensitivity_metrics import register_evaluator

WEIGHTS = os.path.join(os.path.dirname(__file__), "data", "digits_cnn.pt")
SEED = 0


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int = 1, relu: bool = True):
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)]
        if relu:
            layers.append(nn.ReLU())
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvBNReLU(channels, channels)
        self.conv2 = ConvBNReLU(channels, channels, relu=False)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.conv2(self.conv1(x)))


class DigitsCNN(nn.Module):
    """conv-bn-relu stem, a residual block, a strided downsample, global pooling, linear head."""

    def __init__(self, width: int = 16, classes: int = 10):
        super().__init__()
        self.stem = ConvBNReLU(1, width)
        self.block = ResidualBlock(width)
        self.down = ConvBNReLU(width, 2 * width, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Linear(2 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(self.block(self.stem(x)))
        return self.classifier(self.dropout(torch.flatten(self.pool(x), 1)))


@dataclass
class DigitsData:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_data() -> DigitsData:
    """The digits images scaled to [0, 1], split 75/25 with a fixed seed, stratified by class."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    x_tr, x_te, y_tr, y_te = train_test_split(images, digits.target, test_size=0.25, random_state=SEED,
                                              stratify=digits.target)
    return DigitsData(torch.from_numpy(x_tr), torch.from_numpy(y_tr).long(),
                      torch.from_numpy(x_te), torch.from_numpy(y_te).long())


def example_inputs() -> tuple[torch.Tensor]:
    return (load_data().x_test[:1].clone(),)


def load_model(weights: str = WEIGHTS) -> DigitsCNN:
    model = DigitsCNN()
    model.load_state_dict(torch.load(weights, weights_only=True))
    return model.eval()


@register_evaluator("demo-accuracy")
def demo_accuracy(run) -> float:  # noqa: ANN001
    """``metric=demo-accuracy`` for the sensitivity analysis: top-1 accuracy (percent) on the last 300
    images of the training split, so decisions never look at the test split the demo reports."""
    data = load_data()
    x, y = data.x_train[-300:], data.y_train[-300:]
    return 100.0 * float((run(x)[0].argmax(-1) == y).float().mean())


def accuracy(predict, x: torch.Tensor, y: torch.Tensor, batch: int = 1) -> float:  # noqa: ANN001
    """Top-1 accuracy in percent; ``predict`` maps an input batch to logits."""
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = predict(x[i:i + batch])
            correct += int((logits.argmax(-1) == y[i:i + batch]).sum())
    return 100.0 * correct / len(x)


def train(epochs: int = 30, seed: int = SEED, output: str | None = WEIGHTS) -> tuple[DigitsCNN, float]:
    """Train from scratch with a fixed seed; returns the model and its test accuracy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: identical float reductions run to run
    try:
        torch.manual_seed(seed)
        data = load_data()
        model = DigitsCNN()
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(data.x_train), generator=generator)
            for i in range(0, len(order), 32):
                idx = order[i:i + 32]
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
                loss.backward()
                optimizer.step()
            schedule.step()
        model.eval()
        acc = accuracy(model, data.x_test, data.y_test, batch=256)
        if output:
            os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
            torch.save(model.state_dict(), output)
        return model, acc
    finally:
        torch.set_num_threads(threads)
