"""Checkpoints written by vizkit: saved per epoch, recorded in the store, loaded by name."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from vizkit.errors import UnknownNameError, VizkitError
from vizkit.models import LoadedModel
from vizkit.registry import get_registry
from vizkit.store import Store


def save_checkpoint(folder: Path, run: str, epoch: int, module: torch.nn.Module,
                    model: str, model_kwargs: dict) -> tuple[Path, str]:
    """Write ``<folder>/<run>/epoch-NNN.pt`` atomically; return its path and SHA-256."""
    path = folder / run / f"epoch-{epoch:03d}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": module.state_dict(), "model": model, "run": run, "epoch": epoch,
                "model_kwargs": model_kwargs}, tmp)
    sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
    os.replace(tmp, path)
    return path, sha


def resolve_checkpoint(store: Store, spec: str) -> dict:
    """The store's row for ``run`` (its last epoch) or ``run:epoch``, with the run's model."""
    run, _, epoch = spec.partition(":")
    runs = store.runs() if store.exists() else None
    if runs is None or run not in set(runs["run"]):
        raise UnknownNameError("run", run, [] if runs is None else runs["run"],
                               "Train one with `vizkit train` or `vizkit demo`.")
    ckpts = store.checkpoints(run)
    if epoch:
        rows = ckpts[ckpts["epoch"] == int(epoch)]
        if rows.empty:
            raise UnknownNameError("checkpoint", spec, [f"{run}:{e}" for e in ckpts["epoch"]])
    else:
        rows = ckpts.tail(1)
    row = rows.iloc[0].to_dict()
    info = runs[runs["run"] == run].iloc[0].to_dict()
    row.update(model=info["model"], label=f"{run}:{row['epoch']}")
    return row


def load_model(name: str | None, weights: str = "pretrained", checkpoint: str | None = None,
               store: Store | None = None, input_size: int | None = None) -> LoadedModel:
    """Load a model by name, with ``weights`` = pretrained / random / a file path, or a
    vizkit ``checkpoint`` (``run`` or ``run:epoch``, whose run names the model)."""
    registry = get_registry()
    if not checkpoint:
        if weights not in ("pretrained", "random"):
            return registry.load_model(name, weights="file", weights_file=weights,
                                       input_size=input_size)
        return registry.load_model(name, weights=weights, input_size=input_size)
    row = resolve_checkpoint(store or Store(), checkpoint)
    if name and name != row["model"]:
        raise VizkitError(f"Checkpoint {checkpoint} is of model {row['model']}, not {name}.")
    path = Path(row["path"])
    if not path.is_file():
        raise VizkitError(f"The file of checkpoint {row['label']} ({path}) is gone. "
                          "Re-run the training job that made it.")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = registry.load_model(row["model"], weights="file", checkpoint=row["label"],
                                input_size=input_size, model_kwargs=saved["model_kwargs"],
                                weights_file=None, state_dict=saved["state_dict"])
    return model
