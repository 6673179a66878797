"""What a training run evaluates each checkpoint on: the test split and a train sample
(each cut to ``eval_images``), embedded with the model in eval mode, batches prepared in
worker processes when there are workers."""
from __future__ import annotations

import math

import numpy as np
import torch

from vizkit.api.datasets import Dataset, SplitDataset, SubsetDataset
from vizkit.jobs.loading import prepared_batches
from vizkit.runtime.loaded import LoadedModel


def split_indices(dataset: Dataset, split: str) -> np.ndarray:
    """The indices of ``split`` (every image when the dataset has no such split)."""
    idx = np.flatnonzero(dataset.splits == split)
    return idx if len(idx) else np.arange(len(dataset))


def evaluation_sets(dataset: Dataset, eval_images: int) -> dict[str, Dataset]:
    """``{"test": ..., "train": ...}``: the test split and the train split, each cut to its
    first ``eval_images`` images (0 = all); ``{"all": dataset}`` when there are no splits."""
    splits = set(map(str, dataset.splits))
    if not {"train", "test"} <= splits:
        sets = {"all": dataset}
    else:
        sets = {s: SplitDataset(dataset, s) for s in ("test", "train")}
    return {s: SubsetDataset(d, eval_images) if 0 < eval_images < len(d) else d
            for s, d in sets.items()}


class _EvalBatch:
    """Batch ``i`` of an evaluation pass, preprocessed (in a worker process, when there are
    workers)."""

    def __init__(self, dataset: Dataset, idx: np.ndarray, model: LoadedModel, batch_size: int):
        self.dataset, self.idx, self.batch_size = dataset, idx, batch_size
        self.preprocess = model.preprocess

    def __call__(self, i: int) -> torch.Tensor:
        lo = i * self.batch_size
        return self.preprocess(self.dataset.batch_images(self.idx[lo: lo + self.batch_size]))


def embed(model: LoadedModel, dataset: Dataset, idx: np.ndarray, layer: str,
          batch_size: int = 512, workers: int = 0) -> np.ndarray:
    """Pooled features of ``layer`` for the images at ``idx`` (model in eval mode)."""
    model.module.eval()
    prepare = _EvalBatch(dataset, idx, model, batch_size)
    n = math.ceil(len(idx) / batch_size)
    with torch.inference_mode():
        return np.concatenate([model.pooled_features(x, [layer])[layer].numpy()
                               for x in prepared_batches(prepare, n, workers, model.device)])
