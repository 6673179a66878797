"""The Models x layers grid: the grid job ÷ the bare forward passes it needs, and the grid
page's time to draw for 3 models x 8 layers x 4 metrics on the 70,000-image store.

Job: ``vizkit precompute --models a,b,c --layers ...`` as the CLI runs it (one
:func:`~vizkit.jobs.precompute.precompute` per model, all its layers in one extraction pass:
decoding, preprocessing, hooks, pooling, staging, store writes) over the first
``--job-images`` Fashion-MNIST images into a fresh store, features only. Bare: each model's
``model(x)`` in inference mode over the same images already preprocessed -- one forward
pass per model per image, the least the job can do. Both sides alternate (timing.compare).

Page: the same 3 models x 8 layers over all 70,000 images, features only; the Models x
layers page under Streamlit's AppTest, first drawn under each metric in turn (each cell
searches 2,000 queries among 70,000 images), then redrawn when a metric is chosen again.
Beside it, the bare brute-force top-50 of those queries for every cell
(``compute.nearest.topk``) -- the work the page cannot avoid without stored lists: page ÷
bare. Then a store whose grid job also made cosine top-50 lists (``--lists-images``; all
70,000 would take the job about half an hour per metric on 2 cores): the page's first draw
under cosine (looked up) ÷ under dot (searched).
Models: random-weight resnet18, mobilenetv3_small_100 and efficientnet_b0 at 32 px (their
curated layers, then the next layers in depth order up to 8).
Usage: python bench/bench_grid.py [--job-images 5000] [--images 70000] [--lists-images 10000]
"""
import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from timing import compare, scratch, store_in

from vizkit.jobs.precompute import precompute
from vizkit.registry import get_registry
from vizkit.runtime.models import load_model
from vizkit.store import Store

MODELS = ["resnet18", "mobilenetv3_small_100", "efficientnet_b0"]
METRICS = ["cosine", "dot", "euclidean", "sqeuclidean"]
LAYERS = 8


def eight_layers(model) -> list[str]:
    """The model's curated layers, then further layers in depth order, ``LAYERS`` in all."""
    names = [i.name for i in model.layers()]
    chosen = list(model.curated_layers())
    for name in names:
        if len(chosen) >= LAYERS:
            break
        if name not in chosen and name.count(".") <= 1:
            chosen.append(name)
    return sorted(chosen[:LAYERS], key=names.index)


def job_ratio(n: int) -> None:
    models = [load_model(m, "random", input_size=32) for m in MODELS]
    layers = {m.name: eight_layers(m) for m in models}
    dataset = get_registry().open_dataset(f"fashion-mnist[:{n}]")
    xs = {m.name: [m.preprocess(b.images) for b in dataset.iter_batches(256)]
          for m in models}
    with scratch() as tmp:
        runs = iter(range(10_000))

        def bare():
            with torch.inference_mode():
                for m in models:
                    for x in xs[m.name]:
                        m.module(x)

        def job():  # a fresh store each time: nothing resumed
            store = Store(Path(tmp) / str(next(runs)) / "vizkit.duckdb")
            for m in models:
                precompute(store, dataset, m, layers[m.name], [], progress=False)
        t = compare({"job": job, "bare": bare}, rounds=3)
    print(f"grid job, {len(models)} models x {LAYERS} layers, {n:,} images (features "
          f"only): job {t['job']}, bare forward passes {t['bare']}; job ÷ bare time "
          f"{t['job'].ratio(t['bare'])}")


def make_store(folder: str, n: int, metrics: list[str]) -> tuple[Path, str]:
    """A store of the three models' eight layers over the first ``n`` Fashion-MNIST images
    (with top-50 lists under ``metrics``, as the grid job makes them); its path and the
    dataset's name."""
    name = "fashion-mnist" if n >= 70_000 else f"fashion-mnist[:{n}]"
    dataset = get_registry().open_dataset(name)
    path = store_in(folder)
    store = Store(path)
    t0 = time.perf_counter()
    for model_name in MODELS:
        model = load_model(model_name, "random", input_size=32)
        precompute(store, dataset, model, eight_layers(model), metrics, progress=False)
    print(f"made the store ({len(MODELS)} models x {LAYERS} layers, {len(dataset):,} images, "
          f"top-50 lists under {metrics or 'no metric'}) in {time.perf_counter() - t0:.0f} s")
    return path, dataset.name


def bare_topk(path: Path, dataset: str, metrics: list[str]) -> float:
    """Seconds of the bare brute-force top-50 of the page's queries, every cell and metric."""
    from vizkit.compute.nearest import topk
    from vizkit.read.catalog import Reader
    from vizkit.read.grid import MAX_QUERIES, K, configurations

    reader = Reader(path)
    seconds = 0.0
    for metric_name in metrics:
        metric = get_registry().metric(metric_name)
        for frow in configurations(reader, dataset):
            matrix = reader.matrix(frow.result_key)
            q = np.arange(min(MAX_QUERIES, len(matrix)))
            t1 = time.perf_counter()
            topk(metric, np.ascontiguousarray(matrix[q]), matrix, K, exclude=q)
            seconds += time.perf_counter() - t1
    return seconds


def page_draws(path: Path, metrics: list[str]) -> tuple[list[float], list[float]]:
    """The grid page under AppTest: seconds of its first draw under each metric in turn,
    then of its redraw under each again."""
    from streamlit.testing.v1 import AppTest

    os.environ["VIZKIT_STORE"] = str(path)
    at = AppTest.from_string("from vizkit.app.router import run_page\nrun_page('grid')",
                             default_timeout=1800)
    at.session_state["grid_metric"] = metrics[0]
    first, again = [], []
    t1 = time.perf_counter()
    at.run()
    first.append(time.perf_counter() - t1)
    for metric_name in [*metrics[1:], *metrics]:
        t1 = time.perf_counter()
        at.selectbox(key="grid_metric").select(metric_name).run()
        (first if len(first) < len(metrics) else again).append(time.perf_counter() - t1)
    assert not at.exception and not at.error, (at.exception, at.error)
    return first, again


def seconds(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values) + " s"


def page_time(n: int, lists_n: int) -> None:
    with scratch() as tmp:
        path, dataset = make_store(tmp, n, [])
        first, again = page_draws(path, METRICS)
        bare = bare_topk(path, dataset, METRICS)
    print(f"grid page, {len(MODELS) * LAYERS} cells x {len(METRICS)} metrics on {n:,} images, "
          f"no stored lists: first draw per metric {seconds(first)} (sum {sum(first):.1f} s); "
          f"redrawn {seconds(again)}; bare top-50 of 2,000 queries for every cell and metric "
          f"{bare:.1f} s; page first draws ÷ bare {sum(first) / bare:.2f}")
    with scratch() as tmp:  # the grid job's cosine top-50 lists: the page looks them up
        path, dataset = make_store(tmp, lists_n, ["cosine"])
        first, again = page_draws(path, ["cosine", "dot"])
    print(f"grid page on {lists_n:,} images with the grid job's cosine lists: first draw "
          f"under cosine (looked up) {first[0]:.2f} s, under dot (searched) {first[1]:.2f} s; "
          f"look-up ÷ search {first[0] / first[1]:.3f}; redrawn {seconds(again)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--job-images", type=int, default=5000)
    ap.add_argument("--images", type=int, default=70_000)
    ap.add_argument("--lists-images", type=int, default=10_000,
                    help="images of the store whose grid job also made top-50 lists")
    args = ap.parse_args()
    torch.manual_seed(0)
    job_ratio(args.job_images)
    page_time(args.images, args.lists_images)


if __name__ == "__main__":
    main()
