"""The image atlas's geometry: a 2-D layout put in a square world, and at each zoom level a
grid whose cells show one image each.

The world is ``WORLD`` units wide; level ``z`` cuts it into ``2**z`` tiles per side, each
``cells`` cells wide, so a level's grid has ``cells * 2**z`` cells per side. At every level
but the deepest a cell shows the image nearest its centre among the images whose point lies
in it (an empty cell stays empty: the map never shows an image where there is none). At the
deepest level every image has a cell of its own: its own cell when it is the one nearest
that cell's centre, else the free cell nearest to its point, searched ring by ring.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

WORLD = 256.0  # the world's width; a tile of level z is WORLD / 2**z wide
MARGIN = 0.02  # share of the world left free around the layout
MAX_LEVEL = 10  # 8 * 2**10 = 8192 cells per side: 67M cells at the deepest level


def world_coords(xy: np.ndarray, bounds: np.ndarray | None = None) -> np.ndarray:
    """The layout ``xy`` ``[n, 2]`` placed in the world square ``[0, WORLD)``, keeping its
    aspect, centred, with y pointing down (the tiles' row order): float32 ``[n, 2]``.
    ``bounds`` (``[[x0, y0], [x1, y1]]``, enclosing the layout) places it as part of a larger
    frame: the frames of a training run's aligned layouts share one."""
    xy = np.asarray(xy, np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or not len(xy):
        raise ValueError("a layout is an [n, 2] array of at least one point")
    if not np.isfinite(xy).all():
        raise ValueError(f"the layout has {int((~np.isfinite(xy)).any(1).sum()):,} points "
                         "without finite coordinates")
    lo, hi = (xy.min(0), xy.max(0)) if bounds is None else np.asarray(bounds, np.float64)
    span = max(float((hi - lo).max()), 1e-12)
    unit = (xy - (lo + hi) / 2) / span  # in [-1/2, 1/2], the longer side filling it
    unit[:, 1] = -unit[:, 1]
    out = (0.5 + unit * (1 - 2 * MARGIN)) * WORLD
    return np.clip(out, 0, np.nextafter(WORLD, 0)).astype(np.float32)


def grid_size(level: int, cells: int) -> int:
    """Cells per side of ``level``'s grid."""
    return cells * 2 ** level


def deepest_level(world: np.ndarray, cells: int, crowded: float = 0.25) -> int:
    """The shallowest level at which every image can have a cell of its own with few moved:
    its grid has at least two cells per image and at most ``crowded`` of the images share
    their cell with another (dense clusters otherwise spread far); at most
    :data:`MAX_LEVEL`."""
    n = len(world)
    level = 0
    while level < MAX_LEVEL:
        size = grid_size(level, cells)
        if size * size >= 2 * n:
            col, row = home_cells(world, size)
            if n - len(np.unique(row * size + col)) <= crowded * n:
                break
        level += 1
    return level


def home_cells(world: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each point's cell ``(col, row)`` in a grid of ``size`` cells per side."""
    scale = size / WORLD
    cr = np.floor(np.asarray(world, np.float64) * scale).astype(np.int64)
    cr = np.clip(cr, 0, size - 1)
    return cr[:, 0], cr[:, 1]


def _centre_distance(world: np.ndarray, col: np.ndarray, row: np.ndarray,
                     size: int) -> np.ndarray:
    """Squared distance (in world units) of each point to the centre of the cell given."""
    w = WORLD / size
    dx = world[:, 0].astype(np.float64) - (col + 0.5) * w
    dy = world[:, 1].astype(np.float64) - (row + 0.5) * w
    return dx * dx + dy * dy


def representatives(world: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each non-empty cell of a ``size``-wide grid (as ``row * size + col``, ascending)
    the image nearest the cell's centre among those inside it (the lower index on a tie)."""
    col, row = home_cells(world, size)
    cell = row * size + col
    order = np.lexsort((np.arange(len(cell)), _centre_distance(world, col, row, size), cell))
    first = np.ones(len(order), bool)
    first[1:] = cell[order][1:] != cell[order][:-1]
    return cell[order][first], order[first]


def shown_in_cell(world: np.ndarray, size: int, col: int, row: int) -> int | None:
    """The image cell ``(col, row)`` of a ``size``-wide grid shows above the deepest level:
    :func:`representatives`' choice for that one cell, or None when it is empty."""
    pcol, prow = home_cells(world, size)
    inside = np.flatnonzero((pcol == col) & (prow == row))
    if not len(inside):
        return None
    d = _centre_distance(world[inside], pcol[inside], prow[inside], size)
    return int(inside[np.argmin(d)])  # the first, so the lower index, on a tie


def own_cells(world: np.ndarray, size: int) -> np.ndarray:
    """A cell (``row * size + col``) for every image, no two alike: an image keeps its own
    cell where it is nearest that cell's centre; each other image, in index order, takes the
    free cell whose centre is nearest its point (searched ring by ring around its cell)."""
    n = len(world)
    if n > size * size:
        raise ValueError(f"{n:,} images do not fit a grid of {size}x{size} cells")
    col, row = home_cells(world, size)
    taken = np.zeros(size * size, np.bool_)
    cells, winners = representatives(world, size)
    taken[cells] = True
    out = np.full(n, -1, np.int64)
    out[winners] = cells
    todo = np.flatnonzero(out < 0)
    if len(todo):
        scale = size / WORLD
        px = world[todo, 0].astype(np.float64) * scale
        py = world[todo, 1].astype(np.float64) * scale
        out[todo] = _spiral_assign(px, py, col[todo], row[todo], taken, size)
    return out


@functools.cache
def _compiled_spiral():
    """The ring-by-ring search, compiled by numba (cached on disk beside the module)."""
    import numba

    @numba.njit(cache=True)
    def spiral(px, py, col, row, taken, size):
        out = np.empty(len(px), np.int64)
        for i in range(len(px)):
            best, best_d = -1, np.inf
            r = 1
            while True:
                # every cell of ring r is at least r - 1 cells from the point: stop once
                # that is farther than the best cell found
                if best >= 0 and (r - 1.0) ** 2 > best_d:
                    break
                for dr in range(-r, r + 1):
                    y = row[i] + dr
                    if y < 0 or y >= size:
                        continue
                    step = 1 if (dr == -r or dr == r) else 2 * r
                    for dc in range(-r, r + 1, step):
                        x = col[i] + dc
                        if x < 0 or x >= size or taken[y * size + x]:
                            continue
                        d = (px[i] - x - 0.5) ** 2 + (py[i] - y - 0.5) ** 2
                        if d < best_d:
                            best, best_d = y * size + x, d
                r += 1
            taken[best] = True
            out[i] = best
        return out

    return spiral


def _spiral_assign(px, py, col, row, taken, size) -> np.ndarray:
    return _compiled_spiral()(px, py, col.astype(np.int64), row.astype(np.int64), taken,
                              np.int64(size))


@dataclass(frozen=True)
class TileContent:
    """The images one tile shows: ``slots`` (cell index within the tile, row-major) and the
    image index in each."""

    level: int
    x: int
    y: int
    slots: np.ndarray
    images: np.ndarray


def tiles_of(cells: np.ndarray, images: np.ndarray, level: int, cells_per_tile: int
             ) -> list[TileContent]:
    """The non-empty tiles of a level whose cells (``row * size + col``) show ``images``,
    in the order ``(y, x)``."""
    size = grid_size(level, cells_per_tile)
    row, col = np.divmod(np.asarray(cells, np.int64), size)
    ty, tx = row // cells_per_tile, col // cells_per_tile
    slot = (row % cells_per_tile) * cells_per_tile + col % cells_per_tile
    tile = ty * 2 ** level + tx
    order = np.lexsort((slot, tile))
    tile, slot, images = tile[order], slot[order], np.asarray(images)[order]
    starts = np.flatnonzero(np.r_[True, tile[1:] != tile[:-1]])
    ends = np.r_[starts[1:], len(tile)]
    return [TileContent(level, int(tile[a] % 2 ** level), int(tile[a] // 2 ** level),
                        slot[a:b], images[a:b]) for a, b in zip(starts, ends)]


def compose_tile(content: TileContent, thumbs: dict[int, np.ndarray], cells_per_tile: int,
                 cell_px: int, gap: int = 2) -> np.ndarray:
    """The tile's RGBA pixels ``[T, T, 4]`` (T = cells × cell_px): each image's thumbnail
    (RGB ``[h, w, 3]``, at most ``cell_px - gap`` on its longer side) centred in its cell,
    transparent around it so neighbouring images stay apart."""
    side = cells_per_tile * cell_px
    out = np.zeros((side, side, 4), np.uint8)
    for slot, image in zip(content.slots.tolist(), content.images.tolist()):
        thumb = thumbs[image]
        h, w = thumb.shape[:2]
        r, c = divmod(slot, cells_per_tile)
        top = r * cell_px + (cell_px - h) // 2
        left = c * cell_px + (cell_px - w) // 2
        out[top:top + h, left:left + w, :3] = thumb
        out[top:top + h, left:left + w, 3] = 255
    return out


def inside_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which of the points ``xy`` ``[n, 2]`` lie inside ``polygon`` ``[m, 2]`` (even-odd
    rule, the lasso's), as a boolean mask; points outside its bounding box are never
    tested edge by edge."""
    xy = np.asarray(xy, np.float64)
    poly = np.asarray(polygon, np.float64)
    out = np.zeros(len(xy), bool)
    if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
        return out
    lo, hi = poly.min(0), poly.max(0)
    near = np.flatnonzero(((xy >= lo) & (xy <= hi)).all(1))
    x, y = xy[near, 0], xy[near, 1]
    inside = np.zeros(len(near), bool)
    x1, y1 = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    for a, b, c, d in zip(x1, y1, x2, y2):
        crosses = (b > y) != (d > y)
        if crosses.any():
            at = a + (y - b) * (c - a) / np.where(d != b, d - b, 1.0)
            inside ^= crosses & (x < at)
    out[near] = inside
    return out
