"""Named recipes that reproduce published settings: ``vizkit reproduce NAME --data PATH``.

Each recipe is a training configuration on one of the standard benchmarks
(:mod:`vizkit_plugins.benchmarks`) with the figure its source reports; running it prints
that figure first and the measured one beside it at the end. The settings follow the
EPSHN authors' code (littleredxh/EasyPositiveHardNegative: ImageNet-pretrained ResNet, the
short side resized to 1.1 x 256 then a random 256 crop and a flip for training, a centre
crop for testing, N x M batches, the learning rate divided by 10 at half and three quarters
of the run) and the research notes this tool grew from (a learning rate of 0.0005 "in all
the tests in the paper"; the EP / EPSHN learning-rate sweep 1e-4 ... 1.6e-3).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from vizkit.errors import UnknownNameError
from vizkit.jobs.train import TrainConfig, train
from vizkit.registry import get_registry
from vizkit.store import Store

WACV2020 = ("Xuan, Stylianou, Pless: Improved Embeddings with Easy Positive Triplet Mining, "
            "WACV 2020")
NOTES = "the research notes this tool grew from"
DATASET_NAMES = {"cub200": "CUB-200-2011", "cars196": "Cars196",
                 "sop": "Stanford Online Products"}

PAPER = dict(model="resnet50.tv_in1k", weights="pretrained", augment="crop", input_size=256,
             optimizer="adamw", weight_decay=0.0, lr=5e-4, schedule="step", embedding_dim=64,
             classes_per_batch=8, images_per_class=16, epochs=100, eval_images=0, anchors=1000)
SOP = dict(PAPER, embedding_dim=512, classes_per_batch=64, images_per_class=2, epochs=40)


@dataclass(frozen=True)
class Recipe:
    """A published setting: ``config`` (TrainConfig fields) on ``dataset`` (a benchmark
    kind), the figures ``expected`` (metric name -> value, 0-1) that ``source`` reports, and,
    for a sweep, the learning rates and losses it crosses."""

    name: str
    title: str
    dataset: str
    config: dict
    expected: dict[str, float]
    source: str
    lrs: tuple[float, ...] = ()
    losses: tuple[str, ...] = ()
    finding: str = ""
    metric: str = "test_recall_at_1"

    def run_names(self, prefix: str | None = None) -> list[tuple[str, dict]]:
        """``(run name, config overrides)`` of each run the recipe trains."""
        prefix = prefix or self.name
        if not self.lrs and not self.losses:
            return [(prefix, {})]
        return [(f"{prefix}-{loss}-lr{lr:g}", {"loss": loss, "lr": lr})
                for loss in self.losses or (self.config["loss"],)
                for lr in self.lrs or (self.config["lr"],)]


RECIPES = {r.name: r for r in [
    Recipe("epshn-cub", "EPSHN on CUB-200-2011, ResNet-50, 64-d", "cub200",
           dict(PAPER, loss="epshn"), {"test_recall_at_1": 0.573}, WACV2020),
    Recipe("epshn-cars", "EPSHN on Cars196, ResNet-50, 64-d", "cars196",
           dict(PAPER, loss="epshn"), {"test_recall_at_1": 0.755}, WACV2020),
    Recipe("epshn-sop", "EPSHN on Stanford Online Products, ResNet-50, 512-d", "sop",
           dict(SOP, loss="epshn"), {"test_recall_at_1": 0.783}, WACV2020),
    Recipe("npairs-cars", "N-pairs on Cars196, ResNet-50, 64-d (EPSHN reached 0.72 in the "
           "same comparison)", "cars196", dict(PAPER, loss="npairs"),
           {"test_recall_at_1": 0.53}, NOTES),
    Recipe("ep-epshn-lr-sweep", "EP vs EPSHN over learning rates 1e-4 ... 1.6e-3, Cars196",
           "cars196", dict(PAPER, loss="epshn", epochs=40), {}, NOTES,
           lrs=(1e-4, 2e-4, 4e-4, 8e-4, 1.6e-3), losses=("ep", "epshn"),
           finding="EPSHN affords a large learning rate for a better result; EP does not"),
]}


def recipe(name: str) -> Recipe:
    """The recipe called ``name``; :class:`UnknownNameError` listing them otherwise."""
    if name not in RECIPES:
        raise UnknownNameError("recipe", name, RECIPES, "See `vizkit reproduce list`.")
    return RECIPES[name]


def expected_line(r: Recipe) -> str:
    """What the source reports, in one line."""
    figures = ", ".join(f"{_title(m)} {v:.3f}" for m, v in r.expected.items())
    return f"{r.name}: {r.title}. Published: {figures or r.finding} ({r.source})."


def _title(metric: str) -> str:
    split, _, name = metric.partition("_")
    return f"{split} " + name.replace("recall_at_", "Recall@").replace("map_at_r", "MAP@R")


def reproduce(store: Store, r: Recipe, data: str, overrides: dict, progress: bool = True,
              device: torch.device | None = None, amp: bool = False,
              workers: int | None = None, prefix: str | None = None) -> list[dict]:
    """Train every run of ``r`` on the benchmark at ``data`` with ``overrides`` (TrainConfig
    fields a user changed); return one row per run: its name, loss, learning rate, the
    measured figures at its last epoch and the published ones."""
    dataset = get_registry().open_dataset(f"{r.dataset}:{data}")
    base = TrainConfig(dataset=dataset.name, **{**r.config, **overrides})
    rows = []
    for run, change in r.run_names(prefix):
        config = replace(base, **change)
        history = train(store, dataset, config, run, progress=progress, device=device,
                        amp=amp, workers=workers)
        last = history[-1]
        rows.append({"run": run, "loss": config.loss, "lr": config.lr, "epoch": last["epoch"],
                     **{f"measured {_title(m)}": last.get(m) for m in
                        ([r.metric] + [m for m in r.expected if m != r.metric])},
                     **{f"published {_title(m)}": v for m, v in r.expected.items()}})
    return rows
