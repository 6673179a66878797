"""Built-in indexes: ``exact`` (any metric; for cosine it keeps a unit-length copy of the
matrix on disk, so no process normalises it again) and faiss's ``faiss-ivf`` (inverted
lists over k-means cells, memory-mapped; ``nprobe`` chosen at build time to reach the
asked recall) and ``faiss-hnsw`` (a navigable small-world graph), for cosine, dot,
euclidean and squared euclidean."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from vizkit import hookimpl
from vizkit.api.indexes import Index
from vizkit.api.metrics import Metric
from vizkit.compute.indexes import ExactSearcher, recall_at_k, unit_rows

FAISS_METRICS = ("cosine", "dot", "euclidean", "sqeuclidean")
TARGET_RECALL = 0.97
RECALL_K = 50
SAMPLE_QUERIES = 500
ADD_BLOCK = 100_000


# -- exact ---------------------------------------------------------------------------------
def _exact_build(features: np.ndarray, metric: Metric, folder: Path, options: dict) -> dict:
    if metric.normalized_dot:
        np.save(folder / "unit.npy", unit_rows(features), allow_pickle=False)
        return {"unit": "unit.npy"}
    return {}


def _exact_open(features: np.ndarray, metric: Metric, folder: Path, params: dict):
    unit = np.load(folder / params["unit"], mmap_mode="r") if params.get("unit") else None
    return ExactSearcher(metric, features, unit)


EXACT = Index("exact", "exact search in blocks (cosine over a stored unit-length copy)",
              exact=True, serves=lambda metric: True, build=_exact_build, open=_exact_open)


# -- faiss ---------------------------------------------------------------------------------
def _faiss():
    try:
        import faiss
    except ImportError as e:
        from vizkit.errors import VizkitError

        raise VizkitError(f"faiss is not installed ({e}); pip install faiss-cpu.") from None
    return faiss


def _prepared(metric: Metric, rows: np.ndarray) -> np.ndarray:
    """Rows as faiss should see them: unit length for cosine."""
    rows = np.ascontiguousarray(rows, np.float32)
    return unit_rows(rows) if metric.normalized_dot else rows


def _faiss_metric(faiss, metric: Metric) -> int:
    return faiss.METRIC_INNER_PRODUCT if metric.name in ("cosine", "dot") else faiss.METRIC_L2


def _add(index, metric: Metric, features: np.ndarray) -> None:
    for lo in range(0, len(features), ADD_BLOCK):
        index.add(_prepared(metric, features[lo: lo + ADD_BLOCK]))


def _sample(n: int, options: dict) -> np.ndarray:
    rng = np.random.default_rng(options.get("seed", 0))
    return np.sort(rng.choice(n, min(n, options.get("sample", SAMPLE_QUERIES)), replace=False))


def _tune(index, set_effort, efforts: list[int], metric: Metric, features: np.ndarray,
          options: dict) -> dict:
    """The smallest search effort whose recall@k on a sample of queries reaches the
    target (against exact search), and that recall."""
    k = min(options.get("k", RECALL_K), len(features) - 1)
    target = options.get("recall", TARGET_RECALL)
    queries = _sample(len(features), options)
    truth, _ = ExactSearcher(metric, features).search(features[queries], k + 1)
    truth = np.array([[i for i in row if i != q][:k] for q, row in zip(queries, truth)])
    recall = 0.0
    for effort in efforts:
        set_effort(effort)
        _, found = index.search(_prepared(metric, features[queries]), k + 1)
        found = np.array([[i for i in row if i != q][:k] for q, row in zip(queries, found)])
        recall = recall_at_k(found, truth)
        if recall >= target:
            break
    return {"effort": effort, "recall": round(recall, 4), "recall_k": k,
            "recall_queries": len(queries)}


class FaissSearcher:
    """A faiss index read from its file (memory-mapped where faiss can)."""

    def __init__(self, faiss, path: Path, metric: Metric, params: dict):
        try:
            self.index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:  # a kind faiss cannot map: read it whole
            self.index = faiss.read_index(str(path))
        self.metric = metric
        if params["kind"] == "ivf":
            self.index.nprobe = params["effort"]
        else:
            self.index.hnsw.efSearch = params["effort"]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        values, idx = self.index.search(_prepared(self.metric, queries), k)
        return idx.astype(np.int64), values


def _ivf_build(features: np.ndarray, metric: Metric, folder: Path, options: dict) -> dict:
    faiss = _faiss()
    n, d = features.shape
    nlist = options.get("nlist") or max(1, min(int(4 * math.sqrt(n)), n // 39))
    train = _sample(n, {"sample": min(n, max(40 * nlist, 10_000)), "seed": 1})
    index = faiss.IndexIVFFlat(faiss.IndexFlat(d, _faiss_metric(faiss, metric)), d, nlist,
                               _faiss_metric(faiss, metric))
    index.train(_prepared(metric, features[train]))
    _add(index, metric, features)
    efforts = [e for e in (1, 2, 4, 8, 16, 32, 64, 128, 256) if e <= nlist] or [1]
    tuned = _tune(index, lambda e: setattr(index, "nprobe", e), efforts, metric, features,
                  options)
    faiss.write_index(index, str(folder / "index.faiss"))
    return {"kind": "ivf", "nlist": nlist, **tuned}


def _hnsw_build(features: np.ndarray, metric: Metric, folder: Path, options: dict) -> dict:
    faiss = _faiss()
    d = features.shape[1]
    index = faiss.IndexHNSWFlat(d, options.get("m", 32), _faiss_metric(faiss, metric))
    index.hnsw.efConstruction = options.get("ef_construction", 80)
    _add(index, metric, features)
    tuned = _tune(index, lambda e: setattr(index.hnsw, "efSearch", e),
                  [16, 32, 64, 128, 256, 512], metric, features, options)
    faiss.write_index(index, str(folder / "index.faiss"))
    return {"kind": "hnsw", "m": options.get("m", 32), **tuned}


def _faiss_open(features: np.ndarray, metric: Metric, folder: Path, params: dict):
    return FaissSearcher(_faiss(), folder / "index.faiss", metric, params)


def _serves(metric: Metric) -> bool:
    return metric.name in FAISS_METRICS


FAISS_IVF = Index("faiss-ivf", "faiss inverted lists (IVF-Flat), memory-mapped; nprobe tuned "
                  f"to recall@50 >= {TARGET_RECALL}", exact=False, serves=_serves,
                  build=_ivf_build, open=_faiss_open)
FAISS_HNSW = Index("faiss-hnsw", "faiss HNSW graph (32 links); efSearch tuned to recall@50 >= "
                   f"{TARGET_RECALL}", exact=False, serves=_serves, build=_hnsw_build,
                   open=_faiss_open)


@hookimpl
def register_indexes(register):
    """Register exact search and faiss's IVF and HNSW indexes."""
    for index in (EXACT, FAISS_IVF, FAISS_HNSW):
        register(index)
