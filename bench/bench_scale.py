"""Search at scale, as vizkit runs it, measured in one run.

For N in --sizes (default 70k, 300k, 1M) clustered vectors of --dim dimensions are stored as
a features result; then, through vizkit's own jobs and read side:
1. build time of each index (exact: the unit-length copy; faiss-ivf; faiss-hnsw up to
   --hnsw-max rows) and its recall@50 measured by vizkit at build time;
2. one-query latency p50/p95 through the read side (index search + exact re-rank) and its
   recall@50 against exact search on held-out queries; exact search ÷ the memory-bandwidth
   floor (one multi-threaded read of the same bytes);
3. neighbour lists: seconds per 1,000 queries through the index the job would use, and the
   extrapolated time for all N;
4. peak RSS of a fresh process that opens the store and answers 100 queries (what an app
   process holds: memory-mapped files are shared page cache) ÷ the same process idle;
5. the Ray engine (2 local workers) on synthetic:--ray-images images ÷ the local engine,
   images/s, both from a cold start (Ray's start-up included) and the Ray steady state.
Usage: python bench/bench_scale.py [--sizes 70000,300000,1000000] [--dim 256] [--no-ray]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from timing import percentiles, read_floor, scratch, store_in

from vizkit.compute.indexes import ExactSearcher, recall_at_k
from vizkit.jobs.index import build_index
from vizkit.read.catalog import Reader
from vizkit.read.indexes import answer_for, fetch_count
from vizkit.registry import get_registry
from vizkit.store import Store

K = 50


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """``n`` vectors around ``sqrt(n)/4`` centres (what learned embeddings look like)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(10, int(np.sqrt(n) / 4)), dim)).astype(np.float32)
    out = np.empty((n, dim), np.float32)
    for lo in range(0, n, 100_000):
        hi = min(n, lo + 100_000)
        out[lo:hi] = centres[rng.integers(0, len(centres), hi - lo)] + \
            0.6 * rng.normal(size=(hi - lo, dim)).astype(np.float32)
    return out


def make_store(folder: Path, n: int, dim: int) -> tuple[Store, dict]:
    store = Store(store_in(folder))
    meta = {"result_key": f"f-bench-{n}-{dim}", "dataset_key": f"bench{n}#0", "model": "bench",
            "weights": "random", "weights_fp": "bench", "layer": "x", "params": "{}"}
    store.put_features(meta, clustered(n, dim))
    return store, store.result(meta["result_key"])


def query_figures(store: Store, frow: dict, metric, queries: np.ndarray, truth: np.ndarray):
    reader = Reader(store)
    row = reader.features(frow["result_key"])
    answer = answer_for(reader, row, metric)
    matrix = reader.matrix(row.result_key)
    from vizkit.compute.indexes import rerank

    def one(q: int) -> np.ndarray:
        v = matrix[q][None]
        if answer.exact:
            return answer.searcher.search(v, K, exclude=np.array([q]))[0][0]
        found, _ = answer.searcher.search(v, fetch_count(K, row.n))
        found = found[0][found[0] != q][None]
        return rerank(metric, matrix, v, found, K)[0][0]

    got = np.array([one(int(q)) for q in queries])
    it = iter(queries.tolist() * 10)
    lat = percentiles(lambda: one(next(it)), calls=min(200, 10 * len(queries)))
    return answer.note, recall_at_k(got, truth), lat


def neighbour_seconds_per_1000(store: Store, frow: dict, metric) -> float:
    from vizkit.jobs.neighbors import _block

    reader = Reader(store)
    row = reader.features(frow["result_key"])
    answer = answer_for(reader, row, metric)
    matrix = reader.matrix(row.result_key)
    t = time.perf_counter()
    _block(answer, metric, matrix, 0, 2000, K)
    return (time.perf_counter() - t) / 2


