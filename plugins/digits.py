"""scikit-learn's digits: 1,797 real 8x8 handwritten digits, shipped with scikit-learn."""
from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from vizkit import hookimpl
from vizkit.api.datasets import ArrayDataset, DatasetEntry


@lru_cache(maxsize=1)
def open_digits(argument: str | None = None) -> ArrayDataset:
    """The digits as uint8 8x8 images (0-16 scaled to 0-255); every 5th image is 'test'."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.clip(bunch.images * 16, 0, 255).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    splits = np.array(["test" if i % 5 == 4 else "train" for i in range(len(labels))])
    fingerprint = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()[:16]
    return ArrayDataset("digits", images, labels, splits, [f"digit/{i:04d}" for i in
                        range(len(labels))], [str(d) for d in range(10)], fingerprint,
                        "scikit-learn digits: 1,797 8x8 handwritten digits.",
                        foreground=True)  # the strokes on a black background


@hookimpl
def register_datasets(register):
    """Register ``digits``."""
    register(DatasetEntry("digits", "scikit-learn's 1,797 8x8 handwritten digits (tiny, "
                          "for quick tries and tests).", open_digits))
