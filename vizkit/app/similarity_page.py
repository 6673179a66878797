"""Similarity maps: a query and its 20 nearest images, with where each similarity came from."""
from __future__ import annotations

import streamlit as st

from vizkit.app import data, pickers
from vizkit.app.maps_view import draw_panel, pick_query
from vizkit.explain import map_metric
from vizkit.registry import get_registry

K = 20
PREFIX = "simmap"


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
    service = data.map_service(path, frow["result_key"])
    query = pick_query(path, frow["dataset_key"], PREFIX)
    with st.spinner("Computing the maps…"):
        results = query.search(store, frow, metric, service, K)
        result_features, maps = service.maps(query.features(service), results["idx"],
                                             metric.name)
    draw_panel(query.features(service), results, result_features, maps, shown)
