"""The similarity maps of many (query, result) pairs of dataset images, each image forwarded
once, for jobs that score maps over a dataset (``vizkit findings``).

Holding every image's per-position features until its maps are made would make a job's
memory grow with the images it touches, and each batch's features would land in fresh
memory (a page fault per 4 KB). Instead a :class:`PairMapStream` holds the features of a
chunk's queries (forwarded first) and of the few images a later chunk needs; every other
image's result-side maps (``M_R(j) = R_j . f_Q / n``, see :mod:`vizkit.compute.pairmaps`)
are made as soon as its batch is forwarded, and its features dropped, so the next batch
reuses their memory. The query side of a pair (``M_Q(i) = Q_i . f_R / n``) needs only the
result's compared vector, which every image keeps.

The products are made in float32, the precision the model computes the positions in (each
map within ~1e-7 of its largest value of the float64 product, at a fifth of the time); the
compared vectors and the cosine's norms stay float64.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vizkit.api.datasets import Dataset
from vizkit.compute.pairmaps import EPS, EXACT_METRICS, NotDecomposableError

if TYPE_CHECKING:
    from vizkit.compute.similarity import Decomposer


def _dot_rows(positions: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``[p, n]``: each of ``p`` position arrays ``[n, D]`` times its vector ``[D]``, ÷ n
    (both float32: one matrix-vector product each)."""
    return np.matmul(positions, vectors[:, :, None])[..., 0] / positions.shape[1]


class PairMapStream:
    """Maps of chunks of queries against their results, one forward per image over all
    chunks: an image a later chunk needs is kept for it (``keep``), every other one is
    dropped once its chunk is done."""

    def __init__(self, decomposer: Decomposer, dataset: Dataset, metric: str,
                 batch_size: int = 64):
        if metric not in EXACT_METRICS:
            raise NotDecomposableError(f"No exact additive map exists for {metric}.")
        self.decomposer, self.dataset, self.metric = decomposer, dataset, metric
        self.batch_size = batch_size
        self._kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # image -> (positions, pooled)
        self.grid: tuple[int, int] | None = None

    def chunk(self, queries: np.ndarray, results: np.ndarray, keep: set[int]
              ) -> tuple[np.ndarray, np.ndarray]:
        """The maps of each query ``[B]`` (distinct) against each of its results ``[B, k]``
        (dataset positions): query side and result side, ``[B, k, h*w]`` (row-major over
        the grid :attr:`grid`). This chunk's images in ``keep`` (a later chunk needs them)
        stay, as do images kept before that it does not use; the others are dropped."""
        b, k = results.shape
        owner = np.repeat(np.arange(b), k)                 # the query of each pair
        here = np.unique(np.concatenate([queries, results.ravel()]))  # sorted
        at_q = np.searchsorted(here, queries)              # images as rows of `here`
        at_r = np.searchsorted(here, results.ravel())
        query_row = np.full(len(here), -1)
        query_row[at_q] = np.arange(b)
        wanted_later = np.isin(here, list(keep))
        kept = {i: self._kept[i] for i in here.tolist() if i in self._kept}
        known = np.isin(here, list(kept))
        missing = np.concatenate([np.flatnonzero(~known & (query_row >= 0)),
                                  np.flatnonzero(~known & (query_row < 0))])  # queries first
        pooled = pq = mr = fq32 = None  # [len(here), D]; the queries' [B, n, D]; [B*k, n]
        new_kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        done = np.zeros(b * k, bool)

        def place(rows: np.ndarray, positions, vectors: np.ndarray) -> None:
            """Record images ``rows`` of ``here``: ``positions(i)`` is the i-th's."""
            nonlocal pooled, pq
            if pooled is None:
                shape = positions(0).shape
                pooled = np.zeros((len(here), vectors.shape[1]))
                pq = np.zeros((b, *shape), np.float32)
            pooled[rows] = vectors
            known[rows] = True
            for i in np.flatnonzero(query_row[rows] >= 0).tolist():
                pq[query_row[rows[i]]] = positions(i)

        if kept:
            held = list(kept.values())
            place(np.searchsorted(here, list(kept)), lambda i: held[i][0],
                  np.stack([v for _, v in held]))
        slot_of = np.full(len(here), -1)
        for lo in range(0, len(missing), self.batch_size):
            rows = missing[lo: lo + self.batch_size]
            batch = self.decomposer.positions(list(self.dataset.batch_images(here[rows])))
            self._check_grid(batch.h, batch.w)
            place(rows, batch.positions.__getitem__, batch.pooled)
            for slot in np.flatnonzero(wanted_later[rows]).tolist():  # copies: the batch
                new_kept[int(here[rows[slot]])] = (batch.positions[slot].copy(),  # is freed
                                                   batch.pooled[slot])
            if known[at_q].all():  # every query known: this batch's results' maps, now
                if mr is None:
                    mr = np.zeros((b * k, batch.h * batch.w))
                    fq32 = pooled[at_q].astype(np.float32)
                slot_of[rows] = np.arange(len(rows))
                pairs = np.flatnonzero((slot_of[at_r] >= 0) & ~done)
                mr[pairs] = _dot_rows(batch.positions[slot_of[at_r[pairs]]],
                                      fq32[owner[pairs]])
                done[pairs] = True
                slot_of[rows] = -1
        fq, fr = pooled[at_q], pooled[at_r].reshape(b, k, -1)  # [B, D], [B, k, D]
        if mr is None:
            mr = np.zeros((b * k, pq.shape[1]))
        rest = np.flatnonzero(~done)  # results whose features are at hand: queries, kept
        rest = rest[np.argsort(at_r[rest], kind="stable")]  # by image: one product each
        starts = np.flatnonzero(np.diff(at_r[rest], prepend=-1))
        vectors = fq[owner[rest]].astype(np.float32)
        out = np.empty((len(rest), pq.shape[1]), np.float32)
        for lo, hi in zip(starts.tolist(), [*starts[1:].tolist(), len(rest)]):
            r = at_r[rest[lo]]
            positions = pq[query_row[r]] if query_row[r] >= 0 else kept[int(here[r])][0]
            np.matmul(vectors[lo:hi], positions.T, out=out[lo:hi])
        mr[rest] = out / pq.shape[1]
        mq = np.matmul(fr.astype(np.float32), pq.transpose(0, 2, 1)).astype(np.float64)
        mq /= pq.shape[1]
        mr = mr.reshape(b, k, -1)
        if self.metric == "cosine":
            denom = (np.maximum(np.linalg.norm(fq, axis=1), EPS)[:, None]
                     * np.maximum(np.linalg.norm(fr, axis=2), EPS))[..., None]
            mq, mr = mq / denom, mr / denom
        # what a later chunk needs, as arrays of their own (a view would hold its batch):
        # this chunk's images in keep, and those kept before that this chunk did not use
        new_kept.update({i: v for i, v in kept.items() if i in keep})
        self._kept = {i: v for i, v in self._kept.items() if i not in kept} | new_kept
        return mq, mr

    def _check_grid(self, h: int, w: int) -> None:
        if self.grid is None:
            self.grid = (h, w)
        elif self.grid != (h, w):
            raise ValueError(f"PairMapStream needs one grid, got {self.grid} and {(h, w)}")
