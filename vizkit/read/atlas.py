"""The read side of image atlases: which layout has one, its points (one Arrow file, read
once per process), its tiles by ``level/x/y`` (a bounded number per request: a visitor's
browser names them), and the images inside a lasso."""
from __future__ import annotations

import mmap
import re

import numpy as np
import pyarrow as pa
import pyarrow.ipc

from vizkit.compute.atlas import inside_polygon
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
