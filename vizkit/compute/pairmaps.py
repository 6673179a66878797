"""Similarity maps, the numpy side (the model side is :mod:`vizkit.compute.similarity`): an
exact split of a similarity score over the positions of both images.

After Stylianou, Souvenir and Pless, "Visualizing Deep Similarity Networks" (WACV 2019),
with signed contributions. A layer's spatial features ``A_i`` (query, ``i`` over its
``h*w`` positions) and ``B_j`` (result) are pooled by global average, ``f = mean_i A_i``.
Because the pooled vector is a mean, the dot product splits over positions:

    dot:     M_A(i) = A_i . f_B / n_A                       sum_i M_A(i) = f_A . f_B
    cosine:  M_A(i) = A_i . f_B / (n_A |f_A| |f_B|)         sum_i M_A(i) = cos(f_A, f_B)

and symmetrically ``M_B(j)``. When the compared layer is an affine head on the pooled
features (``e = W f + b``: timm's ``pre_logits``, a linear embedding), the per-position
features are projected first (``P_i = W A_i + b``), whose mean is ``e`` — the sums still
equal the score, and contributions can be negative. Maps need not be square, and the two
images may have different sizes. Euclidean-type distances have no such additive split.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vizkit.errors import VizkitError

EXACT_METRICS = ("cosine", "dot")
EPS = 1e-12  # as F.normalize in the cosine metric: a zero vector scores 0


class NotDecomposableError(VizkitError):
    """The layer's score cannot be split exactly over positions (no spatial source, or a
    non-linear head between the spatial map and the compared vector)."""


@dataclass(frozen=True)
class SpatialFeatures:
    """One image's per-position features ``[h*w, D]`` (row-major over h, w; float32 as the
    model computed them), whose mean is the image's compared vector (float64), and the model
    input it came from (uint8, for drawing: ``[H, W]`` or ``[H, W, 3]``). Every map is a
    product with a float64 vector, so maps are computed in float64 whatever the positions'
    type."""

    positions: np.ndarray
    h: int
    w: int
    view: np.ndarray
    pooled: np.ndarray | None = field(default=None, repr=False, compare=False)
    """The compared vector (the positions' mean): given by a batch that computed it for all
    its images at once, else computed here."""

    def __post_init__(self):
        if self.pooled is None:
            object.__setattr__(self, "pooled", self.positions.mean(0, dtype=np.float64))


@dataclass(frozen=True)
class PositionBatch:
    """A batch's per-position features ``[N, h*w, D]`` (float32) and their means, the
    compared vectors ``[N, D]`` (float64), on the grid ``(h, w)``."""

    positions: np.ndarray
    pooled: np.ndarray
    h: int
    w: int


@dataclass(frozen=True)
class PairMaps:
    """The maps of one (query, result) pair: ``query`` ``[hq, wq]`` and ``result``
    ``[hr, wr]``; each sums to ``score``."""

    query: np.ndarray
    result: np.ndarray
    score: float


def pair_maps(a: SpatialFeatures, b: SpatialFeatures, metric: str) -> PairMaps:
    """Both maps of one pair under ``metric`` (``cosine`` or ``dot``)."""
    return query_maps(a, [b], metric)[0]


def query_maps(query: SpatialFeatures, results: list[SpatialFeatures],
               metric: str) -> list[PairMaps]:
    """The maps of a query against each of its results, in one batched computation."""
    if metric not in EXACT_METRICS:
        raise NotDecomposableError(
            f"No exact additive map exists for {metric}: a distance is not a sum over "
            "positions. Use the cosine map of the same features.")
    if not results:
        return []
    fq = query.pooled                                             # [D]
    fr = np.stack([r.pooled for r in results])                    # [k, D]
    mq = (query.positions @ fr.T).T / len(query.positions)        # [k, nq]
    mr = [r.positions @ fq / len(r.positions) for r in results]
    if metric == "cosine":
        denom = np.maximum(np.linalg.norm(fq), EPS) * np.maximum(np.linalg.norm(fr, axis=1), EPS)
        mq = mq / denom[:, None]
        mr = [m / d for m, d in zip(mr, denom)]
    return [PairMaps(q.reshape(query.h, query.w), m.reshape(r.h, r.w), float(q.sum()))
            for q, m, r in zip(mq, mr, results)]
