"""``vizkit faithfulness`` ÷ the bare forwards of the perturbed batches it scores: for 100
pairs (50 queries x top 2) and 20 steps, every explainer's deletion and insertion batch
(2 x 21 images per pair and method) re-embedded alone, against the whole job (which also
computes each explanation), timed alternately in one run on the demo store.

Usage: python bench/bench_faithfulness.py [--store data/vizkit.duckdb] [--layer stages.2]
"""
from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from timing import compare

from vizkit.compute.faithfulness import STEPS
from vizkit.jobs.faithfulness import chosen_explainers, faithfulness
from vizkit.registry import get_registry
from vizkit.runtime.devices import blas_beside_torch
from vizkit.runtime.models import load_model
from vizkit.store import Store


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="data/vizkit.duckdb")
    ap.add_argument("--layer", default="stages.2")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--k", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("vizkit.duckdb", "checkpoints", "shards"):
            src = Path(args.store).parent / name
            (shutil.copytree if src.is_dir() else shutil.copy)(src, Path(tmp) / name)
        store = Store(Path(tmp) / "vizkit.duckdb")
        data = get_registry().open_dataset("fashion-mnist[test]")
        model = load_model(None, checkpoint="demo", store=store)
        methods = len(chosen_explainers(model, args.layer, "cosine")[0])
        pairs = args.queries * args.k
        x = model.preprocess(data.batch_images(np.arange(2 * (STEPS + 1))))
        seeds = itertools.count(100)  # a new key each call: the job runs, never reads

        def bare():
            with blas_beside_torch(), torch.inference_mode():
                for _ in range(pairs * methods):
                    model.pooled_features(x, [args.layer])
        times = compare({"bare": bare, "job": lambda: faithfulness(
            store, data, model, args.layer, queries=args.queries, k=args.k,
            seed=next(seeds), progress=False)}, rounds=3)
    print(f"faithfulness {args.layer}, {pairs} pairs x {methods} methods x {STEPS} steps: job "
          f"{times['job']}, bare forwards of the perturbed batches {times['bare']} -> "
          f"job ÷ bare {times['job'].ratio(times['bare'])} over 3 rounds")


if __name__ == "__main__":
    main()
