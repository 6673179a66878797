"""Where two embeddings disagree: per query, how much of A's top-k is in B's top-k."""
from __future__ import annotations

import numpy as np

BLOCK = 4096  # queries compared at once (block x k x k booleans)


def overlap_per_query(nbr_a: np.ndarray, nbr_b: np.ndarray, k: int) -> np.ndarray:
    """``[n]`` shares (0-1) of each query's first ``k`` neighbours under A that are also among
    its first ``k`` under B (neighbour lists ``[n, >=k]`` of image indices)."""
    a, b = np.asarray(nbr_a)[:, :k], np.asarray(nbr_b)[:, :k]
    out = np.empty(len(a), np.float64)
    for lo in range(0, len(a), BLOCK):
        same = a[lo: lo + BLOCK, :, None] == b[lo: lo + BLOCK, None, :]
        out[lo: lo + BLOCK] = same.any(axis=2).sum(axis=1) / k
    return out


def most_disagreeing(overlap: np.ndarray) -> np.ndarray:
    """Query positions from the least overlap to the most (ties: the lower position first)."""
    return np.argsort(overlap, kind="stable")
