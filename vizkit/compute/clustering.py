"""Clusters of a layer's features (not of the 2-D layout), and how they match the labels."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix


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
    table = contingency_matrix(labels, assignment)
    return float(table.max(axis=0).sum() / table.sum())


def nmi(labels: np.ndarray, assignment: np.ndarray) -> float:
    """Normalised mutual information between labels and clusters (scikit-learn's)."""
    return float(normalized_mutual_info_score(labels, assignment))


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


def confusion(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """``[true, predicted]`` counts."""
    return confusion_matrix(labels, predictions, labels=np.arange(n_classes))
