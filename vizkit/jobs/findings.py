"""``vizkit findings``: what a configuration's similarity attends to, measured over a
dataset. For each of the first ``queries`` labelled images and each of its top ``k``
results, the pair's similarity maps (query side and result side) are scored against the
dataset's annotations:

- ``object``: the share of the maps' positive mass that lies on the object, against the
  share of the image the object covers (chance);
- ``parts``: per named part, the maps' positive mean within a disc around the part point
  ÷ their mean over the image (1 = chance), where the part is visible.

Each is stored as a result (the per-query numbers as files, the summary in its catalog row)
that the Findings page reads."""
from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np

from vizkit.api.datasets import Dataset
from vizkit.compute.findings import (
    ObjectShares,
    PartRatios,
    discs_on_grid,
    query_object_shares,
    query_part_ratios,
    regions_on_grid,
)
from vizkit.compute.mapservice import map_metric
from vizkit.compute.nearest import searcher_for, topk
from vizkit.compute.pairstream import PairMapStream
from vizkit.compute.similarity import Decomposer
from vizkit.errors import BadArgumentError
from vizkit.jobs.keys import derived_meta
from vizkit.jobs.precompute import precompute
from vizkit.progress import bar as tqdm
from vizkit.registry import get_registry
from vizkit.runtime.devices import blas_beside_torch
from vizkit.runtime.loaded import LoadedModel
from vizkit.store import Store

FINDINGS_CODE_VERSION = 1
WITH_REGIONS = ("fashion-mnist", "digits", "synthetic:N", "cub200:PATH",
                "cars196:PATH", "folder:PATH with a boxes.csv")
WITH_PARTS = ("cub200:PATH (with parts/)", "synthetic:N (centre and background)",
              "folder:PATH with a parts.csv")
PREFIXES = {"object": "o", "parts": "pt"}  # of the result keys
PART_RADIUS = 1 / 16  # of the image's short side: the disc around a part point
CHUNK_BYTES = 256 << 20  # what one chunk of queries holds at once: see queries_per_chunk
MASK_IMAGES = 256  # images whose object masks are read and carried to the grid at once


def check_regions(dataset: Dataset) -> None:
    """Refuse, before any work, a dataset without object regions."""
    if not dataset.regions:
        raise BadArgumentError(f"{dataset.name} provides no object regions, which this "
                               f"finding needs. Datasets that do: {', '.join(WITH_REGIONS)}.")


def check_parts(dataset: Dataset) -> None:
    """Refuse, before any work, a dataset without part points."""
    if not dataset.part_names:
        raise BadArgumentError(f"{dataset.name} names no parts, which this finding needs. "
                               f"Datasets that do: {', '.join(WITH_PARTS)}.")


def query_positions(dataset: Dataset, queries: int) -> np.ndarray:
    """The first ``queries`` labelled images."""
    labelled = np.flatnonzero(dataset.labels >= 0)[:queries]
    if not len(labelled):
        raise BadArgumentError(f"{dataset.name} has no labelled images to use as queries.")
    return labelled


