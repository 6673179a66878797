"""CIFAR-10 in its python-pickle layout (``cifar-10-batches-py``).

The batch files are pickles, and a pickle can name any function to call. They are read
with :class:`ArraysOnlyUnpickler`, which builds numpy arrays, lists, dicts, strings, bytes
and numbers and refuses everything else, so a crafted batch file is an error, never code
that runs.
"""
from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import numpy as np

from vizkit import hookimpl
from vizkit.api.datasets import ArrayDataset, DatasetEntry
from vizkit.errors import DatasetMissingError

TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
TEST = ["test_batch"]
IMAGE_BYTES = 3 * 32 * 32


class ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain Python data, and nothing that could run code: the
    only callables a pickle may name are numpy's own array reconstructors (and ``_codecs.
    encode``, which protocol-2 pickles use for bytes)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it asks to call {module}.{name}, which a CIFAR-10 "
                                         "batch never does")
        return super().find_class(module, name)


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes, and for nothing else."""
    if encoding.replace("-", "").lower() != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"it asks for the {encoding!r} codec")
    return text.encode("latin1")


def load_batch(raw: bytes, name: str) -> dict:
    """A CIFAR batch's dict from its pickle bytes; a clear error for anything else."""
    try:
        batch = ArraysOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # noqa: BLE001 - any malformed pickle is the same user error
        raise DatasetMissingError(f"{name} is not a CIFAR-10 batch file: {e}. Use the python "
                                  "version's files (cifar-10-python.tar.gz).") from None
    return batch if isinstance(batch, dict) else {}


def _images_and_labels(batch: dict, name: str) -> tuple[np.ndarray, list[int]]:
    data, labels = batch.get(b"data"), batch.get(b"labels")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != IMAGE_BYTES \
            or not isinstance(labels, list) or len(labels) != len(data) \
            or not all(isinstance(v, int) and 0 <= v < 10 for v in labels):
        raise DatasetMissingError(f"{name} is not a CIFAR-10 batch file (it lacks 3,072-byte "
                                  "images with one label 0-9 each).")
    return data.astype(np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


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
    classes = [str(i) for i in range(10)]
    meta = root / "batches.meta"
    if meta.is_file():
        names = load_batch(meta.read_bytes(), "batches.meta").get(b"label_names")
        if isinstance(names, list) and len(names) == 10:
            classes = [c.decode(errors="replace") if isinstance(c, bytes) else str(c)
                       for c in names]
    images, labels, splits, ids, digest = [], [], [], [], hashlib.sha256()
    for f in present:
        raw = (root / f).read_bytes()
        digest.update(raw)
        batch_images, batch_labels = _images_and_labels(load_batch(raw, f), f)
        images.append(batch_images)
        labels.extend(batch_labels)
        split = "test" if f in TEST else "train"
        splits.extend([split] * len(batch_labels))
        ids.extend(f"{f}/{i:05d}" for i in range(len(batch_labels)))
    return ArrayDataset(f"cifar10:{argument}", np.concatenate(images),
                        np.asarray(labels, np.int64), np.asarray(splits), ids, classes,
                        digest.hexdigest()[:16], "CIFAR-10: 32x32 colour photos, 10 classes.")


@hookimpl
def register_datasets(register):
    """Register ``cifar10:<path>``."""
    register(DatasetEntry("cifar10", "CIFAR-10 from its python-pickle files: "
                          "cifar10:<path to cifar-10-batches-py>.", open_cifar10, argument="path"))
