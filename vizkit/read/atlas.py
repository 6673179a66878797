"""The read side of image atlases: which layout has one, its points (one Arrow file, read
once per process) and the narrower table the browser draws, its tiles by ``level/x/y`` (a
bounded number per request: a visitor's browser names them), the image a cell shows, and
the images inside a lasso."""
from __future__ import annotations

import mmap
import re

import numpy as np
import pyarrow as pa
import pyarrow.ipc

from vizkit.compute.atlas import WORLD, home_cells, inside_polygon, shown_in_cell
from vizkit.read.catalog import Reader
from vizkit.read.rows import AtlasRow, LayoutRow
from vizkit.store import shards

MAX_TILES_PER_REQUEST = 48  # the tiles of a full-screen view, twice over
MAX_LASSO_VERTICES = 512  # a lasso costs the server vertices x points inside its box
_TILE = re.compile(r"^(\d{1,2})/(\d{1,5})/(\d{1,5})$")


def atlas_for(reader: Reader, layout: LayoutRow) -> AtlasRow | None:
    """The atlas of ``layout``, if one is stored."""
    found = [a for a in reader.catalog().atlases if a.layout_key == layout.result_key]
    return found[-1] if found else None


def points(reader: Reader, atlas: AtlasRow) -> pa.Table:
    """The atlas's points (x, y, cell, label, cluster, predicted, correct, idx), verified
    and memory-mapped once per process."""
    def load() -> pa.Table:
        shard = reader.files(atlas.result_key)["points"]
        shards.verify(shard)
        with pa.memory_map(str(shard.path)) as source:
            return pa.ipc.open_file(source).read_all()
    return reader.memo("atlas points", atlas.result_key, load, keep=4)


BROWSER_COLUMNS = ("x", "y", "label", "cluster", "predicted", "correct", "kd")
FIRST_POINTS = 64_000  # above twice this, a first frame draws this many while the rest load


def _narrowest(column: pa.Array) -> pa.Array:
    """A small-integer column as int8 where its values fit (class, cluster and prediction
    numbers of most datasets), else unchanged."""
    values = column.to_numpy()
    if len(values) and values.min() >= -128 and values.max() <= 127:
        return pa.array(values.astype(np.int8))
    return column


def browser_points(reader: Reader, atlas: AtlasRow) -> pa.Table:
    """What the browser draws of the atlas's points, one row per image in index order:
    ``x, y`` (float32 world units), ``label``, ``cluster``, ``predicted``, ``correct`` (in the
    narrowest integers that hold them) and ``kd``; about 16 bytes an image instead of the
    stored 27. The cell and image number stay on the server (:func:`image_at`)."""
    def make() -> pa.Table:
        table = points(reader, atlas)
        return pa.table({name: _narrowest(table[name].combine_chunks())
                         if name in ("label", "cluster", "predicted") else table[name]
                         for name in BROWSER_COLUMNS if name in table.column_names})
    return reader.memo("atlas browser points", atlas.result_key, make, keep=4)


