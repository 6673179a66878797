"""Extraction pipeline throughput ÷ bare model forward throughput, same inputs, same run.

The pipeline (vizkit.jobs.extract.extract_features) reads the dataset, preprocesses on a
background thread, runs the model with hooks on the chosen layers, pools and stages the
parts to disk. The bare figure is the model's forward on already-preprocessed tensors.
Usage: python bench/bench_extract.py [N_IMAGES]
"""
import sys
import tempfile
import time
from pathlib import Path

import torch

from vizkit.jobs.extract import extract_features
from vizkit.read.models import load_model
from vizkit.registry import get_registry


def bare_throughput(model, dataset, n, batch_size=256):
    xs = [model.preprocess(b.images) for b in dataset.iter_batches(batch_size, 0, n)]
    with torch.inference_mode():
        model.module(xs[0])
        t = time.perf_counter()
        for x in xs:
            model.module(x)
    return n / (time.perf_counter() - t)


def pipeline_throughput(model, dataset, layers):
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        extract_features(dataset, model, layers, Path(tmp), progress=False)
        return len(dataset) / (time.perf_counter() - t)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    ds = get_registry().open_dataset(f"fashion-mnist[:{n}]")
    cases = [("vizkit_small_cnn", None, ["stages.2", "embedding"], n),
             ("resnet18", 64, ["layer3", "pre_logits"], min(n, 2000))]
    for name, size, layers, count in cases:
        model = load_model(name, "random", input_size=size)
        sub = get_registry().open_dataset(f"fashion-mnist[:{count}]")
        bare = bare_throughput(model, sub, count)
        pipe = pipeline_throughput(model, sub, layers)
        print(f"{name} @ {model.config.height}px, {count} images: pipeline {pipe:,.0f} img/s, "
              f"bare forward {bare:,.0f} img/s, ratio {pipe / bare:.2f}")
    del ds


if __name__ == "__main__":
    main()
