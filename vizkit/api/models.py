"""What a model plugin registers: a :class:`ModelProvider` that builds ``torch.nn.Module``
objects by name (timm's registry is the built-in one), and what a layer is.

Kept free of torch at import (``import vizkit`` and the read-only pages stay light): the
loaded model every job and model page uses, :class:`~vizkit.runtime.loaded.LoadedModel`, is in
:mod:`vizkit.runtime.loaded`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch.nn as nn

PRE_LOGITS = "pre_logits"  # pseudo-layer: the pooled features the classifier sees
POOLINGS = ("max", "mean")  # how a channel's activation map becomes one number per image


@dataclass(frozen=True)
class ModelProvider:
    """A source of models contributed by a plugin.

    ``names()`` lists the names it knows (for listings and "did you mean");
    ``accepts(name)`` says whether it can build ``name``;
    ``build(name, pretrained, weights_file)`` returns an ``nn.Module`` (pretrained weights
    when ``pretrained``; weights read from ``weights_file`` when given; else random) and
    raises :class:`vizkit.errors.WeightsUnavailableError` when weights cannot be had.
    """

    name: str
    description: str
    names: Callable[[], list[str]] = field(compare=False)
    accepts: Callable[[str], bool] = field(compare=False)
    build: Callable[..., nn.Module] = field(compare=False)


@dataclass(frozen=True)
class LayerInfo:
    """An inspectable layer: dotted module name, module type, output shape (no batch)."""

    name: str
    kind: str
    shape: tuple[int, ...]

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3
