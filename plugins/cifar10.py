"""CIFAR-10 in its python-pickle layout (``cifar-10-batches-py``)."""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np

from vizkit import hookimpl
from vizkit.datasets import ArrayDataset, DatasetEntry
from vizkit.errors import DatasetMissingError

TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
TEST = ["test_batch"]


def open_cifar10(argument: str | None) -> ArrayDataset:
    """Open ``cifar10:<path>``, the folder ``cifar-10-batches-py`` or its parent.

    Batch files that are absent are left out (a folder with only ``test_batch`` works).
    """
    if not argument:
        raise DatasetMissingError("cifar10 needs a path: cifar10:/path/to/cifar-10-batches-py")
    root = Path(argument).expanduser()
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    present = [f for f in TRAIN + TEST if (root / f).is_file()]
    if not present:
        raise DatasetMissingError(
            f"No CIFAR-10 batches in {root}. Download the python version "
            "(cifar-10-python.tar.gz), extract it, and pass cifar10:<folder>.")
    meta = root / "batches.meta"
    classes = [c.decode() if isinstance(c, bytes) else c for c in
               _unpickle(meta)[b"label_names"]] if meta.is_file() else \
        [str(i) for i in range(10)]
    images, labels, splits, ids, digest = [], [], [], [], hashlib.sha256()
    for f in present:
        raw = (root / f).read_bytes()
        digest.update(raw)
        batch = pickle.loads(raw, encoding="bytes")
        images.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32)
                      .transpose(0, 2, 3, 1))
        labels.extend(batch[b"labels"])
        split = "test" if f in TEST else "train"
        splits.extend([split] * len(batch[b"labels"]))
        ids.extend(f"{f}/{i:05d}" for i in range(len(batch[b"labels"])))
    return ArrayDataset(f"cifar10:{argument}", np.concatenate(images),
                        np.asarray(labels, np.int64), np.asarray(splits), ids, classes,
                        digest.hexdigest()[:16], "CIFAR-10: 32x32 colour photos, 10 classes.")


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as fh:
        return pickle.load(fh, encoding="bytes")


@hookimpl
def register_datasets(register):
    """Register ``cifar10:<path>``."""
    register(DatasetEntry("cifar10", "CIFAR-10 from its python-pickle files: "
                          "cifar10:<path to cifar-10-batches-py>.", open_cifar10, argument="path"))