def browser_sample(reader: Reader, atlas: AtlasRow) -> pa.Table | None:
    """For an atlas of more than twice :data:`FIRST_POINTS` points, about that many of them
    for the browser's first frame (the rest take seconds to arrive and draw on software
    GL): every k-th point in the spatial index's order, which spreads them over the map as
    densely as the points themselves lie; None for smaller atlases, drawn whole at once."""
    table = browser_points(reader, atlas)
    if table.num_rows <= 2 * FIRST_POINTS or "kd" not in table.column_names:
        return None

    def make() -> pa.Table:
        step = -(-table.num_rows // FIRST_POINTS)
        rows = np.sort(table["kd"].to_numpy()[::step].astype(np.int64))
        return table.drop_columns(["kd"]).take(pa.array(rows))
    return reader.memo("atlas first points", atlas.result_key, make, keep=4)


def image_at(reader: Reader, atlas: AtlasRow, level: object, x: object,
             y: object) -> int | None:
    """The image the cell at world ``(x, y)`` of ``level`` shows, as the browser asks on a
    click: at the deepest level the image placed in that cell, above it the image nearest
    the cell's centre among those inside it (the pyramid's own choice); None for an empty
    cell or for anything that is not a point of this atlas."""
    try:
        level, x, y = int(level), float(x), float(y)
    except (TypeError, ValueError, OverflowError):
        return None
    if not (0 <= level < atlas.levels and 0 <= x < atlas.world and 0 <= y < atlas.world):
        return None
    size = atlas.cells * 2 ** level
    table = points(reader, atlas)
    (col,), (row,) = home_cells(np.array([[x, y]]) * (WORLD / atlas.world), size)
    if level == atlas.levels - 1:
        hit = np.flatnonzero(table["cell"].to_numpy() == row * size + col)
        found = hit[0] if len(hit) else None
    else:
        world = np.stack([table["x"].to_numpy(), table["y"].to_numpy()], 1)
        found = shown_in_cell(world * (WORLD / atlas.world), size, col, row)
    return None if found is None else int(table["idx"].to_numpy()[found])


def _level_index(reader: Reader, atlas: AtlasRow, level: int) -> list[tuple[str, np.ndarray]]:
    """Per pack of ``level``: its name and its index (tile number, offset, length)."""
    def load():
        files = reader.files(atlas.result_key)
        out = []
        for name in sorted(n for n in files if n.startswith(f"L{level}-")
                           and n.endswith(".index")):
            shard = files[name]
            shards.verify(shard)
            index = np.load(shard.path, allow_pickle=False)
            out.append((name[: -len(".index")], np.asarray(index, np.int64).reshape(-1, 3)))
        return out
    return reader.memo("atlas index", (atlas.result_key, level), load, keep=64)


def _pack(reader: Reader, atlas: AtlasRow, name: str) -> mmap.mmap:
    def load():
        shard = reader.files(atlas.result_key)[name]
        shards.verify(shard)
        with open(shard.path, "rb") as fh:
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    return reader.memo("atlas pack", (atlas.result_key, name), load, keep=256)


def parse_tile(key: object, atlas: AtlasRow) -> tuple[int, int, int] | None:
    """``(level, x, y)`` of a ``"level/x/y"`` a browser asked for, or None when it is not
    one of this atlas's tiles."""
    m = _TILE.match(key) if isinstance(key, str) else None
    if not m:
        return None
    z, x, y = (int(g) for g in m.groups())
    if z >= atlas.levels or x >= 2 ** z or y >= 2 ** z:
        return None
    return z, x, y


def tiles(reader: Reader, atlas: AtlasRow, keys: list) -> dict[str, bytes | None]:
    """The WebP bytes of the tiles ``keys`` names (None for an empty tile), the first
    :data:`MAX_TILES_PER_REQUEST` valid ones; other keys are left out."""
    out: dict[str, bytes | None] = {}
    for key in keys if isinstance(keys, list) else []:
        if len(out) >= MAX_TILES_PER_REQUEST:
            break
        where = parse_tile(key, atlas)
        if where is None or key in out:
            continue
        z, x, y = where
        number, out[key] = y * 2 ** z + x, None
        for name, index in _level_index(reader, atlas, z):
            at = np.searchsorted(index[:, 0], number)
            if at < len(index) and index[at, 0] == number:
                _, offset, length = index[at]
                out[key] = bytes(_pack(reader, atlas, name)[offset: offset + length])
                break
    return out


def lasso(reader: Reader, atlas: AtlasRow, polygon: object) -> np.ndarray:
    """The image indices whose points lie inside ``polygon`` (world coordinates, as the
    browser sends them: a list of ``[x, y]``); empty for anything that is not a polygon."""
    try:
        poly = np.asarray(polygon, np.float64)
    except (TypeError, ValueError):
        return np.zeros(0, np.int64)
    if poly.ndim != 2 or poly.shape[1:] != (2,) or not 3 <= len(poly) <= MAX_LASSO_VERTICES \
            or not np.isfinite(poly).all():
        return np.zeros(0, np.int64)
    table = points(reader, atlas)
    xy = np.stack([table["x"].to_numpy(), table["y"].to_numpy()], 1)
    return table["idx"].to_numpy()[inside_polygon(xy, poly)].astype(np.int64)