def rss_figures(store_path: Path, key: str) -> tuple[float, float]:
    script = f"""
import numpy as np
def hwm():  # this process's own peak (ru_maxrss would count the parent it was forked from)
    return next(int(l.split()[1]) / 1024 for l in open("/proc/self/status")
                if l.startswith("VmHWM:"))
from vizkit.registry import get_registry
from vizkit.read.catalog import Reader
from vizkit.read.indexes import answer_for
reader = Reader({str(store_path)!r}); metric = get_registry().metric("cosine")
row = reader.features({key!r})
idle = hwm()
answer = answer_for(reader, row, metric); matrix = reader.matrix(row.result_key)
for q in range(0, row.n, max(1, row.n // 100)):
    answer.searcher.search(np.asarray(matrix[q:q + 1]), 100)
print(idle, hwm())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), float(out[1])


def scale(n: int, dim: int, hnsw_max: int) -> None:
    registry = get_registry()
    cosine = registry.metric("cosine")
    with scratch() as tmp:
        store, frow = make_store(Path(tmp), n, dim)
        matrix = store.features(frow["result_key"])
        rng = np.random.default_rng(1)
        queries = rng.choice(n, 200, replace=False)
        truth, _ = ExactSearcher(cosine, matrix).search(matrix[queries], K,
                                                        exclude=queries)
        print(f"\n== N = {n:,} x {dim} float32 ({matrix.nbytes / 1e9:.2f} GB) ==")
        floor = read_floor(matrix)
        kinds = ["exact", "faiss-ivf"] + (["faiss-hnsw"] if n <= hnsw_max else [])
        for kind in kinds:
            row = build_index(store, frow, cosine, registry.index(kind), progress=False)
            params = json.loads(row["params"])
            built = f"built in {params['build_seconds']:.1f} s"
            if not params.get("exact"):
                built += f", recall@50 at build {params['recall']:.3f} (effort " \
                         f"{params['effort']})"
            # a fresh store view per kind: drop the other indexes from what answers
            only = Store(store.path)
            note, recall, lat = query_figures(only, frow, cosine, queries, truth)
            line = f"{kind:<11} {built}; query p50 {lat['p50'] * 1000:.2f} ms, p95 " \
                   f"{lat['p95'] * 1000:.2f} ms; recall@50 {recall:.3f}"
            if kind == "exact":
                line += f"; ÷ read floor {lat['p50'] / floor.median:.2f} (floor {floor})"
            print(line)
            per_1000 = neighbour_seconds_per_1000(only, frow, cosine)
            print(f"{'':<11} neighbour lists: {per_1000:.2f} s per 1,000 queries -> "
                  f"{per_1000 * n / 1000 / 60:.1f} min for all {n:,}")
            idle, busy = rss_figures(store.path, frow["result_key"])
            print(f"{'':<11} a process answering 100 queries: peak RSS {busy:.0f} MB = "
                  f"{busy / idle:.2f} x idle ({idle:.0f} MB)")
            _drop(store, row["result_key"])


def _drop(store: Store, key: str) -> None:
    """Remove an index result so the next kind answers alone (benchmark only)."""
    with store.write() as con:
        con.execute("DELETE FROM results WHERE result_key = ?", [key])
        con.execute("DELETE FROM shards WHERE result_key = ?", [key])


def ray_vs_local(images: int) -> None:
    """Extraction images/s: the local engine, then the Ray engine from a cold start (Ray's
    start-up included) and on a running cluster (its actors' start-up included)."""
    import ray

    from vizkit.jobs.distributed import extract_with_ray, model_spec
    from vizkit.jobs.extract import extract_features
    from vizkit.runtime.models import load_model

    os.environ["VIZKIT_EXTRACT_CHUNK"] = "2048"
    import vizkit.jobs.extract as extract_module

    extract_module.CHUNK = 2048
    dataset = get_registry().open_dataset(f"synthetic:{images}")
    model = load_model("vizkit_small_cnn", "random")
    with scratch() as tmp:
        spec = model_spec(model, store_in(tmp), None)
        rates = {}
        for name in ("local", "ray cold", "ray warm"):
            staging = Path(tmp) / name.replace(" ", "-")
            if name == "ray warm":
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                         logging_level="ERROR")
            t = time.perf_counter()
            if name == "local":
                extract_features(dataset, model, ["embedding"], staging, progress=False)
            else:
                extract_with_ray(dataset, model, ["embedding"], staging, spec=spec,
                                 workers=2, progress=False)
            rates[name] = images / (time.perf_counter() - t)
        ray.shutdown()
    print(f"\n== extraction of synthetic:{images:,} (vizkit_small_cnn, {os.cpu_count()} cores) ==")
    for name, rate in rates.items():
        print(f"{name:<9} {rate:,.0f} img/s = {rate / rates['local']:.2f} x local")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="70000,300000,1000000")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--hnsw-max", type=int, default=300_000)
    p.add_argument("--ray-images", type=int, default=20_000)
    p.add_argument("--no-ray", action="store_true")
    args = p.parse_args()
    print(f"{os.cpu_count()} cores")
    for n in [int(s) for s in args.sizes.split(",")]:
        scale(n, args.dim, args.hnsw_max)
    if not args.no_ray:
        ray_vs_local(args.ray_images)


if __name__ == "__main__":
    main()
