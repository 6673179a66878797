"""Semantic search: a query image (from the dataset or uploaded) and its top-50 results."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from vizkit.app import data
from vizkit.errors import ImageDecodeError, ResultMissingError
from vizkit.images import decode_image, to_array
from vizkit.query import search_by_index, search_by_vector
from vizkit.registry import get_registry
from vizkit.search import retrieval_score

K = 50
COLUMNS = 5


def _pick_features(path: str) -> dict:
    feats = data.catalog(path, "features")
    if feats.empty:
        raise ResultMissingError("The store has no features yet. Run `vizkit demo`, or "
                                 "`vizkit precompute --dataset D --model M --layers L`.")
    feats = feats.assign(dataset=feats["dataset_key"].str.split("#").str[0],
                         label=[data.model_label(r) for r in feats.to_dict("records")])
    c1, c2, c3, c4 = st.columns(4)
    dataset = c1.selectbox("Dataset", sorted(feats["dataset"].unique()), key="search_dataset")
    feats = feats[feats["dataset"] == dataset]
    model = c2.selectbox("Model", list(dict.fromkeys(feats["label"][::-1])), key="search_model")
    feats = feats[feats["label"] == model]
    layer = c3.selectbox("Layer", list(dict.fromkeys(feats["layer"])), key="search_layer")
    metrics = [m.name for m in get_registry().metrics()]
    c4.selectbox("Metric", metrics, key="search_metric")
    return feats[feats["layer"] == layer].iloc[-1].to_dict()


def _query_from_dataset(path: str, frow: dict, table: pd.DataFrame) -> int:
    n = len(table)
    if "search_query_idx" not in st.session_state:
        st.session_state.search_query_idx = int(np.random.default_rng(0).integers(n))
    st.session_state.search_query_idx = min(st.session_state.search_query_idx, n - 1)
    c1, c2 = st.columns([3, 1])
    c1.number_input("Image number", 0, n - 1, key="search_query_idx")
    if c2.button("Random image", key="search_random"):
        st.session_state.search_query_idx_next = int(np.random.default_rng().integers(n))
        st.rerun()
    return int(st.session_state.search_query_idx)


def _uploaded_vector(path: str, frow: dict):
    upload = st.file_uploader("Upload an image (JPEG, PNG, WebP, BMP, TIFF)",
                              key="search_upload")
    if upload is None:
        st.info("Upload an image to search the dataset for similar ones.")
        st.stop()
    try:
        image = decode_image(upload.getvalue(), name=upload.name)
    except ImageDecodeError as e:
        st.error(f"{e} Nothing was searched; try another file.")
        st.stop()
    st.image(image, caption=f"query: {upload.name}", width=160)
    model = data.model_for(path, frow["model"], frow["weights"], frow["checkpoint"]
                           if isinstance(frow["checkpoint"], str) else None, frow["params"])
    if model.weights_fingerprint != frow["weights_fp"]:
        st.warning("The model's weights changed since these features were computed; "
                   "re-run the precompute job.")
    with st.spinner("Embedding the image…"):
        return model.embed_images([to_array(image)], [frow["layer"]])[frow["layer"]][0]


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
                        st.session_state.search_source_next = "From the dataset"
                        st.rerun()


def render() -> None:
    st.title("Semantic search")
    for key in ("search_query_idx", "search_source"):
        if f"{key}_next" in st.session_state:  # set by a click before the widget exists
            st.session_state[key] = st.session_state.pop(f"{key}_next")
    store = data.store()
    path = str(store.path)
    frow = _pick_features(path)
    metric = get_registry().metric(st.session_state.search_metric)
    table = data.image_table(path, frow["dataset_key"])
    classes = data.dataset_info(path, frow["dataset_key"])["classes"]
    source = st.radio("Query", ["From the dataset", "Upload an image"], horizontal=True,
                      key="search_source")
    matrix = data.feature_matrix(path, frow["result_key"])
    if source == "From the dataset":
        idx = _query_from_dataset(path, frow, table)
        q = table.iloc[idx]
        query_label = int(q["label"])
        st.image(data.thumbnails(path, frow["dataset_key"], (idx,))[idx], width=128,
                 caption=f"query {q['image_id']} · {classes[query_label] if query_label >= 0 else '(unlabelled)'}",
                 output_format="PNG")
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
