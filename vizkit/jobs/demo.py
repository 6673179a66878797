"""``vizkit demo``: the embedded default that needs no network.

Trains ``vizkit_small_cnn`` on Fashion-MNIST (a checkpoint per epoch, run ``demo``) and
precomputes features of its final checkpoint for a few layers; then lays out every
checkpoint's embedding of 3,000 test images on one aligned UMAP, with k-means clusters and
the classifier's predictions. A second run finds
everything in the store and takes seconds.
"""
from __future__ import annotations

from vizkit.checkpoints import load_model
from vizkit.jobs.layouts import evolve_run
from vizkit.jobs.precompute import precompute
from vizkit.jobs.train import TrainConfig, train
from vizkit.registry import get_registry
from vizkit.store import Store

DEMO_RUN = "demo"
DEMO_MODEL = "vizkit_small_cnn"
DEMO_DATASET = "fashion-mnist"
DEMO_LAYERS = ["stages.2", "embedding"]
DEMO_EVOLUTION_IMAGES = "[test][:3000]"  # of the demo dataset
# No stored top-k lists: at 70,000 x 64 the search pages rank on demand in ~20 ms, and the
# all-pairs pass would cost the demo 15 s per layer and metric.
DEMO_METRICS: list[str] = []


def run_demo(store: Store, epochs: int = 3, dataset: str = DEMO_DATASET, k: int = 50,
             progress: bool = True) -> dict:
    """Train (or resume) the demo run and precompute its final checkpoint; return a summary."""
    ds = get_registry().open_dataset(dataset)
    history = train(store, ds, TrainConfig(model=DEMO_MODEL, dataset=dataset, epochs=epochs),
                    DEMO_RUN, progress=progress)
    model = load_model(None, checkpoint=DEMO_RUN, store=store)
    results = precompute(store, ds, model, DEMO_LAYERS, DEMO_METRICS, k=k, progress=progress)
    # every checkpoint on one aligned UMAP (plus independent layouts, to show what the
    # alignment buys), with clusters and predictions: for the projection, evolution,
    # misclassification and compare pages
    layouts = evolve_run(store, get_registry().open_dataset(dataset + DEMO_EVOLUTION_IMAGES), DEMO_RUN,
                         "embedding", "umap", progress=progress)
    return {"run": DEMO_RUN, "history": history, "results": len(results) + len(layouts),
            "checkpoint": model.checkpoint}
