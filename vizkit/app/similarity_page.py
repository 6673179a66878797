"""Similarity maps: a query and its 20 nearest images, with where each similarity came from."""
from __future__ import annotations

import io

import numpy as np
import streamlit as st
from PIL import Image

from vizkit.app import data, pickers
from vizkit.app.maps_view import draw_panel, pick_query, pick_relative
from vizkit.errors import DatasetMissingError
from vizkit.explain import map_metric, stored_maps
from vizkit.query import describe
from vizkit.registry import get_registry

K = 20
PREFIX = "simmap"


def _stored_maps_row(path: str, frow: dict, metric: str) -> dict | None:
    maps = data.catalog(path, "simmaps")
    if maps.empty:
        return None
    maps = maps[(maps["source_key"] == frow["result_key"]) & (maps["metric"] == metric)]
    return None if maps.empty else maps.iloc[-1].to_dict()


def _render_stored(store, path: str, frow: dict, mrow: dict) -> None:
    """The maps `vizkit maps` stored, drawn over the store's thumbnails."""
    queries = data.map_queries(path, mrow["result_key"])
    table = data.image_table(path, frow["dataset_key"])
    idx = st.selectbox("Query image (those with precomputed maps)", queries,
                       format_func=lambda i: f"{i} · {table.iloc[i]['image_id']}",
                       key=f"{PREFIX}_stored_query")
    nbr, score, maps = stored_maps(store, mrow["result_key"], idx)
    results = describe(store, frow["dataset_key"], nbr[:K], score[:K])
    thumbs = data.thumbnails(path, frow["dataset_key"], tuple(int(i) for i in [idx, *nbr[:K]]))
    views = {i: np.asarray(Image.open(io.BytesIO(b))) for i, b in thumbs.items()}
    st.image(thumbs[idx], width=112, caption=pickers.query_caption(
        table, data.dataset_info(path, frow["dataset_key"])["classes"], idx))
    draw_panel(views[idx], results, [views[int(i)] for i in nbr[:K]], maps[:K],
               map_metric(mrow["metric"]), is_relative=pick_relative(PREFIX))


def render() -> None:
    st.title("Similarity maps")
    st.caption("For each of the query's 20 nearest images: the query's map for that result "
               "(top) and the result's own map (bottom). The maps split the similarity "
               "score exactly over the pixels of both images.")
    pickers.apply_pending(PREFIX)
    store = data.store()
    path = str(store.path)
    frow = pickers.pick_features(path, PREFIX)
    metric = get_registry().metric(st.session_state[f"{PREFIX}_metric"])
    shown = map_metric(metric.name)
    if shown != metric.name:
        st.info(f"No exact additive map exists for {metric.name}: a distance is not a sum "
                f"over pixels. Results are ranked by {metric.name}; the maps show the "
                f"{shown} similarity of the same features, which they split exactly.")
    try:
        service = data.map_service(path, frow["result_key"])
    except DatasetMissingError as e:
        mrow = _stored_maps_row(path, frow, metric.name)
        if mrow is None:
            raise
        st.info(f"{e} Showing the maps precomputed by `vizkit maps` instead.")
        return _render_stored(store, path, frow, mrow)
    query = pick_query(path, frow["dataset_key"], PREFIX)
    is_relative = pick_relative(PREFIX)
    with st.spinner("Computing the maps…"):
        results = query.search(store, frow, metric, service, K)
        qf = query.features(service)
        result_features, maps = service.maps(qf, results["idx"], metric.name)
    draw_panel(qf.view, results, [r.view for r in result_features], maps, shown,
               is_relative=is_relative)
