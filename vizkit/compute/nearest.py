"""Nearest-neighbour search: top-k of queries against a feature matrix under a metric."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from vizkit.api.metrics import Metric
from vizkit.compute.indexes import tensor_of


def topk(metric: Metric, queries: np.ndarray, database: np.ndarray, k: int,
         exclude: np.ndarray | None = None, scorer=None) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``[q, k]`` and metric values ``[q, k]`` of the best ``k`` database rows.

    ``exclude[i]`` (optional) is a database index to leave out of query ``i``'s list (the
    query itself). ``scorer`` is ``metric.scorer(database)``, passed to reuse it.
    """
    scorer = scorer or metric.scorer(tensor_of(database))
    q = tensor_of(queries)
    values = scorer(q)
    best = metric.higher_is_more_similar
    if exclude is not None:
        values[torch.arange(len(queries)), torch.from_numpy(exclude)] = \
            -torch.inf if best else torch.inf
    k = min(k, database.shape[0] - (exclude is not None))
    scores, idx = torch.topk(values, k, dim=1, largest=best, sorted=True)
    if metric.finalize is not None:
        scores = metric.finalize(scores, q)
    return idx.numpy(), scores.numpy()


def all_pairs_topk(metric: Metric, features: np.ndarray, k: int, block: int = 1024,
                   progress: Callable[[int], None] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` neighbours of every row among all other rows, in blocks of queries."""
    n = features.shape[0]
    k = min(k, n - 1)
    scorer = metric.scorer(tensor_of(features))
    nbr = np.empty((n, k), np.int32)
    score = np.empty((n, k), np.float32)
    with torch.inference_mode():
        for lo in range(0, n, block):
            hi = min(lo + block, n)
            i, s = topk(metric, features[lo:hi], features, k,
                        exclude=np.arange(lo, hi), scorer=scorer)
            nbr[lo:hi], score[lo:hi] = i, s
            if progress:
                progress(hi - lo)
    return nbr, score


def retrieval_score(query_label: int, result_labels: np.ndarray) -> float:
    """nDCG of the results: same-class hits, each weighted by 1/log2(rank + 1).

    1.0 when every result has the query's class, 0.0 when none has; NaN when unlabelled.
    """
    if query_label < 0 or len(result_labels) == 0:
        return float("nan")
    weights = 1.0 / np.log2(np.arange(2, len(result_labels) + 2))
    return float((weights * (np.asarray(result_labels) == query_label)).sum() / weights.sum())
