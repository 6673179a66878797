"""Read-side lookups shared by the CLI and the app: which results exist, and searches."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from vizkit.errors import BadArgumentError, ResultMissingError, UnknownNameError
from vizkit.metrics import Metric
from vizkit.search import topk
from vizkit.store import Store


def _precompute_hint(dataset: str, model: str, layer: str, metric: str | None = None) -> str:
    cmd = f"vizkit precompute --dataset {dataset} --model {model} --layers {layer}"
    return cmd + (f" --metrics {metric}" if metric else "")


def input_size_of(row: dict) -> int | None:
    """The input size (px, the height) a features result's images were embedded at."""
    params = json.loads(row.get("params") or "{}")
    return (params.get("preprocess") or {}).get("height")


def features_row(store: Store, dataset: str, model: str, layer: str, *,
                 weights_fp: str | None = None, weights: str | None = None,
                 input_size: int | None = None) -> dict:
    """The newest stored features of (dataset, model, layer), matching the weights and the
    input size.

    ``dataset`` is a dataset name or a full ``name#fingerprint`` key; ``weights_fp`` pins
    exact weights (a checkpoint or a weights file); else ``weights`` (pretrained/random).
    Without ``input_size``, features stored at several input sizes are ambiguous (an
    uploaded query must be embedded at the size of the features it is compared with): a
    :class:`BadArgumentError` lists them. A dataset, model or layer that does not exist is
    an :class:`UnknownNameError` ("did you mean"); one that exists but has no stored
    features, a :class:`ResultMissingError` naming the command that makes them.
    """
    df = store.results("features") if store.ready() else pd.DataFrame()
    name = dataset.split("#")[0]
    hint = f"Make them with: {_precompute_hint(name, model, layer)}"
    if df.empty:
        _check_known(name, model, layer)
        raise ResultMissingError(f"No features of {model} / {layer} on {name} in the store. "
                                 + hint)
    df = df[(df["dataset_key"] == dataset) | df["dataset_key"].str.startswith(dataset + "#")]
    if df.empty or model not in set(df["model"]) or layer not in set(
            df[df["model"] == model]["layer"]):
        _check_known(name, model, layer)  # an unknown name: exit 2 and "did you mean"
    df = df[(df["model"] == model) & (df["layer"] == layer)]
    if weights_fp:
        df = df[df["weights_fp"] == weights_fp]
    elif weights:
        df = df[df["weights"] == weights]
    sizes = {input_size_of(r) for r in df.to_dict("records")}
    if input_size:
        df = df[[input_size_of(r) == input_size for r in df.to_dict("records")]]
    elif len(sizes) > 1:
        raise BadArgumentError(
            f"Features of {model} / {layer} on {name} are stored at input sizes "
            + ", ".join(f"{s} px" for s in sorted(sizes)) + "; say which with --input-size.")
    if df.empty:
        raise ResultMissingError(f"No features of {model} / {layer} on {name} in the store"
                                 + (f" at {input_size} px" if input_size else "") + ". " + hint)
    return df.iloc[-1].to_dict()


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


def neighbors_row(store: Store, features: dict, metric: str) -> dict | None:
    """The stored neighbour lists computed from ``features`` under ``metric``, or None."""
    df = store.results("neighbors")
    df = df[(df["source_key"] == features["result_key"]) & (df["metric"] == metric)]
    return None if df.empty else df.iloc[-1].to_dict()


def describe(store: Store, dataset_key: str, idx: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """A result table: rank, idx, id, label, class_name, score."""
    rows = store.image_rows(dataset_key, list(idx)).set_index("idx").loc[
        np.asarray(idx, np.int64)]
    classes = store.dataset(dataset_key)["classes"]
    labels = rows["label"].to_numpy()
    return pd.DataFrame({
        "rank": np.arange(1, len(idx) + 1), "idx": np.asarray(idx, np.int64),
        "id": rows["image_id"].to_numpy(), "label": labels,
        "class_name": [classes[v] if 0 <= v < len(classes) else "(unlabelled)" for v in labels],
        "score": np.asarray(scores, np.float64)})


def search_by_index(store: Store, features: dict, metric: Metric, idx: int, k: int = 50,
                    feature_matrix: np.ndarray | None = None) -> pd.DataFrame:
    """Top-``k`` of dataset image ``idx`` (itself excluded): from stored lists when they
    are long enough, else computed from the stored features."""
    n = int(features["n"])
    if not 0 <= idx < n:
        raise ResultMissingError(f"Image index {idx} is out of range (0 to {n - 1}).")
    nrow = neighbors_row(store, features, metric.name)
    if nrow is not None and int(nrow["k"]) >= k:
        nbr, score = store.neighbors(nrow["result_key"], idx)
        return describe(store, features["dataset_key"], nbr[:k], score[:k])
    matrix = feature_matrix if feature_matrix is not None else \
        store.features(features["result_key"])
    nbr, score = topk(metric, matrix[idx: idx + 1], matrix, k, exclude=np.array([idx]))
    return describe(store, features["dataset_key"], nbr[0], score[0])


def search_by_vector(store: Store, features: dict, metric: Metric, vector: np.ndarray,
                     k: int = 50, feature_matrix: np.ndarray | None = None,
                     scorer=None) -> pd.DataFrame:
    """Top-``k`` dataset images for a query feature vector (an uploaded image's)."""
    matrix = feature_matrix if feature_matrix is not None else \
        store.features(features["result_key"])
    with torch.inference_mode():
        nbr, score = topk(metric, vector.reshape(1, -1), matrix, k, scorer=scorer)
    return describe(store, features["dataset_key"], nbr[0], score[0])


def rank_and_score(metric: Metric, vector: np.ndarray, matrix: np.ndarray, idxs,
                   exclude: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each of ``idxs``'s rank (1 = most similar) among all rows of ``matrix`` for the query
    ``vector``, and its score; row ``exclude`` (the query itself) is not counted."""
    with torch.inference_mode():
        scores = metric.exact(torch.from_numpy(np.ascontiguousarray(matrix, np.float32)))(
            torch.from_numpy(np.asarray(vector, np.float32).reshape(1, -1)))[0].numpy()
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


def index_of(store: Store, dataset_key: str, image_id: str) -> int:
    """The position of image ``image_id`` (or a decimal position) in a stored dataset."""
    table = store.image_table(dataset_key)
    hits = np.flatnonzero(table["image_id"].to_numpy() == image_id)
    if len(hits):
        return int(hits[0])
    if image_id.isdigit() and int(image_id) < len(table):
        return int(image_id)
    from vizkit.errors import UnknownNameError

    raise UnknownNameError("image id", image_id, table["image_id"].head(20).tolist())
