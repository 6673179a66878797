"""``vizkit dissect`` over a layer on 10,000 images ÷ one extraction pass of that layer over
the same images (vizkit.jobs.extract.extract_features, in this process), in one run:
medians of 3 alternating rounds with their range.

Usage: python bench/bench_dissect.py [--store data/vizkit.duckdb] [--layer stages.2]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from vizkit.jobs.dissect import dissect
from vizkit.jobs.extract import extract_features
from vizkit.registry import get_registry
from vizkit.runtime.models import load_model
from vizkit.store import Store


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="data/vizkit.duckdb")
    ap.add_argument("--layer", default="stages.2")
    args = ap.parse_args()
    model = load_model(None, checkpoint="demo", store=Store(args.store))
    data = get_registry().open_dataset("fashion-mnist[test]")
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(3):
            t = time.perf_counter()
            extract_features(data, model, [args.layer], Path(tmp) / f"x{r}", progress=False)
            bare = time.perf_counter() - t
            t = time.perf_counter()
            dissect(Store(Path(tmp) / f"s{r}.duckdb"), data, model, args.layer, progress=False)
            job = time.perf_counter() - t
            rounds.append((bare, job))
    ratios = sorted(j / b for b, j in rounds)
    print(f"dissect {args.layer} on {len(data):,} images: job {sorted(j for _, j in rounds)[1]:.2f}"
          f" s, one extraction pass {sorted(b for b, _ in rounds)[1]:.2f} s -> dissect ÷ "
          f"extraction {ratios[1]:.2f} [{ratios[0]:.2f}-{ratios[-1]:.2f}]")


if __name__ == "__main__":
    main()
