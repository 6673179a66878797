"""Clusters of a layer's features (not of the 2-D layout), and how they match the labels.

The scores are numpy (the pages that show them import no scikit-learn); k-means, a job's
work, is scikit-learn's."""
from __future__ import annotations

import numpy as np


def contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[values of a, values of b]`` counts of the pairs ``(a_i, b_i)``."""
    _, ai = np.unique(np.asarray(a), return_inverse=True)
    _, bi = np.unique(np.asarray(b), return_inverse=True)
    out = np.zeros((ai.max(initial=-1) + 1, bi.max(initial=-1) + 1), np.int64)
    np.add.at(out, (ai.ravel(), bi.ravel()), 1)
    return out


def l2_normalise(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (clusters by direction, as cosine search ranks)."""
    x = np.asarray(features, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def kmeans(features: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """k-means on the L2-normalised features: (assignment ``[n]``, centres ``[k, d]``,
    each point's distance to its own centre ``[n]``)."""
    from sklearn.cluster import KMeans

    x = l2_normalise(features)
    model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x)
    dist = np.linalg.norm(x - model.cluster_centers_[model.labels_], axis=1)
    return model.labels_.astype(np.int32), model.cluster_centers_.astype(np.float32), dist


def purity(labels: np.ndarray, assignment: np.ndarray) -> float:
    """The share of points whose cluster's majority label is their own."""
    table = contingency(labels, assignment)
    return float(table.max(axis=0).sum() / table.sum())


def nmi(labels: np.ndarray, assignment: np.ndarray) -> float:
    """Normalised mutual information between labels and clusters: I / mean(H_labels,
    H_clusters), as scikit-learn's default (1 when both are a single class)."""
    table = contingency(labels, assignment).astype(np.float64)
    if table.shape[0] == table.shape[1] == 1 or table.size == 0:
        return 1.0
    n = table.sum()
    p, pa, pb = table / n, table.sum(1) / n, table.sum(0) / n
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz])).sum())
    ha, hb = -(pa * np.log(pa)).sum(), -(pb * np.log(pb)).sum()
    if ha == 0 or hb == 0:
        return 1.0 if ha == hb else 0.0
    return float(max(mi, 0.0) / ((ha + hb) / 2))


def nearest_to_centre(assignment: np.ndarray, dist: np.ndarray, cluster: int,
                      n: int = 12) -> np.ndarray:
    """Positions of the ``n`` members of ``cluster`` closest to its centre."""
    members = np.flatnonzero(assignment == cluster)
    return members[np.argsort(dist[members], kind="stable")[:n]]


def flows(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``[k_before, k_after]`` counts of images moving from one clustering to the next."""
    kb, ka = int(before.max()) + 1, int(after.max()) + 1
    out = np.zeros((kb, ka), np.int64)
    np.add.at(out, (before, after), 1)
    return out


def match_clusters(assignments: list[np.ndarray]) -> list[np.ndarray]:
    """The same clusterings renumbered so that a cluster keeps its number from one to the
    next: each clustering's clusters are matched one to one with the previous (renumbered)
    one's by the most images in common (the Hungarian assignment on their overlap counts);
    clusters left without a partner get the smallest numbers not taken. The first keeps its
    numbers. Images and cluster memberships are unchanged, only the names."""
    from scipy.optimize import linear_sum_assignment

    out: list[np.ndarray] = []
    for current in assignments:
        current = np.asarray(current, np.int64)
        if not out or not current.size:
            out.append(current)
            continue
        overlap = flows(out[-1], current)  # [previous, current]
        rows, cols = linear_sum_assignment(-overlap)
        names = {int(c): int(r) for r, c in zip(rows, cols) if overlap[r, c] > 0}
        free = (n for n in range(int(current.max()) + int(out[-1].max()) + 2)
                if n not in set(names.values()))
        for c in range(int(current.max()) + 1):
            if c not in names:
                names[c] = next(free)
        lookup = np.array([names[c] for c in range(int(current.max()) + 1)], np.int64)
        out.append(lookup[current])
    return out


def confusion(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """``[true, predicted]`` counts (pairs outside ``0..n_classes-1`` are left out)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    keep = (labels >= 0) & (labels < n_classes) & (predictions >= 0) & \
        (predictions < n_classes)
    out = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(out, (labels[keep], predictions[keep]), 1)
    return out
