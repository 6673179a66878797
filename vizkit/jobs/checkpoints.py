"""Writing a training run's checkpoints: the weights of each epoch and the optimiser/loss
state beside them, each atomically and with its SHA-256 (verified when read back by
:func:`vizkit.runtime.models.read_verified`)."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from vizkit.files import sha256_file


def save_checkpoint(folder: Path, run: str, epoch: int, module: torch.nn.Module,
                    model: str, model_kwargs: dict, extra: dict | None = None
                    ) -> tuple[Path, str]:
    """Write ``<folder>/<run>/epoch-NNN.pt`` atomically; return its path and SHA-256.
    ``extra`` entries (plain values) are saved beside the weights."""
    path = folder / run / f"epoch-{epoch:03d}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    weights = {k: v.detach().cpu() for k, v in module.state_dict().items()}  # any device
    torch.save({"state_dict": weights, "model": model, "run": run, "epoch": epoch,
                "model_kwargs": model_kwargs, **(extra or {})}, tmp)
    sha = sha256_file(tmp)
    os.replace(tmp, path)
    return path, sha


def save_state(path: Path, state: dict) -> str:
    """Write a training state file (optimiser, loss) atomically; return its SHA-256."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    sha = sha256_file(tmp)
    os.replace(tmp, path)
    return sha
