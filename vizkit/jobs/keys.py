"""Result keys: a digest of everything that determines a result."""
from __future__ import annotations

import hashlib
import json

from vizkit.api.datasets import Dataset
from vizkit.identity import DatasetId
from vizkit.runtime.loaded import LoadedModel

FEATURES_CODE_VERSION = 2  # 2: centre crop taken before the resize; bounded decoding
NEIGHBORS_CODE_VERSION = 1
POOLING = "avg"


def digest(parts: dict) -> str:
    """A short stable digest of a JSON-able dict."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def dataset_key(dataset: Dataset) -> str:
    """``name#fingerprint``: a dataset's identity, changing when its content changes."""
    return DatasetId(dataset.name, dataset.fingerprint).key


def features_meta(dataset: Dataset, model: LoadedModel, layer: str) -> dict:
    """The catalog row (and key) of the pooled features of ``layer`` over ``dataset``."""
    meta = {
        "dataset_key": dataset_key(dataset), "model": model.name, "weights": model.weights,
        "weights_fp": model.weights_fingerprint, "checkpoint": model.checkpoint, "layer": layer,
        "pooling": POOLING, "params": json.dumps({"preprocess": model.config.__dict__},
                                                 default=str),
        "code_version": FEATURES_CODE_VERSION,
    }
    key_parts = {k: v for k, v in meta.items() if k not in ("weights", "checkpoint")}
    return {"result_key": "f-" + digest(key_parts), **meta}


def neighbors_meta(features: dict, metric: str, k: int) -> dict:
    """The catalog row (and key) of top-``k`` neighbour lists under ``metric``."""
    meta = {k_: features[k_] for k_ in ("dataset_key", "model", "weights", "weights_fp",
                                        "checkpoint", "layer", "pooling")}
    meta.update(metric=metric, k=k, source_key=features["result_key"],
                code_version=NEIGHBORS_CODE_VERSION, params="{}")
    key = digest({"source": features["result_key"], "metric": metric, "k": k,
                  "code": NEIGHBORS_CODE_VERSION})
    return {"result_key": "n-" + key, **meta}


INDEX_CODE_VERSION = 1


def index_meta(features: dict, metric: str, kind: str, options: dict) -> dict:
    """The catalog row (and key) of an index of ``kind`` over a features result."""
    meta = {k_: features[k_] for k_ in ("dataset_key", "model", "weights", "weights_fp",
                                        "checkpoint", "layer", "pooling")}
    meta.update(metric=metric, source_key=features["result_key"],
                code_version=INDEX_CODE_VERSION)
    key = digest({"source": features["result_key"], "metric": metric, "kind": kind,
                  "options": options, "code": INDEX_CODE_VERSION})
    return {"result_key": "i-" + key, **meta}
