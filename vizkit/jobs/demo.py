"""``vizkit demo``: the embedded default that needs no network.

Trains ``vizkit_small_cnn`` on Fashion-MNIST (a checkpoint per epoch, run ``demo``) and
precomputes features and top-50 neighbours of its final checkpoint for a few layers and
metrics, and the embedding of its first epoch (for the compare page). A second run finds everything in the store and takes seconds.
"""
from __future__ import annotations

from vizkit.checkpoints import load_model
from vizkit.jobs.precompute import precompute
from vizkit.jobs.train import TrainConfig, train
from vizkit.registry import get_registry
from vizkit.store import Store

DEMO_RUN = "demo"
DEMO_MODEL = "vizkit_small_cnn"
DEMO_DATASET = "fashion-mnist"
DEMO_LAYERS = ["stages.2", "embedding"]
DEMO_METRICS = ["cosine"]  # other metrics rank on demand from the features (ms)


def run_demo(store: Store, epochs: int = 3, dataset: str = DEMO_DATASET, k: int = 50,
             progress: bool = True) -> dict:
    """Train (or resume) the demo run and precompute its final checkpoint; return a summary."""
    ds = get_registry().open_dataset(dataset)
    history = train(store, ds, TrainConfig(model=DEMO_MODEL, dataset=dataset, epochs=epochs),
                    DEMO_RUN, progress=progress)
    model = load_model(None, checkpoint=DEMO_RUN, store=store)
    # the first epoch's embedding too (features only: search computes its top-k on demand),
    # so the compare page can set two checkpoints side by side; made first so that the
    # final checkpoint's features are the newest (the pages' default)
    early = load_model(None, checkpoint=f"{DEMO_RUN}:1", store=store)
    results = precompute(store, ds, early, ["embedding"], [], k=k, progress=progress)
    results += precompute(store, ds, model, DEMO_LAYERS, DEMO_METRICS, k=k, progress=progress)
    return {"run": DEMO_RUN, "history": history, "results": len(results),
            "checkpoint": model.checkpoint}
