"""Top-k neighbour lists of every image of a features result, through the best stored
index: exact in blocks for a few hundred thousand images, an approximate index re-ranked
exactly beyond. Resumable: finished blocks of queries are staged as files."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from vizkit.api.metrics import Metric
from vizkit.compute.indexes import rerank
from vizkit.progress import bar
from vizkit.read.catalog import Reader
from vizkit.read.indexes import answer_for, fetch_count

QUERY_BLOCK = int(os.environ.get("VIZKIT_NEIGHBOR_BLOCK", "4096"))


def neighbor_lists(reader: Reader, result_key: str, metric: Metric, k: int, staging: Path,
                   progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``[n, k]`` (int32) and scores of every image's ``k`` nearest other images."""
    frow = reader.features(result_key)
    matrix = reader.matrix(result_key)
    answer = answer_for(reader, frow, metric)
    k = min(k, frow.n - 1)
    staging.mkdir(parents=True, exist_ok=True)
    nbr = np.empty((frow.n, k), np.int32)
    score = np.empty((frow.n, k), np.float32)
    with bar(total=frow.n, desc=f"top-{k} {frow.layer} {metric.name} ({answer.note})",
             unit="img", disable=not progress) as b:
        for lo in range(0, frow.n, QUERY_BLOCK):
            hi = min(lo + QUERY_BLOCK, frow.n)
            part = staging / f"part-{lo:010d}.npz"
            if part.is_file():
                with np.load(part) as z:
                    nbr[lo:hi], score[lo:hi] = z["nbr"], z["score"]
            else:
                nbr[lo:hi], score[lo:hi] = _block(answer, metric, matrix, lo, hi, k)
                tmp = staging / f".part-{lo:010d}.tmp.npz"
                np.savez(tmp, nbr=nbr[lo:hi], score=score[lo:hi])
                os.replace(tmp, part)
            b.update(hi - lo)
    return nbr, score


def _block(answer, metric: Metric, matrix: np.ndarray, lo: int, hi: int, k: int):
    queries = np.asarray(matrix[lo:hi], np.float32)
    own = np.arange(lo, hi)
    if answer.exact:
        return answer.searcher.search(queries, k, exclude=own)
    found, _ = answer.searcher.search(queries, fetch_count(k, len(matrix)))
    found = np.where(found == own[:, None], -1, found)  # never its own neighbour
    idx, values = rerank(metric, matrix, queries, found, k)
    return idx, values


def clear(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
