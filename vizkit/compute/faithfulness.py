"""Deletion and insertion curves of similarity explanations (RISE's, for a pair's score):
remove (deletion) or reveal (insertion) the query's pixels in the order a relevance map
ranks them, in equal steps, re-embed the perturbed queries in one batch, and record the
score against the result, normalised by the unperturbed score. A faithful map makes the
deletion curve fall fast (a small area under it) and the insertion curve rise fast."""
from __future__ import annotations

import numpy as np
import torch

STEPS = 20  # 5% of the pixels per step


def black(mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """A removed pixel, as RISE removes it: black (0 before normalisation), ``[1, C, 1, 1]``
    in the model's normalised input space."""
    return (-torch.tensor(mean) / torch.tensor(std)).float().view(1, -1, 1, 1)


def similarity(e: torch.Tensor, r: torch.Tensor, metric: str) -> torch.Tensor:
    """Row-wise scores of embeddings ``e`` against ``r`` (``[n, d]`` each): cosine or dot,
    the metrics a score can be explained for (differentiable)."""
    if metric == "cosine":
        return torch.nn.functional.cosine_similarity(e, r, dim=1)
    return (e * r).sum(dim=1)


def pixel_order(relevance: np.ndarray) -> np.ndarray:
    """Pixel positions (flat) from the most to the least relevant; ties keep reading
    order, so the same map always gives the same order."""
    return np.argsort(-np.asarray(relevance, np.float64).ravel(), kind="stable")


def perturbed(x: torch.Tensor, order: np.ndarray, baseline: torch.Tensor,
              steps: int = STEPS) -> torch.Tensor:
    """``[2 * (steps + 1), C, H, W]``: the deletion series (step i replaces the first
    i/steps of ``order`` by ``baseline``, ``[1, C, 1, 1]``), then the insertion series
    (step i reveals them on the baseline); ``x`` is one preprocessed image
    ``[1, C, H, W]``."""
    _, c, h, w = x.shape
    n = h * w
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    counts = np.round(np.arange(steps + 1) / steps * n).astype(np.int64)
    chosen = torch.from_numpy(rank[None, :] < counts[:, None]).reshape(steps + 1, 1, h, w)
    image = x.expand(steps + 1, c, h, w)
    baseline = baseline.to(image.dtype).expand_as(image)
    deletion = torch.where(chosen, baseline, image)
    insertion = torch.where(chosen, image, baseline)
    return torch.cat([deletion, insertion])


def normalised_scores(scores: np.ndarray, steps: int = STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Split the scores of :func:`perturbed`'s batch into the deletion and insertion
    curves, each divided by the unperturbed score (deletion's first step)."""
    scores = np.asarray(scores, np.float64)
    deletion, insertion = scores[: steps + 1], scores[steps + 1:]
    full = deletion[0] if abs(deletion[0]) > 1e-12 else np.nan
    return deletion / full, insertion / full


def area(curve: np.ndarray) -> float:
    """The area under a curve sampled at equal steps over [0, 1] (trapezoids)."""
    curve = np.asarray(curve, np.float64)
    return float(((curve[1:] + curve[:-1]) / 2).mean())
