"""Semantic search: a query image (from the dataset or uploaded) and its top-50 results."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from vizkit.app import data, pickers
from vizkit.compute.nearest import retrieval_score
from vizkit.read.catalog import Reader
from vizkit.read.query import search
from vizkit.read.rows import FeaturesRow
from vizkit.registry import get_registry

K = 50
COLUMNS = 5


def _result_grid(reader: Reader, frow: FeaturesRow, results: pd.DataFrame,
                 higher_better: bool) -> None:
    thumbs = reader.thumbnails(frow.dataset, results["idx"])
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
    reader = data.reader()
    frow = pickers.pick_features(reader, "search")
    metric = get_registry().metric(st.session_state.search_metric)
    images = reader.images(frow.dataset)
    query = pickers.pick_query(reader, frow, "search")
    with st.spinner("Embedding the image…" if query.image is not None else "Searching…"):
        results = search(reader, frow, metric, query, K)
    c1, c2, c3 = st.columns(3)
    if query.idx is not None and images.labels[query.idx] >= 0:
        query_label = int(images.labels[query.idx])
        same = int((results["label"] == query_label).sum())
        c1.metric("Query class", images.class_name(query_label))
        c2.metric("Retrieval score (nDCG@50)",
                  f"{retrieval_score(query_label, results['label'].to_numpy()):.3f}",
                  help="Same-class results, each weighted by 1/log2(rank+1); 1 is perfect.")
        c3.metric("Same class in top 50", f"{same} / {len(results)}")
    mix = results["class_name"].value_counts().rename_axis("class").reset_index(name="results")
    st.bar_chart(mix, x="class", y="results", height=180)
    _result_grid(reader, frow, results, metric.higher_is_more_similar)
