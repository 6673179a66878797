"""The order of the atlas view's spatial index, computed once by the atlas job instead of by
every browser that opens the atlas.

regl-scatterplot finds the points under a lasso or the pointer through a KDBush index of
the points it draws, and builds that index itself on every draw unless given one: at a
million points, 0.8 s of the first frame (and of every change of colour) on two cores.
KDBush's index is the points reordered as a k-d tree kept in one array: a segment
``[left, right]`` with more than ``node_size`` points is split at its middle position
``m = (left + right) // 2``, whose point is the segment's median on the segment's axis
(everything before it no greater, everything after no smaller), and each half is split in
turn on the other axis, x first. Sorting each segment on its axis satisfies that, so the
order is made level by level with one stable sort per level. The browser writes the
points' coordinates in this order into KDBush's buffer format and hands it to the
scatterplot (``vizkit/app/atlas_view.js``)."""
from __future__ import annotations

import numpy as np

KD_NODE_SIZE = 16  # regl-scatterplot's own: segments this small are scanned, not split


def view_coords(x: np.ndarray, y: np.ndarray, world: float) -> tuple[np.ndarray, np.ndarray]:
    """The coordinates the browser draws (float32, exactly as atlas_view.js computes them
    from the float32 world coordinates): x from [0, world] to [-1, 1], y flipped."""
    x64 = np.asarray(x, np.float32).astype(np.float64)
    y64 = np.asarray(y, np.float32).astype(np.float64)
    return (2 * x64 / world - 1).astype(np.float32), (1 - 2 * y64 / world).astype(np.float32)


def kd_order(nx: np.ndarray, ny: np.ndarray, node_size: int = KD_NODE_SIZE) -> np.ndarray:
    """The point indices in KDBush's order for coordinates ``nx, ny`` (uint32)."""
    coords = (np.asarray(nx), np.asarray(ny))
    n = len(coords[0])
    order = np.arange(n)
    lefts, rights, axis = np.array([0]), np.array([n - 1]), 0
    while True:
        split = rights - lefts > node_size
        lefts, rights = lefts[split], rights[split]
        if not len(lefts):
            return order.astype(np.uint32)
        sizes = rights - lefts + 1
        segment = np.repeat(np.arange(len(lefts)), sizes)
        starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
        positions = np.arange(len(segment)) - starts + np.repeat(lefts, sizes)
        by_key = np.lexsort((coords[axis][order[positions]], segment))
        order[positions] = order[positions[by_key]]
        mids = (lefts + rights) >> 1
        lefts, rights = np.concatenate([lefts, mids + 1]), np.concatenate([mids - 1, rights])
        axis = 1 - axis
