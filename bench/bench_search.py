"""Search figures on a 70,000-image Fashion-MNIST store, as ratios measured in one run.

The store (features of the demo's small CNN with random weights, its exact index and no
stored lists, as the demo stores them) is made in a temporary folder. Then:
1. a dataset image's top-50 through the read side (what a click asks for): p50/p95 ms, with
   the catalog in memory and the matrix memory-mapped;
2. an outside vector's top-50 over 70,000 x 512 (exact search over a unit-length copy) ÷ the
   memory-bandwidth floor (a multi-threaded read of the same bytes), both warmed and
   alternated;
3. every image's top-50 (the neighbour-list job's blocks) ÷ a plain numpy reference
   (blocked matmul + argpartition), alternated.
Usage: python bench/bench_search.py
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
from timing import compare, percentiles, read_floor, scratch, store_in

from vizkit.compute.indexes import ExactSearcher, unit_rows
from vizkit.jobs.neighbors import _block
from vizkit.read.catalog import Reader
from vizkit.read.indexes import answer_for
from vizkit.read.query import Query, search
from vizkit.registry import get_registry


def reference_all_pairs(x: np.ndarray, k: int, block: int = 4096):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    out = np.empty((len(x), k), np.int64)
    for lo in range(0, len(x), block):
        s = xn[lo: lo + block] @ xn.T
        s[np.arange(len(s)), np.arange(lo, lo + len(s))] = -np.inf
        part = np.argpartition(-s, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, part, 1), axis=1)
        out[lo: lo + block] = np.take_along_axis(part, order, 1)
    return out


def main():
    cosine = get_registry().metric("cosine")
    with scratch() as tmp:
        store = store_in(tmp)
        subprocess.run([sys.executable, "-m", "vizkit.cli", "--store", str(store),
                        "precompute", "--dataset", "fashion-mnist", "--model",
                        "vizkit_small_cnn", "--weights", "random", "--layers", "embedding",
                        "--metrics", "", "--quiet"], check=True)
        subprocess.run([sys.executable, "-m", "vizkit.cli", "--store", str(store), "index",
                        "--dataset", "fashion-mnist", "--model", "vizkit_small_cnn",
                        "--weights", "random", "--layer", "embedding", "--kind", "exact",
                        "--quiet"], check=True, stdout=subprocess.DEVNULL)
        reader = Reader(Path(store))
        frow = reader.features_rows()[-1]
        rng = np.random.default_rng(0)
        queries = iter(rng.integers(0, frow.n, 10_000).tolist())
        lat = percentiles(lambda: search(reader, frow, cosine, Query(idx=next(queries)), 50),
                          calls=200)
        print(f"dataset image's top-50 over {frow.n:,} x {frow.dim} "
              f"({answer_for(reader, frow, cosine).note}): p50 {lat['p50'] * 1000:.1f} ms, "
              f"p95 {lat['p95'] * 1000:.1f} ms")

        big = rng.normal(size=(70_000, 512)).astype(np.float32)
        searcher = ExactSearcher(cosine, big, unit_rows(big))
        q = rng.normal(size=(1, 512)).astype(np.float32)
        t = compare({"search": lambda: searcher.search(q, 50)}, rounds=15, per_call=5)
        floor = read_floor(searcher.unit)
        print(f"outside vector's top-50 over 70,000 x 512: {t['search']}; read floor "
              f"{floor} ({searcher.unit.nbytes / floor.median / 1e9:.1f} GB/s); "
              f"search ÷ floor {t['search'].ratio(floor)}")

        x = np.asarray(reader.matrix(frow.result_key))
        answer = answer_for(reader, frow, cosine)
        t = compare({"vizkit": lambda: [_block(answer, cosine, x, lo, min(lo + 4096, len(x)),
                                               50) for lo in range(0, len(x), 4096)],
                     "numpy": lambda: reference_all_pairs(x, 50)}, rounds=3, warmup=0)
        print(f"every image's top-50, {len(x):,} x {x.shape[1]}: vizkit {t['vizkit'].median:.1f} "
              f"s, numpy blocked matmul+argpartition {t['numpy'].median:.1f} s, ratio "
              f"{t['vizkit'].ratio(t['numpy'])}")


if __name__ == "__main__":
    main()