def queries_per_chunk(decomposer: Decomposer, k: int, covers: int) -> int:
    """How many queries one chunk takes so that what it holds fits :data:`CHUNK_BYTES`:
    the queries' per-position features (float32) and, for each query's ``k`` pairs, both
    maps and ``covers`` regions per image on the grid (float64). Fewer chunks forward fewer
    part-filled batches and keep fewer images for a later chunk."""
    n, d = decomposer.position_shape
    return max(1, CHUNK_BYTES // (n * (4 * d + 8 * (k + 1) * (2 + covers))))


def _chunk_maps(matrix: np.ndarray, dataset: Dataset, decomposer: Decomposer,
                qidx: np.ndarray, metric: str, k: int, chunk: int, desc: str,
                progress: bool) -> Iterator[tuple]:
    """Per chunk of queries: the images it touches, the queries' positions in ``qidx``,
    the queries, their top-``k`` results ``[B, k]`` among the pooled features ``matrix``,
    the maps of each pair, query side and result side ``[B, k, h*w]``, and the maps' grid
    ``(h, w)``. Every chunk's results are found first, so that each image is forwarded
    once and kept only while a chunk still needs it."""
    metric_obj = get_registry().metric(metric)
    parts = [qidx[lo: lo + chunk] for lo in range(0, len(qidx), chunk)]
    with tqdm(total=len(qidx), desc=desc, unit="query", disable=not progress) as bar, \
            blas_beside_torch():  # the searches too: BLAS threads left spinning slow a forward
        searcher = searcher_for(metric_obj, matrix)  # the database prepared once
        found = [topk(metric_obj, matrix[part], matrix, k, exclude=part, searcher=searcher)[0]
                 for part in parts]
        seens = [np.unique(np.concatenate([part, nbrs.ravel()]))
                 for part, nbrs in zip(parts, found)]
        last = {image: c for c, seen in enumerate(seens) for image in seen.tolist()}
        stream = PairMapStream(decomposer, dataset, map_metric(metric))
        for c, (part, nbrs, seen) in enumerate(zip(parts, found, seens)):
            mq, mr = stream.chunk(part, nbrs, {i for i in seen.tolist() if last[i] > c})
            lo = c * chunk
            yield seen, np.arange(lo, lo + len(part)), part, nbrs, mq, mr, stream.grid
            bar.update(len(part))


def _images_of(queries: np.ndarray, results: np.ndarray) -> np.ndarray:
    """The images of a batch's pairs, query first in each row: ``[B * (1 + k)]``."""
    return np.concatenate([queries[:, None], results], 1).ravel()


def _regions_of(dataset: Dataset, seen: np.ndarray, crop, grid: tuple[int, int],
                images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The object regions of ``images`` (each one of ``seen``) on the map grid
    ``[len(images), h*w]``, and which images have one (an image without one gets zeros).
    The masks of ``seen`` are read :data:`MASK_IMAGES` at a time, each batch carried to the
    grid in one product per image size."""
    cells = np.zeros((len(seen) + 1, grid[0] * grid[1]))  # the last row: no region
    row = np.full(len(seen), len(seen))
    for lo in range(0, len(seen), MASK_IMAGES):
        masks = dataset.object_masks(seen[lo: lo + MASK_IMAGES])
        for i, c in enumerate(regions_on_grid(masks, crop, grid), lo):
            if c is not None:
                cells[i], row[i] = c.ravel(), i
    at = row[np.searchsorted(seen, images)]
    return cells[at], at < len(seen)


def stored_or_features(store: Store, dataset: Dataset, model: LoadedModel, layer: str,
                       prefix: str, params: dict, metric: str, k: int, progress: bool
                       ) -> tuple[dict, dict | None, np.ndarray | None]:
    """A findings result's catalog meta (key from ``prefix`` and ``params``), its stored row
    (None when it must be measured) and, if so, the layer's pooled features (extracted
    unless stored): the job's reads before it computes, in one connection."""
    with store.held():
        frow = precompute(store, dataset, model, [layer], [], progress=progress)[0]
        meta = derived_meta(prefix, frow, {**params, "code": FINDINGS_CODE_VERSION},
                            kind="findings", metric=metric, k=k,
                            code_version=FINDINGS_CODE_VERSION)
        row = store.result(meta["result_key"])
        return meta, row, None if row is not None else store.features(frow["result_key"])


def _prepare(store: Store, dataset: Dataset, model: LoadedModel, layer: str, finding: str,
             metric: str, k: int, n: int, seed: int, progress: bool, extra: dict | None = None
             ) -> tuple[dict, dict | None, np.ndarray | None]:
    """:func:`stored_or_features` of the object or parts finding."""
    return stored_or_features(store, dataset, model, layer, PREFIXES[finding],
                              {"finding": finding, "metric": metric, "k": k, "queries": n,
                               "seed": seed, **(extra or {})}, metric, k, progress)


def object_centricity(store: Store, dataset: Dataset, model: LoadedModel, layer: str,
                      metric: str = "cosine", queries: int = 500, k: int = 10, seed: int = 0,
                      chunk: int | None = None, progress: bool = True) -> dict:
    """Measure (unless stored) and store the object-centricity of (model, layer, metric)
    over ``dataset``; return the result's catalog row, whose ``params`` hold the summary
    (object_share, area_share, ci95, n_queries, per_class). Queries are taken ``chunk`` at
    a time (default: :func:`queries_per_chunk`)."""
    check_regions(dataset)
    decomposer = Decomposer(model, layer)  # refuses layers without an exact map first
    qidx = query_positions(dataset, queries)
    meta, row, matrix = _prepare(store, dataset, model, layer, "object", metric, k, len(qidx),
                                 seed, progress)
    if row is not None:
        return row
    share, area = np.full(len(qidx), np.nan), np.full(len(qidx), np.nan)
    for seen, at, queries, results, mq, mr, grid in _chunk_maps(
            matrix, dataset, decomposer, qidx, metric, k,
            chunk or queries_per_chunk(decomposer, k, 1),
            f"object-centricity {layer} {metric}", progress):
        cells, has = _regions_of(dataset, seen, model.preprocess.crop_box, grid,
                                 _images_of(queries, results))
        share[at], area[at] = query_object_shares(  # an image without a region: not counted
            mq, mr, cells.reshape(len(at), k + 1, -1), has.reshape(len(at), k + 1))
    summary = ObjectShares(qidx, dataset.labels[qidx], share, area).summary(
        list(dataset.classes), seed)
    summary.update(map_metric=map_metric(metric), k=k, layer=layer)
    return store.put_shards(
        dict(meta, n=len(qidx), params=json.dumps({"finding": "object", **summary})),
        {"idx": qidx.astype(np.int32), "share": share.astype(np.float32),
         "area": area.astype(np.float32)})


def part_attention(store: Store, dataset: Dataset, model: LoadedModel, layer: str,
                   metric: str = "cosine", queries: int = 500, k: int = 10, seed: int = 0,
                   radius: float = PART_RADIUS, chunk: int | None = None, progress: bool = True
                   ) -> dict:
    """Measure (unless stored) and store how strongly (model, layer, metric)'s similarity
    maps lie on each named part of ``dataset``: per part the ratio of the maps' positive
    mean within ``radius`` (a share of the image's short side) of the part point to their
    mean over the image; return the result's catalog row (``params``: the summary).
    Queries are taken ``chunk`` at a time (default: :func:`queries_per_chunk`)."""
    check_parts(dataset)
    if not 0 < radius <= 0.5:
        raise BadArgumentError(f"--radius {radius:g}: give a share of the short side, "
                               "above 0 and at most 0.5 (default 0.0625, 1/16).")
    decomposer = Decomposer(model, layer)
    qidx = query_positions(dataset, queries)
    names = tuple(dataset.part_names)
    meta, row, matrix = _prepare(store, dataset, model, layer, "parts", metric, k, len(qidx),
                                 seed, progress, {"radius": radius, "parts": list(names)})
    if row is not None:
        return row
    ratio = np.full((len(qidx), len(names)), np.nan)
    for seen, at, queries, results, mq, mr, grid in _chunk_maps(
            matrix, dataset, decomposer, qidx, metric, k,
            chunk or queries_per_chunk(decomposer, k, len(names)),
            f"part attention {layer} {metric}", progress):
        covers, visible = discs_on_grid(dataset.part_points(seen), dataset.image_sizes(seen),
                                        names, radius, model.preprocess.crop_box, grid)
        at_image = np.searchsorted(seen, _images_of(queries, results))
        covers, visible = covers[at_image], visible[at_image]  # where a part is visible
        ratio[at] = query_part_ratios(mq, mr, covers.reshape(len(at), k + 1, len(names), -1),
                                      visible.reshape(len(at), k + 1, len(names)))
    summary = PartRatios(qidx, names, ratio).summary(seed)
    summary.update(map_metric=map_metric(metric), k=k, layer=layer, radius=radius,
                   n_queries=int((~np.isnan(ratio)).any(axis=1).sum()))
    return store.put_shards(
        dict(meta, n=len(qidx), params=json.dumps({"finding": "parts", **summary})),
        {"idx": qidx.astype(np.int32), "ratio": ratio.astype(np.float32)})
