"""``vizkit maps``: precompute similarity maps of queries against their top-k, so that a
page can show them where neither the model nor the full images are at hand (a hosted app).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from vizkit.api.datasets import Dataset
from vizkit.compute.mapservice import MapService, map_metric
from vizkit.compute.nearest import topk
from vizkit.compute.similarity import Decomposer
from vizkit.errors import BadArgumentError
from vizkit.jobs.keys import derived_meta, digest, features_meta
from vizkit.jobs.precompute import precompute
from vizkit.progress import bar as tqdm
from vizkit.registry import get_registry
from vizkit.runtime.devices import blas_beside_torch
from vizkit.runtime.loaded import LoadedModel
from vizkit.store import Store

MAPS_CODE_VERSION = 1


def maps_meta(features: dict, metric: str, k: int, queries: np.ndarray) -> dict:
    """The catalog row (and key) of maps of ``queries`` against their top-``k``."""
    return derived_meta("m", features, {
        "metric": metric, "k": k, "queries": digest({"q": np.asarray(queries).tolist()}),
        "code": MAPS_CODE_VERSION}, metric=metric, k=k, code_version=MAPS_CODE_VERSION,
        params=json.dumps({"map_metric": map_metric(metric)}))


def query_indices(dataset: Dataset, queries: str) -> np.ndarray:
    """``all``, a split name (``test``), ``first:N`` or ``SPLIT:N`` (the split's first N):
    which images get maps."""
    if queries == "all":
        return np.arange(len(dataset))
    queries, _, n = queries.partition(":")
    if n and (not n.isdigit() or int(n) < 1):
        raise BadArgumentError(f"--queries {queries}:{n}: the number after ':' must be a "
                               "whole number of at least 1.")
    if queries == "first":
        return np.arange(min(int(n or len(dataset)), len(dataset)))
    idx = np.flatnonzero(np.asarray(dataset.splits) == queries)[: int(n) if n else None]
    if not len(idx):
        raise BadArgumentError(f"{dataset.name} has no images in split {queries!r}; use all, "
                          "first:N or one of " + ", ".join(sorted(set(map(str, dataset.splits))))
                          + ".")
    return idx


def precompute_maps(store: Store, dataset: Dataset, model: LoadedModel, layer: str,
                    metric: str = "cosine", k: int = 20, queries: str = "test",
                    chunk: int = 32, progress: bool = True) -> dict:
    """Compute (features if missing, then) the maps of each query against its top-``k``
    under ``metric``, and store them as one result; return its catalog row."""
    decomposer = Decomposer(model, layer)  # refuses layers without an exact map first
    metric_obj = get_registry().metric(metric)
    qidx = query_indices(dataset, queries)
    precompute(store, dataset, model, [layer], [], k, progress=progress)
    frow = store.result(features_meta(dataset, model, layer)["result_key"])
    meta = maps_meta(frow, metric, k, qidx)
    if store.result(meta["result_key"]) is not None:
        return store.result(meta["result_key"])
    matrix = store.features(frow["result_key"])
    service = MapService(decomposer, dataset, cache_size=4 * chunk * (k + 1))
    rows = []
    with tqdm(total=len(qidx), desc=f"maps {layer} {metric}", unit="query",
              disable=not progress) as bar, blas_beside_torch():
        for lo in range(0, len(qidx), chunk):
            part = qidx[lo: lo + chunk]
            nbrs, scores = topk(metric_obj, matrix[part], matrix, k, exclude=part)
            service.dataset_features(np.unique(np.concatenate([part, nbrs.ravel()])))
            for q, nbr, score in zip(part, nbrs, scores):
                _, maps = service.maps(service.dataset_features([q])[0], nbr, metric)
                for rank, (n, s, m) in enumerate(zip(nbr, score, maps), 1):
                    rows.append((int(q), rank, int(n), float(s), m.score, *m.query.shape,
                                 m.query.ravel(), *m.result.shape, m.result.ravel()))
            bar.update(len(part))
    table = pd.DataFrame(rows, columns=["idx", "rank", "nbr", "score", "map_score", "qh", "qw",
                                        "qmap", "rh", "rw", "rmap"])
    store.put_maps(meta, table)
    return store.result(meta["result_key"])
