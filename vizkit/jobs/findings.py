"""``vizkit findings object``: how object-centric a configuration's similarity is, measured
over a dataset with object regions. For each of the first ``queries`` labelled images and
each of its top ``k`` results, the share of the pair's similarity maps' positive mass that
lies on the object (query side and result side), against the share of the image the object
covers (chance); stored as a result (the per-query numbers as files, the summary in its
catalog row) that the Findings page reads."""
from __future__ import annotations

import json

import numpy as np

from vizkit.api.datasets import Dataset
from vizkit.compute.findings import ObjectShares, positive_share, region_on_grid
from vizkit.compute.mapservice import MapService, map_metric
from vizkit.compute.nearest import topk
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
WITH_REGIONS = ("fashion-mnist", "digits", "synthetic:N", "folder:PATH with a boxes.csv")


def check_regions(dataset: Dataset) -> None:
    """Refuse, before any work, a dataset without object regions."""
    if not dataset.regions:
        raise BadArgumentError(f"{dataset.name} provides no object regions, which this "
                               f"finding needs. Datasets that do: {', '.join(WITH_REGIONS)}.")


def query_positions(dataset: Dataset, queries: int) -> np.ndarray:
    """The first ``queries`` labelled images."""
    labelled = np.flatnonzero(dataset.labels >= 0)[:queries]
    if not len(labelled):
        raise BadArgumentError(f"{dataset.name} has no labelled images to use as queries.")
    return labelled


def object_centricity(store: Store, dataset: Dataset, model: LoadedModel, layer: str,
                      metric: str = "cosine", queries: int = 500, k: int = 10, seed: int = 0,
                      chunk: int = 32, progress: bool = True) -> dict:
    """Measure (unless stored) and store the object-centricity of (model, layer, metric)
    over ``dataset``; return the result's catalog row, whose ``params`` hold the summary
    (object_share, area_share, ci95, n_queries, per_class)."""
    check_regions(dataset)
    decomposer = Decomposer(model, layer)  # refuses layers without an exact map first
    metric_obj = get_registry().metric(metric)
    qidx = query_positions(dataset, queries)
    frow = precompute(store, dataset, model, [layer], [], progress=progress)[0]
    meta = derived_meta("o", frow, {"finding": "object", "metric": metric, "k": k,
                                    "queries": len(qidx), "seed": seed,
                                    "code": FINDINGS_CODE_VERSION},
                        kind="findings", metric=metric, k=k,
                        code_version=FINDINGS_CODE_VERSION)
    row = store.result(meta["result_key"])
    if row is not None:
        return row
    matrix = store.features(frow["result_key"])
    service = MapService(decomposer, dataset, cache_size=4 * chunk * (k + 1))
    crop = model.preprocess.crop_box
    share, area = np.full(len(qidx), np.nan), np.full(len(qidx), np.nan)
    with tqdm(total=len(qidx), desc=f"object-centricity {layer} {metric}", unit="query",
              disable=not progress) as bar, blas_beside_torch():
        for lo in range(0, len(qidx), chunk):
            part = qidx[lo: lo + chunk]
            nbrs, _ = topk(metric_obj, matrix[part], matrix, k, exclude=part)
            seen = np.unique(np.concatenate([part, nbrs.ravel()]))
            masks = dict(zip(seen.tolist(), dataset.object_masks(seen)))
            regions: dict[tuple, np.ndarray | None] = {}  # (image, grid) -> cell coverage

            def region(image: int, grid: tuple[int, int]) -> np.ndarray | None:
                if (image, grid) not in regions:
                    mask = masks[image]
                    regions[(image, grid)] = None if mask is None else \
                        region_on_grid(mask, crop(*mask.shape[:2]), grid)
                return regions[(image, grid)]
            service.dataset_features(seen)
            for j, (q, nbr) in enumerate(zip(part, nbrs)):
                _, maps = service.maps(service.dataset_features([q])[0], nbr, metric)
                shares, areas = [], []
                for n, m in zip(nbr, maps):
                    for image, values in ((int(q), m.query), (int(n), m.result)):
                        cells = region(image, values.shape)
                        if cells is None:  # an image without a region: not counted
                            continue
                        shares.append(positive_share(values, cells))
                        areas.append(cells.mean())
                share[lo + j] = np.nanmean(shares) if not np.isnan(shares).all() else np.nan
                area[lo + j] = np.mean(areas) if areas else np.nan
            bar.update(len(part))
    found = ObjectShares(qidx, dataset.labels[qidx], share, area)
    summary = found.summary(list(dataset.classes), seed)
    summary.update(map_metric=map_metric(metric), k=k, layer=layer)
    return store.put_shards(
        dict(meta, n=len(qidx), params=json.dumps({"finding": "object", **summary})),
        {"idx": qidx.astype(np.int32), "share": share.astype(np.float32),
         "area": area.astype(np.float32)})
