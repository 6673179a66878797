"""``vizkit findings object`` (on the demo store) or ``findings parts`` (on ``synthetic:N``,
whose images name their parts, with the small CNN's random weights: the demo's Fashion-MNIST
has no parts) ÷ the bare cost of the maps it needs, timed in the same run:

- ``bare forwards``: one forward pass (the per-position features the maps are made of) per
  image it touches — the queries and their top-k results — in batches of 64;
- ``bare maps``: the same forwards and the maps' products of every (query, result) pair, in
  one pass over the images with every image's features held (what a script that only wants
  the maps would write).

Features of the dataset are extracted first and not counted on either side.

Usage: python bench/bench_findings.py [--store data/vizkit.duckdb] [--queries 500] [--k 10]
       python bench/bench_findings.py --finding parts [--dataset synthetic:7000[test]]
"""
from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
from pathlib import Path

import numpy as np
from timing import compare

from vizkit.compute.nearest import topk
from vizkit.compute.pairmaps import SpatialFeatures, query_maps
from vizkit.compute.similarity import Decomposer
from vizkit.jobs.findings import object_centricity, part_attention, query_positions
from vizkit.jobs.precompute import precompute
from vizkit.registry import get_registry
from vizkit.runtime.models import load_model
from vizkit.store import Store


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="data/vizkit.duckdb")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--finding", choices=["object", "parts"], default="object")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dataset", default=None,
                    help="default: fashion-mnist[test] (object), synthetic:7000[test] (parts)")
    args = ap.parse_args()
    parts = args.finding == "parts"
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("vizkit.duckdb", "checkpoints", "shards"):
            src = Path(args.store).parent / name
            (shutil.copytree if src.is_dir() else shutil.copy)(src, Path(tmp) / name)
        store = Store(Path(tmp) / "vizkit.duckdb")
        data = get_registry().open_dataset(args.dataset or (
            "synthetic:7000[test]" if parts else "fashion-mnist[test]"))
        model = load_model("vizkit_small_cnn", "random", input_size=32) if parts else \
            load_model(None, checkpoint="demo", store=store)
        layer = "stages.2" if parts else "embedding"
        frow = precompute(store, data, model, [layer], [], progress=False)[0]
        matrix = store.features(frow["result_key"])
        qidx = query_positions(data, args.queries)
        nbrs, _ = topk(get_registry().metric("cosine"), matrix[qidx], matrix, args.k,
                       exclude=qidx)
        seen = np.unique(np.concatenate([qidx, nbrs.ravel()]))
        decomposer = Decomposer(model, layer)
        first = decomposer.positions(list(data.batch_images(seen[:1])))
        job_of = part_attention if parts else object_centricity
        seeds = itertools.count(100)  # a new key each call: the job runs, never reads

        def bare(keep: bool = False) -> dict:
            features = {}
            for lo in range(0, len(seen), 64):
                batch = decomposer.positions(list(data.batch_images(seen[lo: lo + 64])))
                if keep:
                    features.update(zip(seen[lo: lo + 64].tolist(), zip(
                        batch.positions, batch.pooled)))
            return features

        def bare_maps() -> None:
            features = bare(keep=True)

            def spatial(image: int) -> SpatialFeatures:
                positions, pooled = features[image]
                return SpatialFeatures(positions, first.h, first.w, None, pooled)
            for q, row in zip(qidx.tolist(), nbrs.tolist()):
                query_maps(spatial(q), [spatial(r) for r in row], "cosine")
        times = compare({"bare forwards": bare, "bare maps": bare_maps, "job": lambda: job_of(
            store, data, model, layer, queries=args.queries, k=args.k, seed=next(seeds),
            progress=False)}, rounds=args.rounds)
    job, forwards, maps = times["job"], times["bare forwards"], times["bare maps"]
    print(f"findings {args.finding} on {data.name}, {len(qidx)} queries x top-{args.k} "
          f"({len(seen):,} images), {args.rounds} rounds: job {job}, bare forwards "
          f"{forwards}, bare maps {maps}\n  job ÷ bare forwards {job.ratio(forwards)}"
          f"\n  job ÷ bare maps {job.ratio(maps)}")


if __name__ == "__main__":
    main()
