"""One query, one search: the ``k`` images of a stored dataset most similar to a dataset
image (by position or id) or to any outside image, under a stored features result and a
metric — for the pages and the CLI alike."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vizkit.api.metrics import Metric
from vizkit.compute.indexes import ExactSearcher, metric_values, rerank
from vizkit.compute.nearest import retrieval_score, topk
from vizkit.errors import BadArgumentError, ResultMissingError, UnknownNameError
from vizkit.read.catalog import Reader
from vizkit.read.indexes import answer_for, exclude_self, fetch_count
from vizkit.read.rows import FeaturesRow, NeighborsRow

RESULT_COLUMNS = ["rank", "idx", "id", "label", "class_name", "score"]


@dataclass(frozen=True)
class Query:
    """What to search for: a dataset image by position (``idx``) or by id (``image_id``),
    or an outside image (uint8 ``image``, e.g. an upload; ``crop=False`` keeps its whole
    frame, for maps that follow its aspect ratio)."""

    idx: int | None = None
    image_id: str | None = None
    image: np.ndarray | None = None
    crop: bool = True

    @property
    def from_dataset(self) -> bool:
        return self.image is None


def index_of(reader: Reader, frow: FeaturesRow, query: Query) -> int | None:
    """The dataset position a query names (``None`` for an outside image)."""
    if query.image is not None:
        return None
    if query.idx is not None:
        idx = int(query.idx)
    else:
        table = reader.images(frow.dataset).table
        hits = np.flatnonzero(table["image_id"].to_numpy() == query.image_id)
        if len(hits):
            return int(hits[0])
        if not (query.image_id or "").isdigit():
            raise UnknownNameError("image id", str(query.image_id),
                                   table["image_id"].head(20).tolist())
        idx = int(query.image_id)
    if not 0 <= idx < frow.n:
        raise BadArgumentError(f"Image index {idx} is out of range (0 to {frow.n - 1}).")
    return idx


def query_vector(reader: Reader, frow: FeaturesRow, query: Query) -> np.ndarray:
    """The query's vector under ``frow``: the stored row of a dataset image, or an outside
    image embedded by the model that made ``frow``, at its input size."""
    idx = index_of(reader, frow, query)
    if idx is not None:
        return reader.matrix(frow.result_key)[idx]
    from vizkit.runtime.models import model_for

    model = model_for(reader, frow)
    return model.embed_images([query.image], [frow.layer])[frow.layer][0]


def search(reader: Reader, frow: FeaturesRow, metric: Metric, query: Query, k: int = 50,
           vector: np.ndarray | None = None) -> pd.DataFrame:
    """The top-``k`` results of ``query`` (a dataset image itself left out): from stored
    neighbour lists when they are long enough, else through the best stored index (an
    approximate one re-ranked exactly) or exact search. ``vector`` overrides how an outside
    image is embedded (the maps pages pass the pooled spatial features they computed).
    Columns: rank, idx, id, label, class_name, score; ``.attrs["answered_by"]`` says which
    stored result or index answered."""
    idx = index_of(reader, frow, query)
    if idx is not None:
        nrow = stored_neighbors(reader, frow, metric.name, k)
        if nrow is not None:
            nbr, score = reader.neighbor_lists(nrow.result_key)
            found = np.asarray(nbr[idx][:k], np.int64)
            table = describe(reader, frow, found[found >= 0],
                             np.asarray(score[idx][:k])[found >= 0])
            table.attrs["answered_by"] = f"stored top-{nrow.k} lists"
            return table
        vector = reader.matrix(frow.result_key)[idx]
    elif vector is None:
        vector = query_vector(reader, frow, query)
    q = np.asarray(vector, np.float32).reshape(1, -1)
    answer = answer_for(reader, frow, metric)
    if answer.exact:
        nbr, score = answer.searcher.search(q, k, exclude=None if idx is None else
                                            np.array([idx]))
    else:
        found, _ = answer.searcher.search(q, fetch_count(k, frow.n))
        candidates = exclude_self(found[0], idx)[None]
        nbr, score = rerank(metric, reader.matrix(frow.result_key), q, candidates, k)
    keep = nbr[0] >= 0
    table = describe(reader, frow, nbr[0][keep], score[0][keep])
    table.attrs["answered_by"] = answer.note
    return table


def stored_neighbors(reader: Reader, frow: FeaturesRow, metric: str, k: int
                     ) -> NeighborsRow | None:
    """Stored top-k lists of ``frow`` under ``metric`` holding at least ``k`` neighbours."""
    rows = [r for r in reader.catalog().neighbors
            if r.source_key == frow.result_key and r.metric == metric and r.k >= k]
    return rows[-1] if rows else None


def neighbours_of(reader: Reader, frow: FeaturesRow, metric: Metric, queries: np.ndarray,
                  k: int) -> np.ndarray:
    """Indices ``[len(queries), k]`` of the ``k`` nearest other images of each dataset image
    in ``queries``: read from stored top-k lists when they are long enough (the grid job
    and precompute write them, so a page over the 70,000-image store only looks them up),
    else an exact search of that bounded query set, through the stored exact index when
    there is one (its memory-mapped unit rows: no copy of the matrix per request)."""
    queries = np.asarray(queries, np.int64)
    nrow = stored_neighbors(reader, frow, metric.name, k)
    if nrow is not None:
        nbr, _ = reader.neighbor_lists(nrow.result_key)
        return np.asarray(nbr[queries][:, :k], np.int64)
    matrix = reader.matrix(frow.result_key)
    answer = answer_for(reader, frow, metric)
    searcher = answer.searcher if answer.exact else ExactSearcher(metric, matrix)
    found, _ = searcher.search(np.ascontiguousarray(matrix[queries]), k, exclude=queries)
    return found


def describe(reader: Reader, frow: FeaturesRow, idx, scores) -> pd.DataFrame:
    """A result table (rank, idx, id, label, class_name, score) for images ``idx``."""
    images = reader.images(frow.dataset)
    idx = np.asarray(idx, np.int64)
    rows = images.table.iloc[idx]
    labels = rows["label"].to_numpy()
    return pd.DataFrame({"rank": np.arange(1, len(idx) + 1), "idx": idx,
                         "id": rows["image_id"].to_numpy(), "label": labels,
                         "class_name": [images.class_name(int(v)) for v in labels],
                         "score": np.asarray(scores, np.float64)})


def rank_and_score(metric: Metric, vector: np.ndarray, matrix: np.ndarray, idxs,
                   exclude: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each of ``idxs``'s rank (1 = most similar) among all rows of ``matrix`` for the query
    ``vector``, and its score; row ``exclude`` (the query itself) is not counted."""
    scores = metric_values(metric, np.asarray(matrix, np.float32),
                           np.asarray(vector, np.float32).reshape(1, -1))[0]
    idxs = np.asarray(idxs, np.int64)
    mine = scores[idxs]
    if exclude is not None:
        scores = np.delete(scores, exclude)
    better = scores[None, :] > mine[:, None] if metric.higher_is_more_similar else \
        scores[None, :] < mine[:, None]
    return 1 + better.sum(1), mine


