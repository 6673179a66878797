"""Putting a dataset's image table (ids, labels, splits, thumbnails) into the store."""
from __future__ import annotations

import pandas as pd

from vizkit.api.datasets import Dataset
from vizkit.images import thumbnail_png
from vizkit.jobs.keys import dataset_key
from vizkit.progress import bar as tqdm
from vizkit.store import Store


def ensure_dataset(store: Store, dataset: Dataset, progress: bool = True) -> str:
    """Store ``dataset``'s image table unless it is there already; return its key."""
    key = dataset_key(dataset)
    if store.has_dataset(key):
        return key
    thumbs = []
    with tqdm(total=len(dataset), desc=f"thumbnails of {dataset.name}", unit="img",
              disable=not progress) as bar:
        for batch in dataset.iter_batches(1024):
            thumbs.extend(thumbnail_png(im) for im in batch.images)
            bar.update(len(batch.ids))
    rows = pd.DataFrame({"idx": range(len(dataset)), "image_id": dataset.ids,
                         "label": dataset.labels.astype("int32"),
                         "split": [str(s) for s in dataset.splits], "thumb": thumbs})
    store.put_dataset(key, dataset.name, dataset.fingerprint, list(dataset.classes),
                      dataset.description, dataset.skipped, rows)
    return key
