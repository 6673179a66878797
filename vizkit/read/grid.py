"""The Models x layers grid as the page reads it: for every model and layer with features of
a labelled dataset, its retrieval quality under one metric -- Recall@1 and mean nDCG@50 of a
bounded set of queries (the first images, each searched among all the others)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from vizkit.api.metrics import Metric
from vizkit.errors import ResultMissingError
from vizkit.read.catalog import Reader
from vizkit.read.query import neighbours_of
from vizkit.read.rows import FeaturesRow

MAX_QUERIES = 2000  # bounded whatever the dataset (a visitor's click)
K = 50
SCORES = {"ndcg_at_50": "mean nDCG@50", "recall_at_1": "Recall@1"}  # column: its name


def ndcg_at_k(query_labels: np.ndarray, result_labels: np.ndarray) -> np.ndarray:
    """Per query, the nDCG of its results ``[q, k]``: same-class hits weighted by
    1/log2(rank + 1), divided by the weight of k hits (as the search page's score)."""
    weights = 1.0 / np.log2(np.arange(2, result_labels.shape[1] + 2))
    hits = result_labels == query_labels[:, None]
    return (hits * weights).sum(1) / weights.sum()


def labelled_datasets(reader: Reader) -> list[str]:
    """Names of the datasets that have labels, features of at least one model, and at least
    two images (a query and something to retrieve)."""
    names = []
    for row in reader.features_rows():
        if row.dataset.name not in names and row.n >= 2 \
                and (reader.images(row.dataset).labels >= 0).any():
            names.append(row.dataset.name)
    return names


def richest_first(reader: Reader, names: list[str]) -> list[str]:
    """``names`` (datasets) ordered by how many (model, layer) cells each fills, most first
    (ties keep their order): the grid opens on the fullest one."""
    cells = {name: len({(r.label, r.layer) for r in reader.features_rows()
                        if r.dataset.name == name}) for name in names}
    return sorted(names, key=lambda n: -cells[n])


def configurations(reader: Reader, dataset: str) -> list[FeaturesRow]:
    """The newest features of each (model, layer) of ``dataset``, in the order stored."""
    rows: dict[tuple[str, str], FeaturesRow] = {}
    for row in reader.features_rows():
        if row.dataset.name == dataset:
            rows[(row.label, row.layer)] = row
    if not rows:
        raise ResultMissingError(f"No features of {dataset}. Run `vizkit precompute --dataset "
                                 f"{dataset} --models a,b --layers auto`.")
    return list(rows.values())


def quality(reader: Reader, frow: FeaturesRow, metric: Metric,
            queries: int = MAX_QUERIES) -> dict[str, float]:
    """Recall@1 and mean nDCG@50 of ``frow`` under ``metric`` over its first labelled images
    (at most :data:`MAX_QUERIES`), each searched among all the others (looked up in the
    stored top-50 lists where the grid job made them)."""
    def make() -> dict[str, float]:
        labels = reader.images(frow.dataset).labels
        q = np.flatnonzero(labels >= 0)[: max(1, min(queries, MAX_QUERIES))]
        found = labels[neighbours_of(reader, frow, metric, q, min(K, frow.n - 1))]
        return {"recall_at_1": float((found[:, 0] == labels[q]).mean()),
                "ndcg_at_50": float(ndcg_at_k(labels[q], found).mean()), "queries": len(q)}
    return reader.memo("grid quality", (frow.result_key, metric.name, queries), make,
                       keep=256)


def quality_table(reader: Reader, dataset: str, metric: Metric,
                  queries: int = MAX_QUERIES, on_cell=None) -> pd.DataFrame:
    """One row per (model, layer): model, layer, depth (the layer's place among its model's
    stored layers), recall_at_1, ndcg_at_50, queries, result_key. ``on_cell(done, total)``
    is called before each cell is scored (a page's progress bar)."""
    rows, depth = [], {}
    found = configurations(reader, dataset)
    for i, frow in enumerate(found):
        if on_cell is not None:
            on_cell(i, len(found))
        depth[frow.label] = depth.get(frow.label, 0) + 1
        rows.append({"model": frow.label, "layer": frow.layer, "depth": depth[frow.label],
                     **quality(reader, frow, metric, queries), "result_key": frow.result_key})
    return pd.DataFrame(rows)
