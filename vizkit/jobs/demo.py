"""``vizkit demo``: the embedded default that needs no network.

Trains ``vizkit_small_cnn`` (widths 16/32/64: a third of the compute of the 32/64/128
default, Recall@1 0.88 on Fashion-MNIST within the budget) twice, a checkpoint per epoch:
run ``demo`` with cross-entropy (3 epochs of 360 batches of 128, ~138k images) and run
``demo-epshn`` with the easy-positive semi-hard-negative loss (a 64-d embedding, 10 classes
x 16 images per batch, 2 short epochs) for the triplet and spectrum pages. Each checkpoint
is evaluated on 1,500 test and 1,500 train images (metrics, embeddings, anchors). It
precomputes features of ``demo``'s final checkpoint for two layers over all 70,000 images
(and reports their Recall@1 on the whole test split) and the similarity maps of 40 test
queries (so the similarity page needs no model to show them), lays out every checkpoint's
embedding of 1,000 test images on one aligned UMAP with k-means clusters and the
classifier's predictions, and, for the model explorer, optimised images of 16 channels per
stage of both runs (one batched optimisation per stage) and the test images that excite
every channel most, and, for the Findings page, how much of each run's similarity lies on
the garment (300 test queries x top 10, against chance), which concept each channel of
the last stage stands for (``vizkit dissect``), and how far each kind of map of the last
stage can be trusted (``vizkit faithfulness``, 20 queries x top 2). A second run finds
everything in the store and takes seconds. ``--quick`` (:data:`QUICK`) is the reduced
version a hosted app builds on its first start.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vizkit.api.datasets import Dataset
from vizkit.compute.spectrum import recall_at_1
from vizkit.jobs.atlas import atlas_of_model, evolution_atlases
from vizkit.jobs.dissect import dissect
from vizkit.jobs.explore import explore
from vizkit.jobs.faithfulness import faithfulness
from vizkit.jobs.findings import object_centricity
from vizkit.jobs.keys import features_meta
from vizkit.jobs.layouts import evolve_run
from vizkit.jobs.maps import precompute_maps
from vizkit.jobs.precompute import precompute
from vizkit.jobs.train import TrainConfig, train
from vizkit.registry import get_registry
from vizkit.runtime.loaded import LoadedModel
from vizkit.runtime.models import load_model
from vizkit.store import Store

DEMO_RUN = "demo"
DEMO_METRIC_RUN = "demo-epshn"
DEMO_MODEL = "vizkit_small_cnn"
DEMO_DATASET = "fashion-mnist"
DEMO_LAYERS = ["stages.2", "embedding"]
DEMO_EXPLORER_LAYERS = ["stages.0", "stages.1", "stages.2"]
# No stored top-k lists: at 70,000 x 64 the search pages rank on demand in a few ms, and
# the all-pairs pass would cost the demo 15 s per layer and metric.
DEMO_METRICS: list[str] = []


@dataclass(frozen=True)
class DemoPlan:
    """How much work the demo does: the full one (``vizkit demo``) or the reduced one a
    hosted app's cold start runs (``vizkit demo --quick``)."""

    epochs: int
    batches_per_epoch: int  # of 128 images (the cross-entropy run)
    metric_epochs: int  # of the EPSHN run, which the triplet and spectrum pages compare
    metric_batches: int  # per epoch, of 10 classes x 16 images
    eval_images: int  # per evaluation set: fashion-mnist[test][:n] and [train][:n]
    layout_images: int  # test images laid out per checkpoint, and searched by the explorer
    channels: int  # channel images per explorer layer and run
    map_queries: int  # test images whose similarity maps are stored
    steps: int  # optimisation steps per channel image
    widths: tuple[int, int, int] = (16, 32, 64)
    grid_images: int = 0  # test images of the Models x layers grid (0: no grid)
    findings_queries: int = 0  # test queries of the object-centricity finding (0: none)
    atlas_fit: int = 0  # the atlas of all images, its UMAP fitted on this many (0: none)


FULL = DemoPlan(epochs=3, batches_per_epoch=360, metric_epochs=2, metric_batches=50,
                eval_images=1500, layout_images=1000, channels=16, map_queries=40,
                steps=48, grid_images=600, findings_queries=300, atlas_fit=20_000)
PRETRAINED = "efficientnet_lite0.imagenet"  # the example plugin's model, when installed
PRETRAINED_SIZE = 64  # px: Fashion-MNIST's 28 px upsampled, a fraction of 224's cost
QUICK = DemoPlan(epochs=1, batches_per_epoch=100, metric_epochs=1, metric_batches=40,
                 eval_images=800, layout_images=600, channels=2, map_queries=20,
                 steps=32)


def demo_configs(plan: DemoPlan = FULL, dataset: str = DEMO_DATASET) -> dict[str, TrainConfig]:
    """The demo's two runs: cross-entropy, and EPSHN on a 64-d embedding."""
    common = dict(model=DEMO_MODEL, dataset=dataset, eval_images=plan.eval_images,
                  anchors=min(500, plan.eval_images), model_kwargs={"widths": list(plan.widths)})
    return {DEMO_RUN: TrainConfig(loss="cross-entropy", batch_size=128, epochs=plan.epochs,
                                  batches_per_epoch=plan.batches_per_epoch, **common),
            DEMO_METRIC_RUN: TrainConfig(loss="epshn", embedding_dim=64, classes_per_batch=10,
                                         images_per_class=16, lr=1e-3,
                                         epochs=plan.metric_epochs,
                                         batches_per_epoch=plan.metric_batches, **common)}


