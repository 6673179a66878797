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
from vizkit.compute.kd_order import kd_order, view_coords
from vizkit.errors import BadArgumentError
from vizkit.jobs.atlas_tiles import PackJob, pack_jobs, render_packs, staged
from vizkit.jobs.keys import derived_meta
from vizkit.progress import bar as tqdm
from vizkit.store import Store, shards

ATLAS_CODE_VERSION = 1
CELLS = 8  # cells per tile side
CELL_PX = 32  # a cell's pixels at its own level; thumbnails fill it less a 2-pixel gap


def atlas_meta(layout: dict, cells: int = CELLS, cell_px: int = CELL_PX,
               bounds: list | None = None) -> dict:
    """The catalog row of the atlas of a stored layout (a ``projections`` catalog row), in
    its own frame or in ``bounds`` shared with other layouts."""
    params = {"cells": cells, "cell_px": cell_px, "layout": layout["result_key"]}
    if bounds is not None:
        params["bounds"] = bounds
    return derived_meta("a", layout, {"kind": "atlas", "params": params,
                                      "code": ATLAS_CODE_VERSION},
                        params=json.dumps(params, sort_keys=True),
                        code_version=ATLAS_CODE_VERSION)


def points_table(world: np.ndarray, cell: np.ndarray, labels: np.ndarray,
                 clusters: np.ndarray | None, predicted: np.ndarray | None) -> pa.Table:
    """The atlas's points: world ``x, y``, the image's ``cell`` at the deepest level, its
    ``label``, ``cluster`` and ``predicted`` class (-1 where there is none), ``correct``
    (1, 0, or -1 unknown) and ``idx``, one row per image in index order; and ``kd``, the
    order of the browser's spatial index of the points (:mod:`vizkit.compute.kd_order`)."""
    n = len(world)
    labels = np.asarray(labels, np.int32)
    cl = np.full(n, -1, np.int32) if clusters is None else np.asarray(clusters, np.int32)
    pr = np.full(n, -1, np.int32) if predicted is None else np.asarray(predicted, np.int32)
    correct = np.where((pr < 0) | (labels < 0), -1, (pr == labels).astype(np.int8))
    x, y = world[:, 0].astype(np.float32), world[:, 1].astype(np.float32)
    return pa.table({"x": x, "y": y,
                     "cell": np.asarray(cell, np.int32), "label": labels.astype(np.int16),
                     "cluster": cl.astype(np.int16), "predicted": pr.astype(np.int16),
                     "correct": correct.astype(np.int8), "idx": np.arange(n, dtype=np.int32),
                     "kd": kd_order(*view_coords(x, y, geometry.WORLD))})


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
                bounds: list | None = None, progress: bool = True) -> dict:
    """The atlas of a stored layout (its catalog row and ``coords``), unless stored already;
    return its catalog row. Labels, clusters and predictions go into the points file;
    ``bounds`` (``[[x0, y0], [x1, y1]]``) frames it with other layouts."""
    meta = atlas_meta(layout, cells, cell_px, bounds)
    done = store.result(meta["result_key"])
    if done is not None:
        return done
    try:
        world = geometry.world_coords(coords, bounds)
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


def atlas_of_model(store: Store, dataset, model, layer: str, method: str = "umap",
                   seed: int = 0, clusters: int = 10, fit: int | None = None,
                   engine: str = "local", progress: bool = True) -> dict:
    """The atlas of ``dataset`` under ``model``'s ``layer``: its layout (fitted on ``fit``
    images at most), clusters and predictions (stored first when missing, as ``vizkit
    project`` stores them), then the pyramid; return the atlas's catalog row."""
    from vizkit.jobs.layouts import project_model

    rows = project_model(store, dataset, model, layer, method, seed, clusters,
                         progress=progress, fit=fit)
    groups = store.per_image("clusters", rows["clusters"]["result_key"])["cluster"]
    predicted = store.per_image("predictions", rows["predictions"]["result_key"])["pred"] \
        if rows["predictions"] else None
    return build_atlas(store, rows["projection"], rows["coords"], dataset.labels,
                       groups.to_numpy(), None if predicted is None else predicted.to_numpy(),
                       engine=engine, progress=progress)


def evolution_atlases(store: Store, dataset, run: str, layer: str, method: str = "umap",
                      seed: int = 0, clusters: int = 10, engine: str = "local",
                      progress: bool = True) -> list[dict]:
    """An atlas per checkpoint of ``run``, each of its aligned layout (made first when
    missing, as ``vizkit evolve`` makes them), all in one frame: the union of the layouts'
    extents, so that an image's place means the same in every frame. Returns their rows."""
    from vizkit.jobs.layouts import clusters_meta, evolve_run

    layouts = evolve_run(store, dataset, run, layer, method, seed, clusters,
                         independent=False, progress=progress)
    coords = [store.per_image("projections", row["result_key"])[["x", "y"]].to_numpy(
        np.float32) for row in layouts]
    stacked = np.concatenate(coords)
    bounds = [[float(v) for v in stacked.min(0)], [float(v) for v in stacked.max(0)]]
    out = []
    for row, xy in zip(layouts, coords):
        features = store.result(row["source_key"])
        groups = store.result(clusters_meta(features, len(xy), clusters, seed)["result_key"])
        assignment = None if groups is None else \
            store.per_image("clusters", groups["result_key"])["cluster"].to_numpy()
        out.append(build_atlas(store, row, xy, dataset.labels, assignment, None,
                               engine=engine, bounds=bounds, progress=progress))
    return out
