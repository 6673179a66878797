"""``vizkit demo``: the embedded default that needs no network.

Trains ``vizkit_small_cnn`` on Fashion-MNIST twice, a checkpoint per epoch: run ``demo``
with cross-entropy and run ``demo-epshn`` with the easy-positive semi-hard-negative loss
(a 64-d embedding, 10 classes x 16 images per batch), each epoch a fixed number of batches
so that the whole demo takes about four minutes on two CPU cores. Each checkpoint is
evaluated on 3,000 test and 3,000 train images (metrics, embeddings, anchors). Then it
precomputes features of the ``demo`` run's final checkpoint for two layers over all 70,000
images and lays out every checkpoint's embedding of the 3,000 test images on one aligned
UMAP, with k-means clusters and the classifier's predictions; and for the model explorer,
optimised images of 6 channels per stage of both runs and the test images that excite every
channel most. A second run finds everything in the store and takes seconds.
"""
from __future__ import annotations

from vizkit.jobs.explore import explore
from vizkit.jobs.layouts import evolve_run
from vizkit.jobs.precompute import precompute
from vizkit.jobs.train import TrainConfig, train
from vizkit.read.models import load_model
from vizkit.registry import get_registry
from vizkit.store import Store

DEMO_RUN = "demo"
DEMO_METRIC_RUN = "demo-epshn"
DEMO_MODEL = "vizkit_small_cnn"
DEMO_DATASET = "fashion-mnist"
DEMO_LAYERS = ["stages.2", "embedding"]
DEMO_EVAL_IMAGES = 3000  # per evaluation set: fashion-mnist[test][:3000], [train][:3000]
DEMO_EVOLUTION_IMAGES = f"[test][:{DEMO_EVAL_IMAGES}]"  # of the demo dataset
DEMO_BATCHES_PER_EPOCH = 160  # ~20,000 images an epoch
DEMO_EXPLORER_LAYERS = ["stages.0", "stages.1", "stages.2"]
DEMO_CHANNELS, DEMO_STEPS = 6, 128  # per layer and run: ~0.6 s a channel at 28 px
# No stored top-k lists: at 70,000 x 64 the search pages rank on demand in ~20 ms, and the
# all-pairs pass would cost the demo 15 s per layer and metric.
DEMO_METRICS: list[str] = []


def demo_configs(epochs: int, dataset: str = DEMO_DATASET) -> dict[str, TrainConfig]:
    """The demo's two runs: cross-entropy, and EPSHN on a 64-d embedding."""
    common = dict(model=DEMO_MODEL, dataset=dataset, epochs=epochs,
                  batches_per_epoch=DEMO_BATCHES_PER_EPOCH, eval_images=DEMO_EVAL_IMAGES,
                  anchors=500)
    return {DEMO_RUN: TrainConfig(loss="cross-entropy", batch_size=128, **common),
            DEMO_METRIC_RUN: TrainConfig(loss="epshn", embedding_dim=64, classes_per_batch=10,
                                         images_per_class=16, lr=1e-3, **common)}


def run_demo(store: Store, epochs: int = 3, dataset: str = DEMO_DATASET, k: int = 50,
             progress: bool = True) -> dict:
    """Train (or resume) the demo runs and precompute the first; return a summary."""
    ds = get_registry().open_dataset(dataset)
    histories = {run: train(store, ds, config, run, progress=progress)
                 for run, config in demo_configs(epochs, dataset).items()}
    model = load_model(None, checkpoint=DEMO_RUN, store=store)
    results = precompute(store, ds, model, DEMO_LAYERS, DEMO_METRICS, k=k, progress=progress)
    # every checkpoint on one aligned UMAP (plus independent layouts, to show what the
    # alignment buys), with clusters and predictions: for the projection, evolution,
    # misclassification and compare pages
    layouts = evolve_run(store, get_registry().open_dataset(dataset + DEMO_EVOLUTION_IMAGES),
                         DEMO_RUN, "embedding", "umap", progress=progress)
    # the model explorer: channel images of both runs' last checkpoints side by side, and
    # the test images that excite each channel most
    evaluation_images = get_registry().open_dataset(dataset + DEMO_EVOLUTION_IMAGES)
    for run in histories:
        explore(store, evaluation_images, load_model(None, checkpoint=run, store=store),
                DEMO_EXPLORER_LAYERS, DEMO_CHANNELS, DEMO_STEPS, progress=progress)
    return {"run": DEMO_RUN, "runs": list(histories), "history": histories[DEMO_RUN],
            "histories": histories, "results": len(results) + len(layouts),
            "checkpoint": model.checkpoint}