def whole_test_recall(store: Store, dataset: Dataset, model: LoadedModel) -> float:
    """Leave-one-out Recall@1 of the final embedding on the whole test split (cosine), from
    the features the demo precomputed over every image."""
    frow = store.result(features_meta(dataset, model, "embedding")["result_key"])
    features = np.asarray(store.features(frow["result_key"]))
    test = np.flatnonzero(dataset.splits == "test")
    return recall_at_1(np.ascontiguousarray(features[test]), dataset.labels[test],
                       get_registry().metric("cosine"))


def models_by_layers(store: Store, dataset: str, plan: DemoPlan, demo_model: LoadedModel,
                     device, amp: bool, progress: bool) -> list[dict]:
    """The Models x layers grid on ``plan.grid_images`` test images: the demo model's curated
    layers and, when the example plugin is installed, the ImageNet EfficientNet-Lite0's
    (with channel images of its last stage for the explorer)."""
    images = get_registry().open_dataset(f"{dataset}[test][:{plan.grid_images}]")
    rows = precompute(store, images, demo_model, demo_model.curated_layers(), ["cosine"],
                      k=20, progress=progress)
    if PRETRAINED not in get_registry().model_names():
        return rows
    model = load_model(PRETRAINED, "pretrained", input_size=PRETRAINED_SIZE).to(device, amp)
    rows += precompute(store, images, model, model.curated_layers(), ["cosine"], k=20,
                       progress=progress)
    explore(store, images, model, model.curated_layers()[-2:-1], plan.channels, plan.steps,
            progress=progress)
    return rows


def run_demo(store: Store, plan: DemoPlan = FULL, dataset: str = DEMO_DATASET, k: int = 50,
             progress: bool = True, device: torch.device | None = None,
             amp: bool = False) -> dict:
    """Train (or resume) the demo runs and precompute their results; return a summary.

    Ordered so that an app watching the store (a hosted app's cold start) can serve each
    page as soon as its results land: the cross-entropy run, then features of every image
    (semantic search, similarity maps), its layouts (projections, evolution,
    misclassifications), the EPSHN run (triplets, spectrum), and the explorer. Every model
    runs on ``device`` (default: the CPU)."""
    device = device or torch.device("cpu")

    def checkpoint(run: str) -> LoadedModel:
        return load_model(None, checkpoint=run, store=store).to(device, amp)

    ds = get_registry().open_dataset(dataset)
    configs = demo_configs(plan, dataset)
    histories = {DEMO_RUN: train(store, ds, configs[DEMO_RUN], DEMO_RUN, progress=progress,
                                 device=device, amp=amp)}
    model = checkpoint(DEMO_RUN)
    results = precompute(store, ds, model, DEMO_LAYERS, DEMO_METRICS, k=k, progress=progress)
    # maps of a few test queries, so that the similarity page needs no model to show some
    results.append(precompute_maps(store, ds, model, "embedding", "cosine", k=20,
                                   queries=f"test:{plan.map_queries}", progress=progress))
    if plan.atlas_fit:  # every image on one zoomable map (the projection page's atlas)
        results.append(atlas_of_model(store, ds, model, "embedding", fit=plan.atlas_fit,
                                      progress=progress))
    # every checkpoint on one aligned UMAP (plus independent layouts, to show what the
    # alignment buys), with clusters and predictions
    evaluation_images = get_registry().open_dataset(
        f"{dataset}[test][:{plan.layout_images}]")
    layouts = evolve_run(store, evaluation_images, DEMO_RUN, "embedding", "umap",
                         progress=progress, device=device, amp=amp)
    if plan.atlas_fit:  # and its checkpoints as atlas frames of the evolution page
        layouts += evolution_atlases(store, evaluation_images, DEMO_RUN, "embedding", "umap",
                                     progress=progress)
    histories[DEMO_METRIC_RUN] = train(store, ds, configs[DEMO_METRIC_RUN], DEMO_METRIC_RUN,
                                       progress=progress, device=device, amp=amp)
    # the model explorer: channel images of both runs' last checkpoints side by side, and
    # the test images that excite each channel most
    for run in histories:
        explore(store, evaluation_images, checkpoint(run), DEMO_EXPLORER_LAYERS,
                plan.channels, plan.steps, progress=progress)
    if plan.grid_images:
        results += models_by_layers(store, dataset, plan, checkpoint(DEMO_RUN), device, amp,
                                    progress)
    if plan.findings_queries:  # the Findings page: cross-entropy (A) against EPSHN (B)
        test = get_registry().open_dataset(f"{dataset}[test]")
        for run in histories:
            results.append(object_centricity(store, test, checkpoint(run), "embedding",
                                             queries=plan.findings_queries, progress=progress))
            # and, for the explorer, the concept each channel of the last stage stands for
            results.append(dissect(store, test, checkpoint(run), DEMO_EXPLORER_LAYERS[-1],
                                   progress=progress))
        results.append(faithfulness(store, test, checkpoint(DEMO_RUN), DEMO_EXPLORER_LAYERS[-1],
                                    queries=20, k=2, progress=progress))
    return {"run": DEMO_RUN, "runs": list(histories), "history": histories[DEMO_RUN],
            "histories": histories, "results": len(results) + len(layouts),
            "checkpoint": model.checkpoint,
            "test_recall_at_1": whole_test_recall(store, ds, model)}
