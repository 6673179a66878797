"""Why two images are similar, by channel: the score of a pair split exactly over the
channels of the compared layer, and each channel's share split over the pixels of both
images.

With per-position features ``A_i`` and ``B_j`` (see :mod:`vizkit.compute.pairmaps`), pooled
``f_A = mean_i A_i``, the dot product is a sum over channels ``c`` as well as positions:

    f_A . f_B = sum_c f_A[c] f_B[c] = sum_c sum_i A_i[c] f_B[c] / n_A

so channel ``c`` contributes ``C_c = f_A[c] f_B[c]`` (cosine: divided by ``|f_A| |f_B|``),
``sum_c C_c`` is the score, and ``C_c`` splits over the query's positions as
``A_i[c] f_B[c] / n_A`` and over the result's as ``B_j[c] f_A[c] / n_B``. Zeroing a channel in
both images lowers the dot product by exactly its ``C_c``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vizkit.compute.pairmaps import EPS, EXACT_METRICS, NotDecomposableError, SpatialFeatures


@dataclass(frozen=True)
class ChannelSplit:
    """Each channel's contribution ``[D]`` to ``score`` (they sum to it)."""

    contributions: np.ndarray
    score: float

    def most_for(self, n: int) -> list[int]:
        """The ``n`` channels that add the most to the score (positive contributions)."""
        order = np.argsort(-self.contributions, kind="stable")[:n]
        return [int(c) for c in order if self.contributions[c] > 0]

    def most_against(self, n: int) -> list[int]:
        """The ``n`` channels that take the most from the score (negative contributions)."""
        order = np.argsort(self.contributions, kind="stable")[:n]
        return [int(c) for c in order if self.contributions[c] < 0]


def _norm(a: SpatialFeatures, b: SpatialFeatures, metric: str) -> float:
    if metric not in EXACT_METRICS:
        raise NotDecomposableError(f"No exact split over channels exists for {metric}; use "
                                   "the cosine split of the same features.")
    if metric == "dot":
        return 1.0
    return max(float(np.linalg.norm(a.pooled)), EPS) * max(float(np.linalg.norm(b.pooled)), EPS)


def channel_split(a: SpatialFeatures, b: SpatialFeatures, metric: str) -> ChannelSplit:
    """The exact split of the ``metric`` (cosine or dot) score of ``a`` and ``b`` over the
    channels of their layer."""
    contributions = a.pooled * b.pooled / _norm(a, b, metric)
    return ChannelSplit(contributions, float(contributions.sum()))


def channel_maps(a: SpatialFeatures, b: SpatialFeatures, metric: str, channel: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Where channel ``channel``'s contribution lies: its map on the query ``[ha, wa]`` and
    on the result ``[hb, wb]``, each summing to the channel's contribution."""
    norm = _norm(a, b, metric)
    on_a = a.positions[:, channel] * b.pooled[channel] / (len(a.positions) * norm)
    on_b = b.positions[:, channel] * a.pooled[channel] / (len(b.positions) * norm)
    return on_a.reshape(a.h, a.w), on_b.reshape(b.h, b.w)
