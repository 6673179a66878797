"""Exact search in blocks over (memory-mapped) matrices, exact re-ranking of an approximate
index's candidates, and recall against exact search — what every index plugin shares."""
from __future__ import annotations

import warnings

import numpy as np

from vizkit.api.metrics import Metric

# scores held at once (32 MB; with top-k's index and ordering temporaries about 130 MB):
# rows per block = this ÷ queries. Large enough for BLAS, small enough for a visitor's click.
BLOCK_SCORES = 1 << 23


def tensor_of(array: np.ndarray):
    """A float32 tensor over ``array`` without copying; a read-only (memory-mapped) array is
    wrapped as is — vizkit never writes into a stored matrix. (Imports torch: only metrics
    without a unit-vector form need it.)"""
    import torch

    array = np.asarray(array)
    if array.dtype != np.float32 or not array.flags.c_contiguous:
        array = np.ascontiguousarray(array, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "non-writable array"
        return torch.from_numpy(array)


def unit_rows(features: np.ndarray, block: int = 65_536) -> np.ndarray:
    """The rows scaled to unit length (zero rows stay zero), in blocks."""
    out = np.empty(features.shape, np.float32)
    for lo in range(0, len(features), block):
        part = np.asarray(features[lo: lo + block], np.float32)
        norms = np.linalg.norm(part, axis=1, keepdims=True)
        out[lo: lo + block] = part / np.maximum(norms, 1e-12)
    return out


def top_k(values: np.ndarray, k: int, best_high: bool) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the ``k`` best entries of each row, best first."""
    k = min(k, values.shape[1])
    if k <= 0:
        return np.zeros((len(values), 0), np.int64), np.zeros((len(values), 0), values.dtype)
    found = _top_k_above_block_bound(values, k, best_high)
    if found is not None:
        return found
    keyed = -values if best_high else values
    part = np.argpartition(keyed, k - 1, axis=1)[:, :k] if k < values.shape[1] else \
        np.broadcast_to(np.arange(values.shape[1]), values.shape).copy()
    order = np.argsort(np.take_along_axis(keyed, part, 1), axis=1, kind="stable")
    idx = np.take_along_axis(part, order, 1)
    return idx, np.take_along_axis(values, idx, 1)


def _top_k_above_block_bound(values: np.ndarray, k: int, best_high: bool,
                             blocks_per_k: int = 8) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`top_k` without ordering whole rows: the ``k``-th best of the best values of
    ``8k`` blocks of columns is a bound that at least ``k`` entries reach (one per block), so
    every entry of the top ``k`` reaches it; only the few entries that do are sorted, ties
    by column. Several times faster than a row partition (which writes an index per entry),
    most of all on first use of its memory. None where rows are too short for it or too
    few blocks hold a number (NaN), for :func:`top_k`'s partition."""
    q, n = values.shape
    width = n // (k * blocks_per_k)
    if width < 4:
        return None
    blocks = values[:, : k * blocks_per_k * width].reshape(q, k * blocks_per_k, width)
    if best_high:
        bound = -np.partition(-blocks.max(2), k - 1, axis=1)[:, k - 1]
    else:
        bound = np.partition(blocks.min(2), k - 1, axis=1)[:, k - 1]
    if np.isnan(bound).any():
        return None
    reach = values >= bound[:, None] if best_high else values <= bound[:, None]
    rows, cols = np.divmod(np.flatnonzero(reach), n)
    found = values[rows, cols]
    order = np.lexsort((-found if best_high else found, rows))  # stable: ties by column
    counts = np.bincount(rows, minlength=q)
    first = (np.cumsum(counts) - counts)[:, None] + np.arange(k)
    pick = order[first]
    return cols[pick].astype(np.int64), found[pick]


def metric_values(metric: Metric, rows: np.ndarray, queries: np.ndarray,
                  prepared: bool = False) -> np.ndarray:
    """``[q, rows]`` metric values: numpy for a metric that is a dot product of unit
    vectors, else the metric's own (torch) functions — ranking values when ``prepared``
    (finalised later), exact ones otherwise."""
    if metric.normalized_dot:
        return unit_rows(np.asarray(queries, np.float32)) @ unit_rows(rows).T
    import torch

    with torch.inference_mode():
        make = metric.scorer if prepared else metric.exact
        return make(tensor_of(rows))(tensor_of(queries)).numpy()


class ExactSearcher:
    """Exact top-k under a metric over a matrix, in blocks of database rows sized so that a
    search never holds more than ``scores`` values at once, whatever the number of queries.
    ``unit`` (unit-length rows, for a metric with ``normalized_dot``) replaces normalising
    the matrix, and its search is numpy alone (BLAS reads at memory speed)."""

    def __init__(self, metric: Metric, features: np.ndarray, unit: np.ndarray | None = None,
                 scores: int = BLOCK_SCORES):
        self.metric, self.features, self.unit, self.scores = metric, features, unit, scores

    def _scores(self, q: np.ndarray, lo: int, hi: int) -> np.ndarray:
        if self.unit is not None:
            return unit_rows(q) @ np.asarray(self.unit[lo:hi]).T
        return metric_values(self.metric, self.features[lo:hi], q, prepared=True)

    def search(self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Indices and exact metric values ``[q, k]``; ``exclude[i]`` is left out of query
        ``i``'s list (the query itself)."""
        n = len(self.features)
        k = min(k, n - (exclude is not None))
        block = max(4096, self.scores // max(1, len(queries)))
        best = self.metric.higher_is_more_similar
        q = np.ascontiguousarray(np.asarray(queries, np.float32).reshape(len(queries), -1))
        top_v = top_i = None
        for lo in range(0, n, block):
            values = self._scores(q, lo, min(n, lo + block))
            if exclude is not None:
                inside = (exclude >= lo) & (exclude < lo + values.shape[1])
                rows = np.flatnonzero(inside)
                values[rows, exclude[rows] - lo] = -np.inf if best else np.inf
            i, v = top_k(values, k, best)
            i = i + lo
            if top_v is not None:
                j, v = top_k(np.concatenate([top_v, v], 1), k, best)
                i = np.take_along_axis(np.concatenate([top_i, i], 1), j, 1)
            top_v, top_i = v, i
        if self.metric.finalize is not None and self.unit is None:
            import torch

            with torch.inference_mode():
                top_v = self.metric.finalize(tensor_of(top_v), tensor_of(q)).numpy()
        return top_i.astype(np.int64), np.asarray(top_v, np.float32)


def rerank(metric: Metric, features: np.ndarray, queries: np.ndarray, candidates: np.ndarray,
           k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of each query's ``candidates`` by the metric's exact values (rows
    gathered from ``features``); a candidate -1 (none found) is dropped."""
    best = metric.higher_is_more_similar
    out_i = np.full((len(queries), k), -1, np.int64)
    out_v = np.full((len(queries), k), np.nan, np.float32)
    for r, (q, cand) in enumerate(zip(queries, candidates)):
        cand = np.sort(np.unique(cand[cand >= 0]))
        if not len(cand):
            continue
        rows = np.asarray(features[cand], np.float32)
        q = np.asarray(q, np.float32)[None]
        values = metric_values(metric, rows, q)[0]
        order = np.argsort(-values if best else values, kind="stable")[:k]
        out_i[r, :len(order)] = cand[order]
        out_v[r, :len(order)] = values[order]
    return out_i, out_v


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """The share of the true top-k that was found, averaged over queries."""
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in zip(found, truth)]))
