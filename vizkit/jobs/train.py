"""``vizkit train``: train a timm model with a loss plugin, a checkpoint per epoch.

The run starts from random weights, the model's pretrained weights, a weights file, or
another run's checkpoint (``--init``); epoch 0 is that starting model (the "ImageNet starting
point" of the triplet scatter). It runs on the device the caller chooses
(:mod:`vizkit.runtime.devices`), with batches decoded and augmented in worker processes
(:mod:`vizkit.jobs.loading`); out of accelerator memory, it halves the batch, says so and
continues. Every checkpoint is a file under
``<data>/checkpoints/<run>/`` recorded in the store with its SHA-256 and its metrics on a
test and a train evaluation set (Recall@1/2/4/8, MAP@R, NMI); the evaluation sets' embeddings
are stored as features of checkpoint ``run:epoch``, and a fixed sample of anchors with their
closest positive and negative (the triplet scatter). Re-running a killed run resumes after its
last recorded epoch and gives the same checkpoints as an uninterrupted run: batches come from
generators seeded by (seed, epoch), the learning rate is a function of the step, and the
optimiser's and the loss's state are saved with each checkpoint.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from vizkit.api.datasets import Dataset
from vizkit.api.losses import Loss
from vizkit.api.models import PRE_LOGITS
from vizkit.compute.augment import AUGMENTATIONS, Augmenter
from vizkit.compute.evaluation import closest_pairs, retrieval_metrics
from vizkit.compute.sampler import class_balanced_batches, random_batches
from vizkit.errors import VizkitError
from vizkit.identity import CheckpointId
from vizkit.jobs.checkpoints import save_checkpoint, save_state
from vizkit.jobs.ingest import ensure_dataset
from vizkit.jobs.keys import dataset_key, features_meta
from vizkit.jobs.loading import default_workers, prepared_batches
from vizkit.jobs.train_checks import checked_config
from vizkit.jobs.train_eval import embed, evaluation_sets, split_indices
from vizkit.jobs.train_init import head_name, in_module, initialise
from vizkit.progress import bar as tqdm
from vizkit.registry import get_registry
from vizkit.runtime import devices
from vizkit.runtime.loaded import LoadedModel, weights_fingerprint
from vizkit.runtime.models import read_verified
from vizkit.store import Store

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "constant", "step")
WARMUP_STEPS = 100
STEP_MILESTONES = (0.5, 0.75)  # "step": x0.1 at these fractions of the run (the EPSHN code's)


@dataclass
class TrainConfig:
    """Everything that determines a training run.

    ``loss`` names a loss plugin. Losses without a classifier train the model's classifier
    module, re-made with ``embedding_dim`` outputs, as the embedding; ``normalize`` (default:
    the loss's own choice) L2-normalises it before the loss. ``classes_per_batch`` x
    ``images_per_class`` batches (N x M) are the default for losses that need positives in a
    batch; otherwise batches of ``batch_size`` in random order. ``eval_images`` caps each
    evaluation set (the test split and a train sample; 0 = all), ``anchors`` is how many of
    each set's images the triplet scatter follows.

    ``weights`` (``random``, ``pretrained`` or a weights file) or ``init`` (``run[:epoch]``)
    give the starting weights; a head of another shape is made anew. ``augment`` is one of
    :data:`vizkit.compute.augment.AUGMENTATIONS`; ``freeze_bn`` keeps batch-norm statistics
    as they start; ``head_lr`` is the new head's learning rate (default ``lr``)."""

    model: str
    dataset: str
    epochs: int = 3
    loss: str = "cross-entropy"
    embedding_dim: int = 64
    normalize: bool | None = None
    batch_size: int = 128
    classes_per_batch: int | None = None
    images_per_class: int = 8
    batches_per_epoch: int | None = None
    optimizer: str = "adamw"
    lr: float = 3e-3
    schedule: str = "cosine"
    weight_decay: float = 1e-4
    seed: int = 0
    input_size: int | None = None
    model_kwargs: dict = field(default_factory=dict)
    eval_images: int = 10_000
    anchors: int = 1_000
    eval_layer: str | None = None  # default: pre_logits (classifier losses) or the embedding
    weights: str = "random"
    init: str | None = None
    augment: str = "none"
    freeze_bn: bool = False
    head_lr: float | None = None
    momentum: float = 0.9


class _TrainBatch:
    """Batch ``step`` of an epoch: uint8 images decoded, augmented with a generator seeded by
    (seed, epoch, step) alone, and labels -- the same in any worker process."""

    def __init__(self, dataset: Dataset, batches: list[np.ndarray], augment: Augmenter,
                 seed: int, epoch: int):
        self.dataset, self.batches, self.augment = dataset, batches, augment
        self.seed, self.epoch = seed, epoch

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = np.sort(self.batches[step])
        rng = np.random.default_rng([self.seed, self.epoch, step])
        x = self.augment(self.dataset.batch_images(idx), rng)
        return x, torch.from_numpy(self.dataset.labels[idx].astype(np.int64))


class _Trainer:
    """One run: model, loss, optimiser and batches, resumable from the store."""

    def __init__(self, store: Store, dataset: Dataset, config: TrainConfig, run: str,
                 checkpoint_dir: Path, progress: bool, device: torch.device | None = None,
                 amp: bool = False, workers: int | None = None):
        registry = get_registry()
        if config.embedding_dim < 1 or config.epochs < 0:
            raise VizkitError("--embedding-dim must be at least 1 and --epochs at least 0.")
        if config.optimizer not in OPTIMIZERS or config.schedule not in SCHEDULES:
            raise VizkitError(f"--optimizer is one of {', '.join(OPTIMIZERS)} and --schedule "
                              f"one of {', '.join(SCHEDULES)}.")
        if config.augment not in AUGMENTATIONS:
            raise VizkitError(f"--augment is one of {', '.join(AUGMENTATIONS)}.")
        self.store, self.dataset, self.config, self.run = store, dataset, config, run
        self.checkpoint_dir, self.progress = checkpoint_dir, progress
        self.device, self.amp = device or torch.device("cpu"), amp
        self.workers = default_workers(self.device) if workers is None else workers
        self.loss_plugin: Loss = registry.loss(config.loss)
        n_classes = len(dataset.classes)
        outputs = n_classes if self.loss_plugin.classifier else config.embedding_dim
        self.model_kwargs = {**config.model_kwargs, "num_classes": outputs}
        torch.manual_seed(config.seed)
        self.model = registry.load_model(config.model, "random", input_size=config.input_size,
                                         model_kwargs=self.model_kwargs)
        self.head = head_name(self.model)
        self.started_from = initialise(self.model, self.head, config, store)
        self.layer = config.eval_layer or (PRE_LOGITS if self.loss_plugin.classifier
                                           else self.model.embedding_layer())
        self.loss_fn = self.loss_plugin.build(n_classes, config.embedding_dim).to(self.device)
        self.model.to(self.device, amp)
        self.augment = Augmenter(self.model.preprocess, config.augment)
        self.scaler = devices.grad_scaler(self.device, amp)
        self.normalize = (self.loss_plugin.normalize if config.normalize is None
                          else config.normalize) and not self.loss_plugin.classifier
        self.optimizer = self._optimizer()
        self.train_idx = split_indices(dataset, "train")
        self.balanced = config.classes_per_batch is not None or self.loss_plugin.balanced
        per_batch = (self._classes_per_batch() * config.images_per_class if self.balanced
                     else config.batch_size)
        self.steps_per_epoch = config.batches_per_epoch or math.ceil(len(self.train_idx)
                                                                     / per_batch)
        self.eval_sets = evaluation_sets(dataset, config.eval_images)
        self.batch_limit: int | None = None  # set after running out of memory

    def _optimizer(self) -> torch.optim.Optimizer:
        """The optimiser, the new head (and the loss's own parameters) in a group of their
        own when ``head_lr`` differs from ``lr``."""
        c = self.config
        head = [p for n, p in self.model.module.named_parameters() if in_module(n, self.head)]
        ids = {id(p) for p in head}
        body = [p for p in self.model.module.parameters() if id(p) not in ids]
        head += list(self.loss_fn.parameters())
        scale = (c.head_lr or c.lr) / c.lr
        groups = [{"params": body, "lr_scale": 1.0}, {"params": head, "lr_scale": scale}]
        groups = [g for g in groups if g["params"]]
        if c.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum,
                                   weight_decay=c.weight_decay)
        return torch.optim.AdamW(groups, lr=c.lr, weight_decay=c.weight_decay)

    def _classes_per_batch(self) -> int:
        return self.config.classes_per_batch or min(len(self.dataset.classes), 16)

    # -- one epoch --------------------------------------------------------------------
    def batches(self, epoch: int) -> list[np.ndarray]:
        """The batches of ``epoch`` (indices into the dataset), from (seed, epoch) alone."""
        seed = self.config.seed * 100_003 + epoch
        if self.balanced:
            rel = class_balanced_batches(self.dataset.labels[self.train_idx],
                                         self._classes_per_batch(), self.config.images_per_class,
                                         self.steps_per_epoch, seed)
            return [self.train_idx[b] for b in rel]
        return random_batches(self.train_idx, self.config.batch_size, seed)[
            : self.steps_per_epoch]

    def lr_at(self, global_step: int) -> float:
        """Warm-up over the first steps, then cosine decay to zero, constant, or steps of
        x0.1 at :data:`STEP_MILESTONES` of the run."""
        warm = min(1.0, (global_step + 1) / WARMUP_STEPS)
        total = self.steps_per_epoch * self.config.epochs
        if self.config.schedule == "constant":
            return self.config.lr * warm
        if self.config.schedule == "step":
            passed = sum(global_step >= m * total for m in STEP_MILESTONES)
            return self.config.lr * warm * 0.1 ** passed
        return self.config.lr * warm * 0.5 * (1 + math.cos(math.pi * global_step / total))

    def step(self, x: torch.Tensor, labels: torch.Tensor) -> float:
        """One optimiser step on a prepared batch (model in train mode); its loss."""
        with devices.autocast(self.device, self.amp):
            out = self.model.module(x.to(self.device, non_blocking=True)).float()
            if self.normalize:
                out = F.normalize(out, dim=1)
            loss = self.loss_fn(out, labels.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.item()

    def halve_batch(self, size: int) -> None:
        """After running out of memory on a batch of ``size``: the largest batch from now
        on is half of it (whole classes for N x M batches), for the rest of the run."""
        m = self.config.images_per_class if self.balanced else 1
        smallest = 2 * m if self.balanced else 2
        if size <= smallest:
            raise VizkitError(f"Out of memory on {self.device} even with a batch of {size}; "
                              "use a smaller --input-size, --amp, or another device.")
        self.batch_limit = max(smallest, (size // 2) // m * m)
        tqdm.write(f"Out of memory on {self.device} with a batch of {size}; continuing with "
                   f"batches of {self.batch_limit}.", file=sys.stderr)

    def train_epoch(self, epoch: int) -> float:
        module = self.model.module.train()
        if self.config.freeze_bn:
            for m in module.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        self.loss_fn.train()
        torch.manual_seed(self.config.seed * 100_003 + epoch)
        batches = self.batches(epoch)
        prepare = _TrainBatch(self.dataset, batches, self.augment, self.config.seed, epoch)
        losses = []
        bar = tqdm(prepared_batches(prepare, len(batches), self.workers, self.device),
                   total=len(batches), desc=f"{self.run} epoch {epoch}/{self.config.epochs}",
                   unit="batch", disable=not self.progress)
        for step, (x, labels) in enumerate(bar):
            for group in self.optimizer.param_groups:
                group["lr"] = group["lr_scale"] * self.lr_at(
                    (epoch - 1) * self.steps_per_epoch + step)
            while True:
                n = min(len(x), self.batch_limit or len(x))
                try:
                    losses.append(self.step(x[:n], labels[:n]))
                    break
                except Exception as e:  # noqa: BLE001 - only out-of-memory is handled
                    if not devices.is_out_of_memory(e):
                        raise
                    devices.release(self.device)
                    self.halve_batch(n)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        module.eval()
        return float(np.mean(losses)) if losses else float("nan")

    # -- checkpoints ------------------------------------------------------------------
    def resume(self) -> int:
        """Load the last stored checkpoint's state (both files verified against their
        recorded digests); return the next epoch to run."""
        done = self.store.checkpoints(self.run)
        if done.empty:
            return 0
        last = done.iloc[-1]
        label = CheckpointId(self.run, int(last["epoch"])).label
        path = self.store.file(last["path"])
        saved = read_verified(path, last["sha256"], label)
        state = read_verified(path.with_suffix(".opt.pt"), saved.get("state_sha256"),
                              f"{label} (its optimiser state)")
        self.model.module.load_state_dict(saved["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("loss"):
            self.loss_fn.load_state_dict(state["loss"])
        self.batch_limit = json.loads(last["metrics"]).get("batch_limit")
        return int(last["epoch"]) + 1

    def evaluate(self, epoch: int) -> dict:
        """Metrics, embeddings and anchors of both evaluation sets at this checkpoint."""
        loaded = LoadedModel(self.config.model, self.model.module, "file",
                             checkpoint=CheckpointId(self.run, epoch).label,
                             input_size=self.config.input_size
                             ).to(self.device, self.amp)
        metrics: dict = {}
        for split, ds in self.eval_sets.items():
            feats = embed(loaded, ds, np.arange(len(ds)), self.layer, workers=self.workers)
            labels = ds.labels
            for name, value in retrieval_metrics(feats, labels, ds.recall_ks).items():
                metrics[f"{split}_{name}"] = value
            meta = features_meta(ds, loaded, self.layer)
            self.store.put_features(meta, feats)
            metrics[f"{split}_features"] = meta["result_key"]
            anchors = np.random.default_rng(self.config.seed).permutation(len(ds))[
                : self.config.anchors]
            pairs = closest_pairs(feats, labels, np.sort(anchors))
            self.store.put_anchors(self.run, epoch, split, pd.DataFrame({
                "idx": pairs.anchor, "pos_idx": pairs.pos_idx, "pos_sim": pairs.pos_sim,
                "neg_idx": pairs.neg_idx, "neg_sim": pairs.neg_sim}))
        return metrics

    def save(self, epoch: int, metrics: dict) -> None:
        """The checkpoint (weights, and the digest of the optimiser/loss state saved beside
        it) and its row in the store, recorded relative to the store's folder."""
        module = self.model.module
        folder = self.checkpoint_dir / self.run
        folder.mkdir(parents=True, exist_ok=True)
        state_sha = save_state(folder / f"epoch-{epoch:03d}.opt.pt",
                               {"optimizer": self.optimizer.state_dict(),
                                "loss": self.loss_fn.state_dict()})
        path, sha = save_checkpoint(self.checkpoint_dir, self.run, epoch, module,
                                    self.config.model, self.model_kwargs,
                                    extra={"state_sha256": state_sha})
        self.store.put_checkpoint(self.run, epoch, self.store.relative(path), sha,
                                  weights_fingerprint(module), metrics)


def _check_same_run(store: Store, run: str, settings: dict) -> None:
    """Resuming is only for the same configuration (more epochs allowed): a stored run of
    another loss, learning rate, ... would mix two trainings in one series."""
    runs = store.runs() if store.ready() else None
    if runs is None or run not in set(runs["run"]):
        return
    stored = json.loads(runs.set_index("run").loc[run, "config"])
    differ = [k for k, v in settings.items()
              if k in stored and k != "epochs" and stored[k] != v]
    if differ:
        raise VizkitError(f"Run {run} already exists with other settings ({', '.join(differ)}"
                          "); give this training another --run name.")


def train(store: Store, dataset: Dataset, config: TrainConfig, run: str,
          checkpoint_dir: Path | None = None, progress: bool = True,
          device: torch.device | None = None, amp: bool = False,
          workers: int | None = None) -> list[dict]:
    """Train (or resume) ``run`` on ``device`` (default CPU) with ``workers`` data-loading
    processes (default: :func:`~vizkit.jobs.loading.default_workers`); return the per-epoch
    metrics of every checkpoint."""
    config = checked_config(store, dataset, config)
    trainer = _Trainer(store, dataset, config, run,
                       checkpoint_dir or store.path.parent / "checkpoints", progress,
                       device, amp, workers)
    if progress:
        tqdm.write(f"{run}: {config.model} from {trainer.started_from}")
    ensure_dataset(store, dataset, progress)
    for ds in trainer.eval_sets.values():
        ensure_dataset(store, ds, progress)
    settings = dict(asdict(config), eval_layer=trainer.layer)
    _check_same_run(store, run, settings)
    store.put_run(run, config.model, dataset_key(dataset), settings)
    start = trainer.resume()
    history = [dict(epoch=int(r["epoch"]), **json.loads(r["metrics"]))
               for _, r in store.checkpoints(run).iterrows()]
    for epoch in range(start, config.epochs + 1):
        t0 = time.perf_counter()
        loss = trainer.train_epoch(epoch) if epoch > 0 else float("nan")
        t1 = time.perf_counter()
        metrics = {"loss": loss, "train_seconds": round(t1 - t0, 2)}
        if trainer.batch_limit:
            metrics["batch_limit"] = trainer.batch_limit
        metrics.update(trainer.evaluate(epoch))
        metrics["eval_seconds"] = round(time.perf_counter() - t1, 2)
        trainer.save(epoch, metrics)
        history.append({"epoch": epoch, **metrics})
        if progress:
            first = next(iter(trainer.eval_sets))
            tqdm.write(f"{run} epoch {epoch}: loss {loss:.4f}, {first} Recall@1 "
                       f"{metrics[f'{first}_recall_at_1']:.4f}, MAP@R "
                       f"{metrics[f'{first}_map_at_r']:.4f}")
    return history