def nearest_among(metric: Metric, matrix: np.ndarray, idx: int, candidates: np.ndarray,
                  k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``candidates`` nearest row ``idx`` (itself left out) and scores."""
    candidates = np.asarray(candidates, np.int64)
    candidates = candidates[candidates != idx]
    nbr, score = topk(metric, matrix[idx: idx + 1], np.ascontiguousarray(matrix[candidates]), k)
    return candidates[nbr[0]], score[0]


def overlap_at(a, b, k: int) -> float:
    """The share of the first ``k`` of ranking ``a`` that is in the first ``k`` of ``b``."""
    return len(set(list(a)[:k]) & set(list(b)[:k])) / k


# -- finding stored features by name (the CLI) ------------------------------------------
def _precompute_hint(dataset: str, model: str, layer: str) -> str:
    return f"vizkit precompute --dataset {dataset} --model {model} --layers {layer}"


def find_features(reader: Reader, dataset: str, model: str, layer: str, *,
                  weights_fp: str | None = None, weights: str | None = None,
                  input_size: int | None = None) -> FeaturesRow:
    """The newest stored features of (dataset, model, layer), matching the weights and the
    input size.

    ``dataset`` is a dataset name or a full stored key; ``weights_fp`` pins exact weights (a
    checkpoint or a weights file); else ``weights`` (pretrained/random). Without
    ``input_size``, features stored at several input sizes are ambiguous (an outside query
    must be embedded at the size of the features it is compared with): a
    :class:`BadArgumentError` lists them. A dataset, model or layer that does not exist is
    an :class:`UnknownNameError` ("did you mean"); one that exists but has no stored
    features, a :class:`ResultMissingError` naming the command that makes them.
    """
    rows = [r for r in reader.features_rows() if dataset in (r.dataset.name, r.dataset.key)]
    name = rows[0].dataset.name if rows else dataset
    hint = f"Make them with: {_precompute_hint(name, model, layer)}"
    if not any(r.model == model and r.layer == layer for r in rows):
        _check_known(name, model, layer)  # an unknown name: exit 2 and "did you mean"
    rows = [r for r in rows if r.model == model and r.layer == layer]
    if weights_fp:
        rows = [r for r in rows if r.weights_fp == weights_fp]
    elif weights:
        rows = [r for r in rows if r.weights == weights]
    sizes = sorted({r.input_size for r in rows if r.input_size})
    if input_size:
        rows = [r for r in rows if r.input_size == input_size]
    elif len(sizes) > 1:
        raise BadArgumentError(
            f"Features of {model} / {layer} on {name} are stored at input sizes "
            + ", ".join(f"{s} px" for s in sizes) + "; say which with --input-size.")
    if not rows:
        raise ResultMissingError(f"No features of {model} / {layer} on {name} in the store"
                                 + (f" at {input_size} px" if input_size else "") + ". " + hint)
    return rows[-1]


def _check_known(dataset: str, model: str, layer: str) -> None:
    """Raise :class:`UnknownNameError` when no plugin knows the dataset kind or the model,
    or the model has no such layer (the layers come from an untrained copy of it)."""
    from vizkit.registry import get_registry

    registry = get_registry()
    kind = dataset.split("[")[0].split(":")[0]
    if kind not in registry.items["dataset"]:
        raise UnknownNameError("dataset", kind, registry.items["dataset"],
                               "Forms: " + ", ".join(registry.dataset_names()) + ".")
    registry.model_provider(model)
    registry.load_model(model, "random").layer(layer)


def results_score(query_label: int, results: pd.DataFrame) -> float:
    """nDCG@k of a query's ranked results against its class (same-class results weighted by
    1/log2(rank + 1); 1 is perfect)."""
    return retrieval_score(query_label, results["label"].to_numpy())
