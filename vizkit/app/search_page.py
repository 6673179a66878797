"""Semantic search: a query image (from the dataset or uploaded) and its top-50 results.

The query and its results are one fragment: a click on a result (or a new image number)
reruns only that part, and the results are drawn as one grid element."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from vizkit import palette
from vizkit.api.metrics import Metric
from vizkit.app import data, links, pickers
from vizkit.app.thumbgrid import thumbnail_grid
from vizkit.read.catalog import Reader
from vizkit.read.query import results_score, search
from vizkit.read.rows import FeaturesRow
from vizkit.registry import get_registry

K = 50
PREFIX = "search"


def _make_query(idx: int) -> None:
    """Make dataset image ``idx`` the query (a callback: before the rerun it causes)."""
    st.session_state[f"{PREFIX}_query_idx"] = int(idx)
    st.session_state[f"{PREFIX}_source"] = pickers.FROM_DATASET


def _picked_result() -> None:
    idx = st.session_state.get(f"{PREFIX}_open")
    if idx is not None:
        _make_query(idx)
        st.session_state[f"{PREFIX}_open"] = None


def score_bars(scores: np.ndarray, higher_better: bool) -> np.ndarray:
    """Each score's bar in [0, 1] measured from zero, so that bars compare as the numbers
    do (0.981 and 0.973 are two nearly full bars): a similarity as its share of the largest
    one, a distance as the nearest one's share of it (twice as far, half the bar)."""
    s = np.asarray(scores, np.float64)
    if not s.size:
        return s
    if higher_better:
        return np.clip(s / (np.abs(s).max() or 1.0), 0.0, 1.0)
    s = np.maximum(s, 0.0)
    return np.where(s > 0, s.min() / np.where(s > 0, s, 1.0), 1.0)


def class_mix(results: pd.DataFrame) -> list[tuple[str, int, str]]:
    """The results' classes, most frequent first: (name, count, the class's colour) — a
    class has its colour by its label, the same on every query."""
    counts = results.groupby(["label", "class_name"]).size().sort_values(ascending=False,
                                                                         kind="stable")
    return [(name, int(n), palette.class_colour(int(label)))
            for (label, name), n in counts.items()]


def _results(reader: Reader, frow: FeaturesRow, results: pd.DataFrame, metric: Metric,
             query) -> None:
    if results.empty:
        st.info(f"{frow.dataset.name} holds no other image to compare this query with.")
        return
    thumbs = reader.thumbnails(frow.dataset, results["idx"])
    bars = score_bars(results["score"].to_numpy(), metric.higher_is_more_similar)
    items = [{"idx": int(r.idx), "png": thumbs[int(r.idx)], "bar": bar,
              "caption": f"#{r.rank} · {r.class_name} · {r.id}", "score": f"{r.score:.4f}"}
             for r, bar in zip(results.itertuples(), bars)]
    mix = class_mix(results)
    thumbnail_grid(items, mix, key=f"{PREFIX}_grid", query=query, on_click=_make_query)
    st.selectbox("Or pick a result to search for it", [None, *results["idx"].tolist()],
                 key=f"{PREFIX}_open", on_change=_picked_result,
                 format_func=lambda i: "—" if i is None else
                 items[results["idx"].tolist().index(i)]["caption"])
    st.caption(f"Answered by {results.attrs.get('answered_by', 'exact search')}.")


@st.fragment
def query_and_results(reader: Reader, frow: FeaturesRow, metric: Metric) -> None:
    """The query picker and its results: the part of the page a click reruns."""
    images = reader.images(frow.dataset)
    query = pickers.pick_query(reader, frow, PREFIX)
    if query.image is not None:
        with st.spinner("Embedding the image…"):
            results = search(reader, frow, metric, query, K)
    else:  # a dataset image: milliseconds, no spinner to draw and take away
        results = search(reader, frow, metric, query, K)
    if query.idx is not None and images.labels[query.idx] >= 0:
        query_label = int(images.labels[query.idx])
        c1, c2, c3 = st.columns(3)
        c1.metric("Query class", images.class_name(query_label))
        c2.metric("Retrieval score (nDCG@50)",
                  f"{results_score(query_label, results):.3f}",
                  help="Same-class results, each weighted by 1/log2(rank+1); 1 is perfect.")
        c3.metric("Same class in top 50",
                  f"{int((results['label'] == query_label).sum())} / {len(results)}")
    _results(reader, frow, results, metric, query.idx if query.idx is not None else "upload")
    links.publish({**pickers.features_link(frow, metric.name),
                   **pickers.query_link(reader, frow, query)})


def render() -> None:
    st.title("Semantic search")
    url = links.incoming()
    pickers.apply_pending(PREFIX)
    reader = data.reader()
    frow = pickers.pick_features(reader, PREFIX, url=url)
    pickers.apply_query_link(reader, frow, PREFIX, url)
    metric = get_registry().metric(st.session_state[f"{PREFIX}_metric"])
    query_and_results(reader, frow, metric)
