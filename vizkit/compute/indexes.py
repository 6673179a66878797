"""Exact search in blocks over (memory-mapped) matrices, exact re-ranking of an approximate
index's candidates, and recall against exact search — what every index plugin shares."""
from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from vizkit.api.metrics import Metric

BLOCK_SCORES = 1 << 26  # scores held at once (256 MB): rows per block = this ÷ queries


def tensor_of(array: np.ndarray) -> torch.Tensor:
    """A float32 tensor over ``array`` without copying; a read-only (memory-mapped) array is
    wrapped as is — vizkit never writes into a stored matrix."""
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


class ExactSearcher:
    """Exact top-k under a metric over a matrix, in blocks of database rows sized so that a
    search never holds more than ``scores`` values at once, whatever the number of queries.
    ``unit`` (unit-length rows, for a metric with ``normalized_dot``) replaces normalising
    the matrix."""

    def __init__(self, metric: Metric, features: np.ndarray, unit: np.ndarray | None = None,
                 scores: int = BLOCK_SCORES):
        self.metric, self.features, self.unit, self.scores = metric, features, unit, scores

    def _scores(self, q: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        if self.unit is not None:  # BLAS's threaded gemv/gemm reads at memory speed
            unit_q = F.normalize(q, dim=1, eps=1e-12).numpy()
            return torch.from_numpy(unit_q @ np.asarray(self.unit[lo:hi]).T)
        return self.metric.scorer(tensor_of(self.features[lo:hi]))(q)

    def search(self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Indices and exact metric values ``[q, k]``; ``exclude[i]`` is left out of query
        ``i``'s list (the query itself)."""
        n = len(self.features)
        k = min(k, n - (exclude is not None))
        block = max(4096, self.scores // max(1, len(queries)))
        best = self.metric.higher_is_more_similar
        q = tensor_of(np.asarray(queries, np.float32).reshape(len(queries), -1))
        top_v = top_i = None
        with torch.inference_mode():
            for lo in range(0, n, block):
                values = self._scores(q, lo, min(n, lo + block))
                if exclude is not None:
                    inside = (exclude >= lo) & (exclude < lo + values.shape[1])
                    rows = np.flatnonzero(inside)
                    if len(rows):
                        values[torch.from_numpy(rows), torch.from_numpy(exclude[rows] - lo)] = \
                            -torch.inf if best else torch.inf
                v, i = torch.topk(values, min(k, values.shape[1]), dim=1, largest=best)
                i = i + lo
                if top_v is not None:
                    v, j = torch.topk(torch.cat([top_v, v], 1), k, dim=1, largest=best)
                    i = torch.gather(torch.cat([top_i, i], 1), 1, j)
                top_v, top_i = v, i
            if self.metric.finalize is not None and self.unit is None:
                top_v = self.metric.finalize(top_v, q)
        return top_i.numpy().astype(np.int64), top_v.numpy()


def rerank(metric: Metric, features: np.ndarray, queries: np.ndarray, candidates: np.ndarray,
           k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of each query's ``candidates`` by the metric's exact values (rows
    gathered from ``features``); a candidate -1 (none found) is dropped."""
    best = metric.higher_is_more_similar
    out_i = np.full((len(queries), k), -1, np.int64)
    out_v = np.full((len(queries), k), np.nan, np.float32)
    with torch.inference_mode():
        for r, (q, cand) in enumerate(zip(queries, candidates)):
            cand = np.unique(cand[cand >= 0])
            if not len(cand):
                continue
            rows = tensor_of(np.asarray(features[np.sort(cand)], np.float32))
            values = metric.exact(rows)(tensor_of(np.asarray(q, np.float32)[None]))[0]
            order = torch.argsort(values, descending=best)[:k].numpy()
            out_i[r, :len(order)] = np.sort(cand)[order]
            out_v[r, :len(order)] = values.numpy()[order]
    return out_i, out_v


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """The share of the true top-k that was found, averaged over queries."""
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in zip(found, truth)]))
