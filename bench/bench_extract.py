"""Extraction pipeline throughput ÷ bare model forward throughput, same inputs, same run.

The pipeline (vizkit.jobs.extract.extract_features) reads the dataset, preprocesses on a
background thread, runs the model with hooks on the chosen layers, pools and stages the
parts to disk. The bare figure is the model's forward on already-preprocessed tensors. Both
are warmed, then timed in alternation over several rounds (timing.compare): medians and
their range.
Usage: python bench/bench_extract.py [N_IMAGES]
"""
import sys
from pathlib import Path

import torch
from timing import compare, scratch

from vizkit.jobs.extract import extract_features
from vizkit.registry import get_registry
from vizkit.runtime.models import load_model


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    cases = [("vizkit_small_cnn", None, ["stages.2", "embedding"], n),
             ("resnet18", 64, ["layer3", "pre_logits"], min(n, 2000))]
    for name, size, layers, count in cases:
        model = load_model(name, "random", input_size=size)
        dataset = get_registry().open_dataset(f"fashion-mnist[:{count}]")
        xs = [model.preprocess(b.images) for b in dataset.iter_batches(256)]
        with scratch() as tmp:
            runs = iter(range(10_000))

            def bare():
                with torch.inference_mode():
                    for x in xs:
                        model.module(x)

            def pipeline():  # a fresh staging folder each time: nothing resumed
                extract_features(dataset, model, layers, Path(tmp) / str(next(runs)),
                                 progress=False)

            t = compare({"pipeline": pipeline, "bare": bare}, rounds=5)
        print(f"{name} @ {model.config.height}px, {count} images: pipeline "
              f"{count / t['pipeline'].median:,.0f} img/s, bare forward "
              f"{count / t['bare'].median:,.0f} img/s; pipeline ÷ bare throughput "
              f"{t['bare'].ratio(t['pipeline'])}")


if __name__ == "__main__":
    main()
