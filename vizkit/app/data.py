"""Cached reads for the app. Stored results never change once written (they are keyed by
what made them), so they are cached by key; the catalog is re-read every few seconds so
that results committed by a running job appear."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from vizkit import runs, spectrum
from vizkit.checkpoints import load_model
from vizkit.explain import MapService, open_stored_dataset
from vizkit.models import LoadedModel
from vizkit.paths import data_roots, store_path
from vizkit.similarity import Decomposer
from vizkit.store import Store


def store() -> Store:
    """The store the app reads (``$VIZKIT_STORE`` or ``data/vizkit.duckdb``)."""
    return Store(store_path())


@st.cache_data(ttl=5, show_spinner=False)
def catalog(path: str, kind: str) -> pd.DataFrame:
    """The results catalog of one kind (features or neighbors)."""
    return Store(path).results(kind)


@st.cache_data(show_spinner=False, max_entries=8)
def feature_matrix(path: str, result_key: str) -> np.ndarray:
    """A stored feature matrix (immutable, cached by key)."""
    return Store(path).features(result_key)


@st.cache_resource(show_spinner=False, max_entries=8)
def scorer_for(path: str, result_key: str, metric: str):
    """The metric prepared once over a stored feature matrix (for uploaded queries)."""
    import torch

    from vizkit.registry import get_registry

    matrix = feature_matrix(path, result_key)
    return get_registry().metric(metric).scorer(torch.from_numpy(matrix))


@st.cache_data(show_spinner=False, max_entries=16)
def image_table(path: str, dataset_key: str) -> pd.DataFrame:
    return Store(path).image_table(dataset_key)


@st.cache_data(show_spinner=False, max_entries=16)
def dataset_info(path: str, dataset_key: str) -> dict:
    return Store(path).dataset(dataset_key)


@st.cache_data(show_spinner=False, max_entries=4096)
def thumbnails(path: str, dataset_key: str, idxs: tuple[int, ...]) -> dict[int, bytes]:
    return Store(path).thumbnails(dataset_key, list(idxs))


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def model_for(path: str, model: str, weights: str, checkpoint: str | None,
              params: str) -> LoadedModel:
    """The model that made a features result, to embed an uploaded image the same way."""
    size = json.loads(params or "{}").get("preprocess", {}).get("height")
    if checkpoint:
        return load_model(None, checkpoint=checkpoint, store=Store(path), input_size=size)
    return load_model(model, weights, input_size=size)


def model_for_features(path: str, frow: dict) -> LoadedModel:
    """The model that made the features catalog row ``frow``."""
    checkpoint = frow["checkpoint"] if isinstance(frow["checkpoint"], str) else None
    return model_for(path, frow["model"], frow["weights"], checkpoint, frow["params"])


@st.cache_resource(show_spinner="Preparing similarity maps…", max_entries=4)
def map_service(path: str, result_key: str) -> MapService:
    """Similarity maps for a stored features result: its model, layer and dataset images.
    Raises NotDecomposableError or DatasetMissingError with what to do."""
    frow = Store(path).result(result_key)
    info = dataset_info(path, frow["dataset_key"])
    decomposer = Decomposer(model_for_features(path, frow), frow["layer"])
    return MapService(decomposer, open_stored_dataset(info["name"], info["fingerprint"],
                                                      data_roots(Path(path))))


@st.cache_data(ttl=5, show_spinner=False)
def map_queries(path: str, maps_key: str) -> list[int]:
    """The query images with precomputed maps under ``maps_key``."""
    return Store(path).map_queries(maps_key)


@st.cache_data(show_spinner=False, max_entries=32)
def per_image(path: str, table: str, result_key: str) -> pd.DataFrame:
    """A stored per-image result (projections, clusters, predictions); immutable."""
    return Store(path).per_image(table, result_key)


def related(path: str, kind: str, **match) -> dict | None:
    """The newest catalog row of ``kind`` whose columns equal ``match``, or None."""
    rows = catalog(path, kind)
    for column, value in match.items():
        if rows.empty:
            break
        rows = rows[rows[column] == value]
    return None if rows.empty else rows.iloc[-1].to_dict()


def checkpoint_epoch(checkpoint) -> int:
    """The epoch of a ``run:epoch`` checkpoint label (-1 for none), for ordering."""
    if isinstance(checkpoint, str) and ":" in checkpoint:
        return int(checkpoint.rsplit(":", 1)[1])
    return -1


def model_label(row: dict) -> str:
    """How a features result's model is named in pickers."""
    if isinstance(row.get("checkpoint"), str) and row["checkpoint"]:
        return f"{row['model']} @ {row['checkpoint']}"
    return f"{row['model']} ({row['weights']}, {row['weights_fp'][:6]})"


@st.cache_data(ttl=5, show_spinner=False)
def explorer_models(path: str) -> tuple[dict[str, dict], list[str]]:
    """For the explorer: every model the store knows — each checkpoint of a run and each
    model with features — by label, and the labels of those with rendered channels."""
    from vizkit.explorer.store import explored

    store_ = Store(path)
    if not store_.ready():
        return {}, []
    options: dict[str, dict] = {}
    models = store_.runs().set_index("run")["model"]
    for r in store_.checkpoints().itertuples():
        options[f"{models[r.run]} @ {r.run}:{r.epoch}"] = {
            "model": models[r.run], "weights": "file", "checkpoint": f"{r.run}:{r.epoch}",
            "params": "{}"}
    for row in catalog(path, "features").to_dict("records")[::-1]:
        options.setdefault(model_label(row), row)
    done = explored(store_)
    fps, checkpoints = set(done["weights_fp"]), set(done["checkpoint"].dropna())
    rendered = [n for n, row in options.items()
                if row.get("checkpoint") in checkpoints or row.get("weights_fp") in fps]
    return options, rendered


@st.cache_data(ttl=5, show_spinner=False)
def run_table(path: str) -> pd.DataFrame:
    """The runs and their configurations (see :func:`vizkit.runs.run_table`)."""
    return runs.run_table(Store(path))


@st.cache_data(ttl=5, show_spinner=False)
def metric_history(path: str, run_names: tuple[str, ...]) -> pd.DataFrame:
    return runs.metric_history(Store(path), list(run_names))


@st.cache_data(ttl=5, show_spinner=False)
def anchor_table(path: str, run_names: tuple[str, ...]) -> pd.DataFrame:
    return runs.anchor_table(Store(path), list(run_names))


def eval_embedding(path: str, run: str, epoch: int, split: str) -> tuple[np.ndarray, dict]:
    """The evaluation embeddings of ``run:epoch`` on ``split`` and their catalog row."""
    key = runs.eval_features_key(Store(path), run, epoch, split)
    return feature_matrix(path, key), Store(path).result(key)


@st.cache_data(show_spinner="Computing the spectrum…", max_entries=16)
def spectrum_of(path: str, result_key: str) -> spectrum.Spectrum:
    return spectrum.spectrum(feature_matrix(path, result_key))


@st.cache_data(show_spinner="Recall@1 after dropping directions…", max_entries=32)
def truncated_recall(path: str, result_key: str, dataset_key: str) -> dict[int, float]:
    labels = image_table(path, dataset_key)["label"].to_numpy()
    return spectrum.recall_after_truncation(feature_matrix(path, result_key), labels)
