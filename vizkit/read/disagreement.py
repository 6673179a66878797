"""The read side of "where two embeddings disagree": a bounded sample of a dataset's images,
each searched under configurations A and B, ranked by how little their top-k overlap."""
from __future__ import annotations

import numpy as np
import pandas as pd

from vizkit.api.metrics import Metric
from vizkit.compute.disagreement import most_disagreeing, overlap_per_query
from vizkit.read.catalog import Reader
from vizkit.read.query import neighbours_of
from vizkit.read.rows import FeaturesRow

MAX_QUERIES = 2000  # a visitor's request stays bounded whatever the dataset's size


def disagreement_table(reader: Reader, a: tuple[FeaturesRow, Metric],
                       b: tuple[FeaturesRow, Metric], k: int = 10,
                       queries: int = MAX_QUERIES) -> pd.DataFrame:
    """The first ``queries`` images (at most :data:`MAX_QUERIES`) ranked from the least to the
    most overlap@k between A's and B's neighbours: idx, id, class_name, overlap."""
    (frow_a, metric_a), (frow_b, metric_b) = a, b
    n = min(len(reader.matrix(frow_a.result_key)), max(1, min(queries, MAX_QUERIES)))
    key = (frow_a.result_key, metric_a.name, frow_b.result_key, metric_b.name, k, n)

    def make() -> pd.DataFrame:
        idx = np.arange(n)
        overlap = overlap_per_query(neighbours_of(reader, frow_a, metric_a, idx, k),
                                    neighbours_of(reader, frow_b, metric_b, idx, k), k)
        order = most_disagreeing(overlap)
        images = reader.images(frow_a.dataset)
        rows = images.table.iloc[order]
        return pd.DataFrame({"idx": order, "id": rows["image_id"].to_numpy(),
                             "class_name": [images.class_name(int(v)) for v in
                                            rows["label"].to_numpy()],
                             "overlap": overlap[order]})
    return reader.memo("disagreement", key, make, keep=4)
