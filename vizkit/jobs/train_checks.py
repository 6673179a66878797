"""What a training run is checked against before anything is made or written: the dataset
has labels and enough classes for the batches asked for, and a run started from another
run's checkpoint (``--init``) is of that run's model and carries its configuration (the
small CNN's widths, for example), so that every tensor fits."""
from __future__ import annotations

import dataclasses

import numpy as np

from vizkit.api.datasets import Dataset
from vizkit.errors import BadArgumentError
from vizkit.store import Store

# model arguments a run's checkpoint records that are about its outputs, not its body
OUTPUT_KWARGS = ("num_classes",)


def checked_config(store: Store, dataset: Dataset, config):
    """``config`` (a :class:`~vizkit.jobs.train.TrainConfig`) checked against ``dataset``
    and the store, with an ``init`` checkpoint's model configuration carried over. Raises
    :class:`BadArgumentError` (nothing written) for what the options cannot do."""
    labels = np.asarray(dataset.labels)
    if not len(dataset.classes) or (labels < 0).all():
        raise BadArgumentError(f"{dataset.name} has no labels; training needs a labelled "
                               "dataset (one sub-folder per class).")
    train_labels = labels[(np.asarray(dataset.splits).astype(str) == "train") & (labels >= 0)]
    n_classes = len(np.unique(train_labels)) if len(train_labels) else \
        len(np.unique(labels[labels >= 0]))
    if config.classes_per_batch and config.classes_per_batch > n_classes:
        raise BadArgumentError(f"--classes-per-batch {config.classes_per_batch} is more than "
                               f"the {n_classes} classes of {dataset.name}'s training images: "
                               f"use from 2 to {n_classes}.")
    if not config.init:
        return config
    from vizkit.runtime.models import read_verified, resolve_checkpoint

    row = resolve_checkpoint(store, config.init)
    if row["model"] != config.model:
        raise BadArgumentError(f"--init {config.init} is a checkpoint of {row['model']}, not "
                               f"{config.model}; pass --model {row['model']}.")
    saved = read_verified(row["file"], row["sha256"], row["label"])
    carried = {k: v for k, v in (saved.get("model_kwargs") or {}).items()
               if k not in OUTPUT_KWARGS}
    return dataclasses.replace(config, model_kwargs={**carried, **config.model_kwargs})
