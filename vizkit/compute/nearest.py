"""Nearest-neighbour search: top-k of queries against a feature matrix under a metric."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vizkit.api.metrics import Metric
from vizkit.compute.indexes import ExactSearcher, unit_rows


def searcher_for(metric: Metric, database: np.ndarray) -> ExactSearcher:
    """An exact searcher over an in-memory matrix (unit rows made once for cosine)."""
    return ExactSearcher(metric, database,
                         unit_rows(database) if metric.normalized_dot else None)


def topk(metric: Metric, queries: np.ndarray, database: np.ndarray, k: int,
         exclude: np.ndarray | None = None, searcher: ExactSearcher | None = None
         ) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``[q, k]`` and metric values ``[q, k]`` of the best ``k`` database rows.

    ``exclude[i]`` (optional) is a database index to leave out of query ``i``'s list (the
    query itself). ``searcher`` is ``searcher_for(metric, database)``, passed to reuse it.
    """
    searcher = searcher or searcher_for(metric, database)
    exclude = None if exclude is None else np.asarray(exclude, np.int64)
    return searcher.search(np.asarray(queries, np.float32), k, exclude)


def all_pairs_topk(metric: Metric, features: np.ndarray, k: int, block: int = 1024,
                   progress: Callable[[int], None] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` neighbours of every row among all other rows, in blocks of queries."""
    n = features.shape[0]
    k = min(k, n - 1)
    searcher = searcher_for(metric, features)
    nbr = np.empty((n, k), np.int32)
    score = np.empty((n, k), np.float32)
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        i, s = topk(metric, features[lo:hi], features, k, exclude=np.arange(lo, hi),
                    searcher=searcher)
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
