"""Retrieval metrics of an embedding (pytorch-metric-learning's AccuracyCalculator) and the
per-anchor closest positive / closest negative similarities the triplet scatter draws."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vizkit.compute.metric_names import METRIC_NAMES, RECALL_KS  # noqa: F401  (re-exported)
from vizkit.errors import VizkitError


def _calculator(ks: tuple[int, ...], neighbours: int):
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    class RecallAtK(AccuracyCalculator):
        """AccuracyCalculator plus Recall@K: a same-class image among the K nearest."""

        def requires_knn(self):
            return super().requires_knn() + [f"recall_at_{k}" for k in ks]

    for k in ks:
        def calc(self, knn_labels, query_labels, k=k, **_kw):
            hit = (knn_labels[:, :k] == query_labels[:, None]).any(dim=1)
            return hit.float().mean().item()
        setattr(RecallAtK, f"calculate_recall_at_{k}", calc)

    def kmeans(x: torch.Tensor, n_clusters: int) -> torch.Tensor:
        return torch.from_numpy(cluster_for_nmi(x.numpy(), n_clusters))

    return RecallAtK(include=("mean_average_precision_at_r", "NMI",
                              *[f"recall_at_{k}" for k in ks]),
                     device=torch.device("cpu"), kmeans_func=kmeans,
                     knn_func=_cosine_knn, k=neighbours)


def _cosine_knn(query: torch.Tensor, k: int, reference: torch.Tensor,
                ref_includes_query: bool = False, block: int = 2048):
    """AccuracyCalculator's ``knn_func``: the k most cosine-similar references per query,
    leaving each query itself out when ``reference`` starts with the queries (PML's own
    CustomKNN finds k+1 and then masks, which costs more than the search at 10,000)."""
    q, r = F.normalize(query, dim=1), F.normalize(reference, dim=1)
    k = min(k, len(r) - (1 if ref_includes_query else 0))
    sims, idx = [], []
    for lo in range(0, len(q), block):
        s = q[lo: lo + block] @ r.T
        if ref_includes_query:
            rows = torch.arange(s.shape[0])
            s[rows, rows + lo] = float("-inf")
        d, i = torch.topk(s, k, dim=1)
        sims.append(d)
        idx.append(i)
    return torch.cat(sims), torch.cat(idx)


MANY_CLUSTERS = 256  # beyond this, k-means for NMI runs on faiss (SOP: 11,316 classes)


def cluster_for_nmi(x: np.ndarray, n_clusters: int) -> np.ndarray:
    """k-means assignments with one cluster per class, for NMI: scikit-learn's (one run,
    seeded), or faiss's (20 iterations, seeded) for thousands of clusters, where
    scikit-learn would take many minutes per evaluation."""
    if n_clusters > MANY_CLUSTERS:
        import faiss

        x = np.ascontiguousarray(x, dtype=np.float32)
        km = faiss.Kmeans(x.shape[1], n_clusters, niter=20, seed=0, verbose=False,
                          min_points_per_centroid=1)
        km.train(x)
        return km.index.search(x, 1)[1][:, 0].astype(np.int64)
    from sklearn.cluster import KMeans

    return KMeans(n_clusters, n_init=1, random_state=0).fit_predict(x)


MAX_NEIGHBOUR_ENTRIES = 60_000_000  # n x R neighbour lists MAP@R needs (~1 GB at this size)


def retrieval_metrics(features: np.ndarray, labels: np.ndarray,
                      ks: tuple[int, ...] = RECALL_KS) -> dict[str, float]:
    """Recall@K for ``ks`` (default 1/2/4/8; Stanford Online Products uses 1/10/100/1000),
    MAP@R and NMI of ``features`` (cosine), every image a query against all the others
    (leave-one-out). MAP@R needs each image's R nearest (R = its class size - 1): a
    :class:`VizkitError` says to evaluate fewer images when that would not fit."""
    largest = int(np.bincount(labels[labels >= 0]).max()) if len(labels) else 0
    if len(labels) * max(largest, *ks) > MAX_NEIGHBOUR_ENTRIES:
        raise VizkitError(f"MAP@R over {len(labels):,} images needs {largest:,} neighbours "
                          "each, more memory than is sensible; evaluate fewer images "
                          "(--eval-images 10000).")
    # neighbours needed: R (< the largest class) for MAP@R, K for Recall@K -- not all n
    neighbours = max(largest, *ks, 1)
    acc = _calculator(tuple(ks), neighbours).get_accuracy(
        torch.from_numpy(np.ascontiguousarray(features)),
        torch.from_numpy(labels.astype(np.int64)))
    out = {f"recall_at_{k}": acc[f"recall_at_{k}"] for k in ks}
    out.update(map_at_r=acc["mean_average_precision_at_r"], nmi=acc["NMI"])
    return {k: round(float(v), 6) for k, v in out.items()}


@dataclass
class ClosestPairs:
    """For each anchor: its most similar same-class image and other-class image."""

    anchor: np.ndarray
    pos_idx: np.ndarray
    pos_sim: np.ndarray
    neg_idx: np.ndarray
    neg_sim: np.ndarray


def closest_pairs(features: np.ndarray, labels: np.ndarray, anchors: np.ndarray,
                  block: int = 1024) -> ClosestPairs:
    """Cosine similarity of each anchor to its closest positive and closest negative among
    all the other images of ``features``."""
    db = F.normalize(torch.from_numpy(np.ascontiguousarray(features)).float(), dim=1)
    lab = torch.from_numpy(labels.astype(np.int64))
    out = {k: [] for k in ("pos_idx", "pos_sim", "neg_idx", "neg_sim")}
    for lo in range(0, len(anchors), block):
        a = torch.from_numpy(anchors[lo: lo + block].astype(np.int64))
        sims = db[a] @ db.T
        same = lab[a][:, None] == lab[None, :]
        sims_pos = sims.masked_fill(~same, -2.0)
        sims_pos[torch.arange(len(a)), a] = -2.0  # not itself
        ps, pi = sims_pos.max(dim=1)
        ns, ni = sims.masked_fill(same, -2.0).max(dim=1)
        for k, v in zip(out, (pi, ps, ni, ns)):
            out[k].append(v.numpy())
    cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}
    return ClosestPairs(anchors, cat["pos_idx"].astype(np.int64), cat["pos_sim"].astype(np.float32),
                        cat["neg_idx"].astype(np.int64), cat["neg_sim"].astype(np.float32))
