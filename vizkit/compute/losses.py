"""Loss modules: the easy-positive losses pytorch-metric-learning lacks, cross-entropy on
logits, and a wrapper that feeds a pytorch-metric-learning loss its miner's tuples.

Each is called as ``module(embeddings or logits, labels)`` and returns a scalar.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def cosine_matrix(embeddings: torch.Tensor) -> torch.Tensor:
    """The ``[B, B]`` cosine similarities of a batch."""
    e = F.normalize(embeddings, dim=1)
    return e @ e.T


def easy_positive_selection(sims: torch.Tensor, labels: torch.Tensor, semi_hard: bool
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per anchor: the easiest positive (most similar, same label), and the hardest negative
    (most similar, other label) -- with ``semi_hard`` the hardest negative *less similar than
    that positive*. Returns ``(positive index, negative index, valid)``; an anchor is valid
    when both exist and both selected similarities are positive (Xuan, Stylianou and Pless,
    WACV 2020)."""
    n = len(labels)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(n, dtype=torch.bool, device=sims.device)
    low = torch.finfo(sims.dtype).min
    pos_sims = sims.masked_fill(~same | eye, low)
    s_ap, pos = pos_sims.max(dim=1)
    neg_mask = ~same
    if semi_hard:
        neg_mask = neg_mask & (sims < s_ap[:, None])
    s_an, neg = sims.masked_fill(~neg_mask, low).max(dim=1)
    valid = (s_ap > 0) & (s_an > 0) & (s_ap > low) & (s_an > low)
    return pos, neg, valid


class EasyPositiveLoss(nn.Module):
    """EP (hardest negative) or EPSHN (semi-hard negative) loss:
    ``softplus((S_an - S_ap) / sigma)`` averaged over the valid anchors (see
    :func:`easy_positive_selection`); zero, with a gradient, when no anchor is valid."""

    def __init__(self, semi_hard: bool, sigma: float = 0.1):
        super().__init__()
        self.semi_hard, self.sigma = semi_hard, sigma

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        sims = cosine_matrix(embeddings)
        pos, neg, valid = easy_positive_selection(sims.detach(), labels, self.semi_hard)
        if not valid.any():
            return embeddings.sum() * 0.0
        rows = torch.arange(len(labels), device=sims.device)[valid]
        s_ap, s_an = sims[rows, pos[valid]], sims[rows, neg[valid]]
        return F.softplus((s_an - s_ap) / self.sigma).mean()


class NearestNeighbourLoss(nn.Module):
    """The nearest-neighbour loss: a class may gather in any shape (a star, a strip, several
    groups), not one circle, because each image is pulled only towards its *nearest*
    same-class image, and only where the two are already similar.

    In an N-class x M-image batch with cosine similarities ``S``, for anchor ``i``:

    - positive: ``p(i) = argmax_{j != i, y_j = y_i} S_ij``, used only if ``S_ip > t``;
    - negatives: ``N(i) = {n : y_n != y_i, S_in > t}`` (less similar ones are left alone);
    - ``L_i = -log( e^{S_ip/s} / (e^{S_ip/s} + sum_{n in N(i)} e^{S_in/s}) )``
      ``= log(1 + sum_{n in N(i)} e^{(S_in - S_ip)/s})``.

    The loss is the mean of ``L_i`` over the anchors whose positive is used (zero, with a
    gradient, when there are none). Threshold ``t`` = 0.3 and temperature ``s`` = 0.1 by
    default."""

    def __init__(self, threshold: float = 0.3, temperature: float = 0.1):
        super().__init__()
        self.threshold, self.temperature = threshold, temperature

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        sims = cosine_matrix(embeddings)
        n = len(labels)
        same = labels[:, None] == labels[None, :]
        eye = torch.eye(n, dtype=torch.bool, device=sims.device)
        low = torch.finfo(sims.dtype).min
        s_ap, pos = sims.detach().masked_fill(~same | eye, low).max(dim=1)
        used = s_ap > self.threshold
        if not used.any():
            return embeddings.sum() * 0.0
        rows = torch.arange(n, device=sims.device)
        s_ap = sims[rows, pos]  # with its gradient
        pushed = ~same & (sims.detach() > self.threshold)
        logits = ((sims - s_ap[:, None]) / self.temperature).masked_fill(~pushed, float("-inf"))
        zero = torch.zeros(n, 1, dtype=sims.dtype, device=sims.device)  # the log(1) term
        per_anchor = torch.logsumexp(torch.cat([zero, logits], dim=1), dim=1)
        return per_anchor[used].mean()


class ClassifierLoss(nn.Module):
    """Cross-entropy on the model's logits."""

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, labels)


class MinedLoss(nn.Module):
    """A pytorch-metric-learning loss, fed the pairs/triplets its miner picks."""

    def __init__(self, loss: nn.Module, miner: nn.Module | None = None):
        super().__init__()
        self.loss, self.miner = loss, miner

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        tuples = self.miner(embeddings, labels) if self.miner is not None else None
        return self.loss(embeddings, labels, tuples)
