"""What a loss plugin registers: a training loss, built once per run.

A :class:`Loss` builds a ``torch.nn.Module`` called as ``module(embeddings, labels)`` that
returns a scalar. Losses with a classifier (cross-entropy) are given the model's logits;
the others its embedding (L2-normalised first when ``normalize``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch.nn as nn


@dataclass(frozen=True)
class Loss:
    """A training loss contributed by a plugin.

    ``build(num_classes, embedding_dim)`` is called once per run (and again on resume) and
    returns the loss module; its parameters, if any (a normalised-softmax proxy matrix),
    are trained and checkpointed with the model's. ``classifier`` says the model ends in a
    head with one output per class and the loss takes logits; otherwise the model's output
    is an ``embedding_dim``-vector. ``normalize`` is whether the embedding is L2-normalised
    before the loss (a run can override it). ``balanced`` says the loss needs several
    images per class in a batch (the N classes x M images sampler is the run's default).
    """

    name: str
    build: Callable[[int, int], nn.Module]
    description: str = ""
    classifier: bool = False
    normalize: bool = True
    balanced: bool = True
