"""The spectrum of an embedding: principal directions, explained variance, and how retrieval
holds up when the low-variance directions are dropped."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vizkit.api.metrics import Metric
from vizkit.compute.nearest import all_pairs_topk


@dataclass
class Spectrum:
    """PCA of an embedding: ``singular_values`` (descending), ``explained`` (sums to 1),
    ``components`` ``[d, d]`` (rows are directions), ``mean`` and ``scores`` (the data in
    the principal basis, ``[n, d]``)."""

    singular_values: np.ndarray
    explained: np.ndarray
    components: np.ndarray
    mean: np.ndarray
    scores: np.ndarray


def spectrum(features: np.ndarray) -> Spectrum:
    """PCA of ``features`` by SVD of the centred matrix."""
    x = features.astype(np.float64)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s ** 2
    explained = var / var.sum() if var.sum() > 0 else np.full_like(var, 1 / len(var))
    return Spectrum(s, explained, vt, mean, (x - mean) @ vt.T)


def truncation_ks(dim: int) -> list[int]:
    """k = d, d/2, d/4, ... down to 1."""
    ks, k = [], dim
    while k >= 1:
        ks.append(k)
        k //= 2
    return ks


def keep_top(spec: Spectrum, k: int) -> np.ndarray:
    """The embedding with all but its top-``k`` principal directions removed (the mean
    kept): ``mean + scores[:, :k] @ components[:k]``; k = d gives the embedding back."""
    return (spec.mean + spec.scores[:, :k] @ spec.components[:k]).astype(np.float32)


def recall_at_1(features: np.ndarray, labels: np.ndarray, metric: Metric) -> float:
    """Leave-one-out Recall@1 under ``metric`` (brute force, exact)."""
    nbr, _ = all_pairs_topk(metric, features, 1)
    return float((labels[nbr[:, 0]] == labels).mean())


def recall_after_truncation(features: np.ndarray, labels: np.ndarray, metric: Metric,
                            ks: list[int] | None = None) -> dict[int, float]:
    """Recall@1 under ``metric`` after keeping the top-k principal directions, for each k
    (default :func:`truncation_ks`)."""
    spec = spectrum(features)
    ks = ks or truncation_ks(features.shape[1])
    return {k: recall_at_1(keep_top(spec, k), labels, metric) for k in ks}
