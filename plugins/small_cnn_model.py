"""The network of ``vizkit_small_cnn``, the small embedding CNN of the embedded demo
(imported by :mod:`vizkit_plugins.small_cnn` when the model is first built). It follows
timm's model interface (``forward_features``/``forward_head``, ``pretrained_cfg``) but
needs no timm: serving it costs torch alone.

Five 3x3 convolutions in three stages, global average pooling, a linear embedding
(``embedding``, the pooled feature the classifier sees) and a cosine classifier. Made for
28x28 grayscale images; ``vizkit demo`` trains it on Fashion-MNIST in about a minute an
epoch on two CPU cores.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

PRETRAINED_CFG = {
    "input_size": (1, 28, 28), "mean": (0.286,), "std": (0.353,), "crop_pct": 1.0,
    "interpolation": "bilinear", "num_classes": 10, "first_conv": "stages.0.0",
    "classifier": "head", "architecture": "vizkit_small_cnn",
}


def conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


class CosineClassifier(nn.Module):
    """Logits = scale x cosine(embedding, class weight): normalised softmax."""

    def __init__(self, dim: int, num_classes: int, scale: float = 16.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_classes, dim) * 0.01)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(x, dim=1) @ F.normalize(self.weight, dim=1).T


class SmallCNN(nn.Module):
    """A 5-conv embedding network with timm's forward_features / forward_head interface."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1, embed_dim: int = 64,
                 widths: tuple[int, int, int] = (32, 64, 128), **_ignored):
        super().__init__()
        w0, w1, w2 = widths
        self.stages = nn.Sequential(
            nn.Sequential(*conv_bn(in_chans, w0), *conv_bn(w0, w0), nn.MaxPool2d(2)),
            nn.Sequential(*conv_bn(w0, w1), *conv_bn(w1, w1), nn.MaxPool2d(2)),
            nn.Sequential(*conv_bn(w1, w2)),
        )
        self.num_features, self.num_classes = w2, num_classes
        self.embedding = nn.Linear(w2, embed_dim)
        self.head = CosineClassifier(embed_dim, num_classes) if num_classes else nn.Identity()
        self.pretrained_cfg = dict(PRETRAINED_CFG, num_classes=num_classes)
        self.default_cfg = self.pretrained_cfg

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.embedding(x.mean(dim=(2, 3)))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def vizkit_small_cnn(pretrained: bool = False, **kwargs) -> SmallCNN:
    """The constructor; there are no pretrained weights (train them with ``vizkit demo``)."""
    if pretrained:
        raise RuntimeError("vizkit_small_cnn has no pretrained weights; use a checkpoint "
                           "made by `vizkit demo` or `vizkit train` (--checkpoint RUN).")
    kwargs.pop("pretrained_cfg", None)
    kwargs.pop("pretrained_cfg_overlay", None)
    return SmallCNN(**kwargs)

