"""Batches of N classes x M images, reproducible from (seed, epoch)."""
from __future__ import annotations

import numpy as np

from vizkit.errors import VizkitError


def class_balanced_batches(labels: np.ndarray, classes_per_batch: int, images_per_class: int,
                           n_batches: int, seed: int) -> list[np.ndarray]:
    """``n_batches`` index arrays, each ``classes_per_batch`` distinct classes chosen at random
    with ``images_per_class`` images of each. Every class's images are drawn in a shuffled
    order without replacement, reshuffled when used up, so an epoch sees each image about
    equally often, and no image twice in a batch unless its class has fewer than
    ``images_per_class``. The same ``seed`` gives the same batches."""
    labels = np.asarray(labels)
    classes = np.unique(labels[labels >= 0])
    pools = {c: np.flatnonzero(labels == c) for c in classes}
    eligible = [c for c in classes if len(pools[c]) >= 1]
    if classes_per_batch > len(eligible):
        raise VizkitError(f"A batch of {classes_per_batch} classes needs that many classes; the "
                          f"training images have {len(eligible)}. Lower --classes-per-batch.")
    if images_per_class < 2:
        raise VizkitError("--images-per-class must be at least 2 (positives need a pair).")
    rng = np.random.default_rng(seed)
    queues = {c: rng.permutation(pools[c]) for c in eligible}
    cursor = dict.fromkeys(eligible, 0)
    batches = []
    for _ in range(n_batches):
        picked = rng.choice(eligible, size=classes_per_batch, replace=False)
        batch = []
        for c in picked:
            take = []
            while len(take) < images_per_class:
                if cursor[c] >= len(queues[c]):  # used up: a new round, in which the
                    fresh = rng.permutation(pools[c])  # images already in this batch go last
                    taken = np.isin(fresh, take)
                    queues[c], cursor[c] = np.concatenate([fresh[~taken], fresh[taken]]), 0
                n = min(images_per_class - len(take), len(queues[c]) - cursor[c])
                take.extend(queues[c][cursor[c]: cursor[c] + n])
                cursor[c] += n
            batch.extend(take)
        batches.append(np.asarray(batch))
    return batches


def random_batches(indices: np.ndarray, batch_size: int, seed: int) -> list[np.ndarray]:
    """``indices`` in a random order (seeded), cut into batches of ``batch_size``."""
    order = np.asarray(indices)[np.random.default_rng(seed).permutation(len(indices))]
    return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
