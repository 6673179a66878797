"""``vizkit atlas``: every image of a dataset on one zoomable map — a stored 2-D layout, its
points as one columnar file the browser loads once, and a pyramid of image tiles from the
whole set down to a level where every image has a cell of its own.

Files are shards of the atlas result (``shards/<key>/``: ``points``, then per pack of tiles
``L<level>-<n>`` and its index ``L<level>-<n>.index``), with their SHA-256 in the store.
Packs are rendered into a staging folder beside them, each written atomically, so a job
killed half-way renders only the missing packs when run again; the result row and every
file's row commit together at the end."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc

from vizkit.compute import atlas as geometry
from vizkit.errors import BadArgumentError
from vizkit.jobs.atlas_tiles import PackJob, pack_jobs, render_packs, staged
from vizkit.jobs.keys import derived_meta
from vizkit.progress import bar as tqdm
from vizkit.store import Store, shards

ATLAS_CODE_VERSION = 1
CELLS = 8  # cells per tile side
CELL_PX = 32  # a cell's pixels at its own level; thumbnails fill it less a 2-pixel gap


def atlas_meta(layout: dict, cells: int = CELLS, cell_px: int = CELL_PX) -> dict:
    """The catalog row of the atlas of a stored layout (a ``projections`` catalog row)."""
    params = {"cells": cells, "cell_px": cell_px, "layout": layout["result_key"]}
    return derived_meta("a", layout, {"kind": "atlas", "params": params,
                                      "code": ATLAS_CODE_VERSION},
                        params=json.dumps(params, sort_keys=True),
                        code_version=ATLAS_CODE_VERSION)


def points_table(world: np.ndarray, cell: np.ndarray, labels: np.ndarray,
                 clusters: np.ndarray | None, predicted: np.ndarray | None) -> pa.Table:
    """The atlas's points: world ``x, y``, the image's ``cell`` at the deepest level, its
    ``label``, ``cluster`` and ``predicted`` class (-1 where there is none), ``correct``
    (1, 0, or -1 unknown) and ``idx``, one row per image in index order."""
    n = len(world)
    labels = np.asarray(labels, np.int32)
    cl = np.full(n, -1, np.int32) if clusters is None else np.asarray(clusters, np.int32)
    pr = np.full(n, -1, np.int32) if predicted is None else np.asarray(predicted, np.int32)
    correct = np.where((pr < 0) | (labels < 0), -1, (pr == labels).astype(np.int8))
    return pa.table({"x": world[:, 0].astype(np.float32), "y": world[:, 1].astype(np.float32),
                     "cell": np.asarray(cell, np.int32), "label": labels.astype(np.int16),
                     "cluster": cl.astype(np.int16), "predicted": pr.astype(np.int16),
                     "correct": correct.astype(np.int8), "idx": np.arange(n, dtype=np.int32)})


def write_points(path: Path, table: pa.Table) -> None:
    """The points as an Arrow IPC file (uncompressed, so readers memory-map it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def plan(world: np.ndarray, cells: int = CELLS) -> tuple[int, np.ndarray, list[PackJob]]:
    """The deepest level, every image's cell there, and the packs of every level."""
    if len(world) < 2:
        raise BadArgumentError(f"An atlas needs at least 2 images; this layout has "
                               f"{len(world)}.")
    deepest = geometry.deepest_level(world, cells)
    own = geometry.own_cells(world, geometry.grid_size(deepest, cells))
    jobs: list[PackJob] = []
    for level in range(deepest + 1):
        if level < deepest:
            where, images = geometry.representatives(world, geometry.grid_size(level, cells))
        else:
            where, images = own, np.arange(len(world))
        jobs += pack_jobs(level, geometry.tiles_of(where, images, level, cells))
    return deepest, own, jobs


def build_atlas(store: Store, layout: dict, coords: np.ndarray, labels: np.ndarray,
                clusters: np.ndarray | None = None, predicted: np.ndarray | None = None, *,
                cells: int = CELLS, cell_px: int = CELL_PX, engine: str = "local",
                progress: bool = True) -> dict:
    """The atlas of a stored layout (its catalog row and ``coords``), unless stored already;
    return its catalog row. Labels, clusters and predictions go into the points file."""
    meta = atlas_meta(layout, cells, cell_px)
    done = store.result(meta["result_key"])
    if done is not None:
        return done
    try:
        world = geometry.world_coords(coords)
    except ValueError as e:
        raise BadArgumentError(f"This layout cannot make an atlas: {e}. Lay it out again "
                               "with `vizkit project`.") from None
    deepest, own, jobs = plan(world, cells)
    staging = shards.folder(store.path, meta["result_key"] + "-staging")
    with tqdm(total=sum(len(j.tiles) for j in jobs), unit="tile", disable=not progress,
              desc=f"atlas tiles, levels 0-{deepest}") as bar:
        render_packs(jobs, staging, lambda idxs: store.thumbnails(layout["dataset_key"], idxs),
                     cells, cell_px, engine=engine,
                     on_done=lambda job: bar.update(len(job.tiles)))
    write_points(staging / "points.arrow", points_table(world, own, labels, clusters,
                                                        predicted))
    files = {"points": staging / "points.arrow"}
    for job in jobs:
        tiles_path, index_path = staged(staging, job.name)
        files[job.name], files[f"{job.name}.index"] = tiles_path, index_path
    params = {**json.loads(meta["params"]), "levels": deepest + 1, "n": len(world),
              "world": geometry.WORLD}
    row = store.put_shards(dict(meta, kind="atlas", n=len(world),
                                params=json.dumps(params, sort_keys=True)), files=files)
    shutil.rmtree(staging, ignore_errors=True)
    return row
