"""Reference architectures built from code (random weights): for tests, benchmarks and trying Lepton.

Usable as MODEL on the command line, e.g. ``lepton compile lepton_ir.tools.zoo:resnet18``.
Hugging Face models are built from small configs; no weights are downloaded.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet(nn.Module):
    """ResNet with basic blocks (torchvision's ResNet-18 layout at ``blocks=(2, 2, 2, 2), width=64``)."""

    def __init__(self, blocks: tuple[int, ...] = (2, 2, 2, 2), width: int = 64, classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, cin = [], width
        for i, count in enumerate(blocks):
            cout = width * 2 ** i
            stage = [BasicBlock(cin, cout, 1 if i == 0 else 2)] + [BasicBlock(cout, cout, 1) for _ in range(count - 1)]
            layers.append(nn.Sequential(*stage))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters (a fresh BN is an identity)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
                    m.bias.copy_(torch.randn(n, generator=generator) * 0.1)
    return model


def resnet18(resolution: int = 224, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor]]:
    torch.manual_seed(seed)
    model = randomize_batchnorm(ResNet(), seed).eval()
    return model, (torch.randn(1, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed)),)


def resnet_small(resolution: int = 64, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor]]:
    """A ResNet-18 layout at a quarter of the width: fast enough for unit tests."""
    torch.manual_seed(seed)
    model = randomize_batchnorm(ResNet(width=16, classes=10), seed).eval()
    return model, (torch.randn(2, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed)),)


def bert_small(seed: int = 0, batch: int = 2, tokens: int = 16) -> tuple[nn.Module, tuple[torch.Tensor], dict[str, Any]]:
    """A 2-layer Hugging Face BertModel from a config, with an attention mask that pads one sequence."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=512, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=64)
    model = BertModel(config).eval()
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, config.vocab_size, (batch, tokens), generator=generator)
    mask = torch.ones(batch, tokens, dtype=torch.long)
    mask[-1, tokens // 2:] = 0
    return model, (ids,), {"attention_mask": mask}


def hf_resnet(seed: int = 0, resolution: int = 64) -> tuple[nn.Module, tuple[torch.Tensor]]:
    """Hugging Face ResNetForImageClassification from a small config."""
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(seed)
    config = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], num_labels=10)
    model = randomize_batchnorm(ResNetForImageClassification(config), seed).eval()
    return model, (torch.randn(2, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed)),)


def hf_mobilenet_v2(seed: int = 0, resolution: int = 64) -> tuple[nn.Module, tuple[torch.Tensor]]:
    """Hugging Face MobileNetV2Model (depthwise convs, ReLU6, TF-style padding) from a small config."""
    from transformers import MobileNetV2Config, MobileNetV2Model

    torch.manual_seed(seed)
    model = randomize_batchnorm(MobileNetV2Model(MobileNetV2Config(depth_multiplier=0.35, image_size=resolution)), seed)
    return model.eval(), (torch.randn(2, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed)),)


def hf_convnext(seed: int = 0, resolution: int = 64) -> tuple[nn.Module, tuple[torch.Tensor]]:
    """Hugging Face ConvNextModel (LayerNorm, LayerScale) from a small config, LayerScale randomised."""
    from transformers import ConvNextConfig, ConvNextModel

    torch.manual_seed(seed)
    model = ConvNextModel(ConvNextConfig(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 2, 1], layer_scale_init_value=1.0))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_scale" in name:
                p.copy_(torch.rand(p.shape, generator=generator) + 0.25)
    return model.eval(), (torch.randn(2, 3, resolution, resolution, generator=generator),)


def hf_vit(seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor]]:
    """Hugging Face ViTModel from a small config (6 heads of 16, 2 layers, 32x32 images, 8x8 patches)."""
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(seed)
    config = ViTConfig(hidden_size=96, num_hidden_layers=2, num_attention_heads=6, intermediate_size=384,
                       image_size=32, patch_size=8)
    model = ViTModel(config).eval()
    return model, (torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(seed)),)
