"""Semantic search: a query image (from the dataset or uploaded) and its top-50 results."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from vizkit.app import data, pickers
from vizkit.query import search_by_index, search_by_vector
from vizkit.registry import get_registry
from vizkit.search import retrieval_score

K = 50
COLUMNS = 5


def _uploaded_vector(path: str, frow: dict):
    image, name, _ = pickers.pick_upload("search")
    st.image(image, caption=f"query: {name}", width=160)
    model = data.model_for_features(path, frow)
    if model.weights_fingerprint != frow["weights_fp"]:
        st.warning("The model's weights changed since these features were computed; "
                   "re-run the precompute job.")
    with st.spinner("Embedding the image…"):
        return model.embed_images([image], [frow["layer"]])[frow["layer"]][0]


def _result_grid(path: str, frow: dict, results: pd.DataFrame, higher_better: bool) -> None:
    thumbs = data.thumbnails(path, frow["dataset_key"], tuple(int(i) for i in results["idx"]))
    s = results["score"].to_numpy()
    best, worst = (s.max(), s.min()) if higher_better else (s.min(), s.max())
    span = (best - worst) or 1.0
    bars = 0.05 + 0.95 * (s - worst) / span
    with st.container(height=640, key="search_results"):
        for lo in range(0, len(results), COLUMNS):
            cols = st.columns(COLUMNS)
            for col, row, bar in zip(cols, results.iloc[lo: lo + COLUMNS].itertuples(),
                                     bars[lo: lo + COLUMNS]):
                with col:
                    st.image(thumbs[int(row.idx)], width=96, output_format="PNG")
                    st.caption(f"#{row.rank} · {row.class_name} · {row.id}")
                    st.progress(float(np.clip(bar, 0, 1)), text=f"{row.score:.4f}")
                    if st.button("Search this", key=f"use_{int(row.idx)}"):
                        st.session_state.search_query_idx_next = int(row.idx)
                        st.session_state.search_source_next = pickers.FROM_DATASET
                        st.rerun()


def render() -> None:
    st.title("Semantic search")
    pickers.apply_pending("search")
    store = data.store()
    path = str(store.path)
    frow = pickers.pick_features(path, "search")
    metric = get_registry().metric(st.session_state.search_metric)
    table = data.image_table(path, frow["dataset_key"])
    classes = data.dataset_info(path, frow["dataset_key"])["classes"]
    source = pickers.pick_source("search")
    matrix = data.feature_matrix(path, frow["result_key"])
    if source == pickers.FROM_DATASET:
        idx = pickers.pick_index(table, "search")
        query_label = int(table.iloc[idx]["label"])
        st.image(data.thumbnails(path, frow["dataset_key"], (idx,))[idx], width=128,
                 caption=pickers.query_caption(table, classes, idx), output_format="PNG")
        results = search_by_index(store, frow, metric, idx, K, feature_matrix=matrix)
    else:
        vec = _uploaded_vector(path, frow)
        results = search_by_vector(store, frow, metric, vec, K, feature_matrix=matrix,
                                   scorer=data.scorer_for(path, frow["result_key"], metric.name))
        query_label = -1
    c1, c2, c3 = st.columns(3)
    if query_label >= 0:
        same = int((results["label"] == query_label).sum())
        c1.metric("Query class", classes[query_label])
        c2.metric("Retrieval score (nDCG@50)",
                  f"{retrieval_score(query_label, results['label'].to_numpy()):.3f}",
                  help="Same-class results, each weighted by 1/log2(rank+1); 1 is perfect.")
        c3.metric("Same class in top 50", f"{same} / {len(results)}")
    mix = results["class_name"].value_counts().rename_axis("class").reset_index(name="results")
    st.bar_chart(mix, x="class", y="results", height=180)
    _result_grid(path, frow, results, metric.higher_is_more_similar)
