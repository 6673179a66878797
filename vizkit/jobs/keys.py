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


# what a result made from a features result inherits from it
SOURCE_COLUMNS = ("dataset_key", "model", "weights", "weights_fp", "checkpoint", "layer",
                  "pooling")


def derived_meta(prefix: str, source: dict, key_parts: dict, **columns) -> dict:
    """The catalog row (and key) of a result made from ``source`` (a catalog row): the
    source's identity columns and ``columns``, keyed ``prefix-`` + a digest of the source's
    key and ``key_parts`` (everything else that determines the result). The one recipe of
    every derived result's key: neighbour lists, indexes, maps, layouts."""
    key = digest({"source": source["result_key"], **key_parts})
    return {"result_key": f"{prefix}-{key}", **{c: source[c] for c in SOURCE_COLUMNS},
            "source_key": source["result_key"], **columns}


def neighbors_meta(features: dict, metric: str, k: int) -> dict:
    """The catalog row (and key) of top-``k`` neighbour lists under ``metric``."""
    return derived_meta("n", features, {"metric": metric, "k": k,
                                        "code": NEIGHBORS_CODE_VERSION},
                        metric=metric, k=k, code_version=NEIGHBORS_CODE_VERSION, params="{}")


INDEX_CODE_VERSION = 1


def index_meta(features: dict, metric: str, kind: str, options: dict) -> dict:
    """The catalog row (and key) of an index of ``kind`` over a features result."""
    return derived_meta("i", features, {"metric": metric, "kind": kind, "options": options,
                                        "code": INDEX_CODE_VERSION},
                        metric=metric, code_version=INDEX_CODE_VERSION)
