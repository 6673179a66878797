"""``vizkit train``: train a timm model with cross-entropy, a checkpoint per epoch.

Epoch 0 is the model before training. Every checkpoint is a file under
``<data>/checkpoints/<run>/`` recorded in the store with its SHA-256 and test metrics.
Re-running a killed run resumes after its last recorded epoch and gives the same
checkpoints as an uninterrupted run (batches are drawn from a generator seeded by
(seed, epoch); the learning rate is a function of the step).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from vizkit.checkpoints import save_checkpoint
from vizkit.datasets import Dataset
from vizkit.errors import VizkitError
from vizkit.jobs.ingest import ensure_dataset
from vizkit.jobs.keys import dataset_key
from vizkit.models import PRE_LOGITS, LoadedModel, weights_fingerprint
from vizkit.registry import get_registry
from vizkit.search import all_pairs_topk
from vizkit.store import Store


@dataclass
class TrainConfig:
    """Everything that determines a training run."""

    model: str
    dataset: str
    epochs: int = 3
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    input_size: int | None = None
    model_kwargs: dict = field(default_factory=dict)
    eval_layer: str = PRE_LOGITS


def _split_indices(dataset: Dataset, split: str) -> np.ndarray:
    idx = np.flatnonzero(dataset.splits == split)
    return idx if len(idx) else np.arange(len(dataset))


def recall_at_1(features: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose nearest other image (cosine) has the same label."""
    nbr, _ = all_pairs_topk(get_registry().metric("cosine"), features, 1)
    return float((labels[nbr[:, 0]] == labels).mean())


def embed(model: LoadedModel, dataset: Dataset, idx: np.ndarray, layer: str,
          batch_size: int = 512) -> np.ndarray:
    """Pooled features of ``layer`` for the images at ``idx`` (model in eval mode)."""
    model.module.eval()
    out = []
    for lo in range(0, len(idx), batch_size):
        batch = dataset.batch_images(idx[lo: lo + batch_size])
        out.append(model.embed_images(batch, [layer])[layer])
    return np.concatenate(out)


def train(store: Store, dataset: Dataset, config: TrainConfig, run: str,
          checkpoint_dir: Path | None = None, progress: bool = True) -> list[dict]:
    """Train (or resume) ``run``; return the per-epoch metrics of every checkpoint."""
    registry = get_registry()
    if not len(dataset.classes) or (dataset.labels < 0).all():
        raise VizkitError(f"{dataset.name} has no labels; training needs a labelled dataset.")
    checkpoint_dir = checkpoint_dir or store.path.parent / "checkpoints"
    kwargs = {"num_classes": len(dataset.classes), **config.model_kwargs}
    torch.manual_seed(config.seed)
    model = registry.load_model(config.model, "random", input_size=config.input_size,
                                model_kwargs=kwargs)
    module = model.module
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    ensure_dataset(store, dataset, progress)
    store.put_run(run, config.model, dataset_key(dataset), asdict(config))
    done = store.checkpoints(run)
    start_epoch = 0
    if not done.empty:
        last = done.iloc[-1]
        state = torch.load(Path(last["path"]).with_suffix(".opt.pt"), map_location="cpu",
                           weights_only=True)
        module.load_state_dict(torch.load(last["path"], map_location="cpu",
                                          weights_only=True)["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = int(last["epoch"]) + 1
    train_idx, test_idx = _split_indices(dataset, "train"), _split_indices(dataset, "test")
    steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    history = [dict(epoch=int(r["epoch"]), **json.loads(r["metrics"]))
               for _, r in done.iterrows()]
    for epoch in range(start_epoch, config.epochs + 1):
        t0 = time.perf_counter()
        loss = float("nan")
        if epoch > 0:
            loss = _train_epoch(model, dataset, train_idx, optimizer, config, epoch,
                                steps_per_epoch, total_steps, progress)
        metrics = {"loss": loss, "train_seconds": round(time.perf_counter() - t0, 2),
                   "test_recall_at_1": recall_at_1(
                       embed(model, dataset, test_idx, config.eval_layer),
                       dataset.labels[test_idx])}
        path, sha = save_checkpoint(checkpoint_dir, run, epoch, module, config.model, kwargs)
        torch.save({"optimizer": optimizer.state_dict()}, path.with_suffix(".opt.pt"))
        store.put_checkpoint(run, epoch, str(path), sha, weights_fingerprint(module), metrics)
        history.append({"epoch": epoch, **metrics})
        if progress:
            tqdm.write(f"{run} epoch {epoch}: loss {loss:.4f}, test Recall@1 "
                       f"{metrics['test_recall_at_1']:.4f}")
    return history


def _train_epoch(model, dataset, train_idx, optimizer, config, epoch, steps_per_epoch,
                 total_steps, progress) -> float:
    module = model.module.train()
    gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    order = train_idx[torch.randperm(len(train_idx), generator=gen).numpy()]
    labels = torch.from_numpy(dataset.labels)
    losses = []
    bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{config.epochs}", unit="batch",
               disable=not progress)
    for step in bar:
        global_step = (epoch - 1) * steps_per_epoch + step
        for group in optimizer.param_groups:  # warm-up then cosine decay, by step
            group["lr"] = config.lr * min(1.0, (global_step + 1) / 100) * \
                0.5 * (1 + math.cos(math.pi * global_step / total_steps))
        idx = np.sort(order[step * config.batch_size: (step + 1) * config.batch_size])
        x = model.preprocess(dataset.batch_images(idx))
        loss = F.cross_entropy(module(x), labels[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    module.eval()
    return float(np.mean(losses))
