"""Which index answers a search: the stored indexes of a features result under a metric,
opened once per process (their files memory-mapped), the best one chosen — an approximate
index when one is stored (re-ranked exactly), else exact search."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vizkit.api.indexes import Searcher
from vizkit.api.metrics import Metric
from vizkit.compute.indexes import ExactSearcher, unit_rows
from vizkit.read.catalog import Reader
from vizkit.read.rows import FeaturesRow, IndexRow
from vizkit.store import shards

UNIT_IN_MEMORY_MAX = 8_000_000  # floats (32 MB): without a stored index, cosine keeps a
# unit-length copy up to this; beyond, each block is normalised as it is searched


@dataclass(frozen=True)
class Answer:
    """The searcher for (features, metric) and what to say about it."""

    searcher: Searcher
    exact: bool
    index: IndexRow | None
    note: str


def index_rows(reader: Reader, frow: FeaturesRow, metric: str) -> list[IndexRow]:
    """The stored indexes of ``frow`` under ``metric``, oldest first."""
    return [r for r in reader.catalog().indexes
            if r.source_key == frow.result_key and r.metric == metric]


def answer_for(reader: Reader, frow: FeaturesRow, metric: Metric) -> Answer:
    """The searcher that answers ``metric`` over ``frow`` in this process: a stored
    approximate index if any (its best measured recall), else the stored exact index, else
    exact search prepared here."""
    def make() -> Answer:
        from vizkit.registry import get_registry

        registry = get_registry()
        rows = [r for r in index_rows(reader, frow, metric.name)
                if r.kind in registry.items["index"]]
        approximate = sorted((r for r in rows if not r.exact),
                             key=lambda r: r.recall or 0.0)
        chosen = approximate[-1] if approximate else next((r for r in rows if r.exact), None)
        matrix = reader.matrix(frow.result_key)
        if chosen is not None:
            kind = registry.index(chosen.kind)
            reader.verify_files(chosen.result_key)
            searcher = kind.open(matrix, metric, shards.folder(reader.path, chosen.result_key),
                                 chosen.params)
            return Answer(searcher, kind.exact, chosen, chosen.label)
        unit = None
        if metric.normalized_dot and matrix.size <= UNIT_IN_MEMORY_MAX:
            unit = unit_rows(matrix)
        return Answer(ExactSearcher(metric, matrix, unit), True, None, "exact")
    return reader.memo("answer", (frow.result_key, metric.name), make, keep=8)


def fetch_count(k: int, n: int) -> int:
    """How many candidates to ask an approximate index for, to re-rank down to ``k``."""
    return min(n, max(2 * k, k + 20))


def exclude_self(candidates: np.ndarray, idx: int | None) -> np.ndarray:
    """Candidates without the query's own row."""
    return candidates if idx is None else candidates[candidates != idx]
