"""Similarity maps: a query and its 20 nearest images, with where each similarity came from."""
from __future__ import annotations

import streamlit as st

from vizkit.app import data, links, pickers
from vizkit.app.channels_view import draw_why_by_channel
from vizkit.app.maps_view import (
    draw_focus,
    draw_panel,
    pick_relative,
)
from vizkit.errors import DatasetMissingError
from vizkit.read.catalog import Reader
from vizkit.read.explorer import thumbnail_array
from vizkit.read.maps import (
    map_metric,
    map_queries,
    map_service,
    query_features,
    query_vector,
    stored_maps,
    stored_maps_row,
)
from vizkit.read.query import describe, search
from vizkit.read.rows import FeaturesRow, MapsRow
from vizkit.registry import get_registry

K = 20
PREFIX = "simmap"


def _render_stored(reader: Reader, frow: FeaturesRow, mrow: MapsRow, url, view: dict) -> None:
    """The maps `vizkit maps` stored, drawn over the store's thumbnails."""
    images = reader.images(frow.dataset)
    queries = map_queries(reader, mrow)
    ids = images.table["image_id"]
    match = [i for i in queries if str(ids.iloc[i]) == url.get("query")]
    if match:  # a link's query, when it is one with stored maps
        st.session_state[f"{PREFIX}_stored_query"] = match[0]
    idx = st.selectbox("Query image (those with precomputed maps)", queries,
                       format_func=lambda i: f"{i} · {images.table['image_id'].iloc[i]}",
                       key=f"{PREFIX}_stored_query")
    view["query"] = str(ids.iloc[idx])
    nbr, score, maps = stored_maps(reader, mrow, idx)
    results = describe(reader, frow, nbr[:K], score[:K])
    thumbs = reader.thumbnails(frow.dataset, [idx, *nbr[:K]])
    views = {i: thumbnail_array(b) for i, b in thumbs.items()}
    st.image(thumbs[idx], width=112, caption="query " + images.caption(idx))
    result_views = [views[int(i)] for i in nbr[:K]]
    at = _focus(views[idx], results, result_views, maps[:K], mrow.map_metric, mrow.metric)
    if at is not None:
        _stored_by_channel(reader, frow, idx, int(nbr[at]), at, mrow.map_metric)
    _overview(results)
    draw_panel(views[idx], results, result_views, maps[:K], mrow.map_metric,
               is_relative=pick_relative(PREFIX), ranked_by=mrow.metric,
               highlight=None if at is None else int(nbr[at]))


def _stored_by_channel(reader: Reader, frow: FeaturesRow, query: int, result: int, at: int,
                       shown: str) -> None:
    """The by-channel split of the focused pair, on request: it needs the model (stored
    maps do not keep channels), which a page of stored maps otherwise never loads."""
    if not st.toggle("Why similar, by channel (computes this pair's features with the "
                     "model)", key=f"{PREFIX}_stored_channels"):
        return
    try:
        with st.spinner("Loading the model and computing this pair's features…"):
            features = map_service(reader, frow).dataset_features([query, result])
    except (DatasetMissingError, ImportError) as e:
        st.info(f"The split by channel needs the model and the images: {e}")
        return
    draw_why_by_channel(reader, frow, features[0], features[1], at + 1, shown, PREFIX)


def _focus(query_view, results, result_views, maps, shown: str, ranked_by: str) -> int | None:
    """One result at a time, large, with its numbers; the panel below is the overview.
    Returns the focused result's position (None when there is none)."""
    if results.empty:
        return None
    st.subheader("One result at a time")
    labels = [f"#{r.rank} · {r.class_name} · {r.id}" for r in results.itertuples()]
    i = pickers.step(f"{PREFIX}_focus", labels, "Result")
    numbers = {f"{ranked_by}": f"{results['score'].iloc[i]:.4f}", "rank": f"#{i + 1}"}
    if shown != ranked_by:
        numbers[f"Σ map ({shown})"] = f"{maps[i].score:.4f}"
    draw_focus([("", query_view, result_views[i], maps[i], numbers)], shown,
               ranked_by=ranked_by)
    return i


def _overview(results) -> None:
    st.subheader(f"All {len(results)} results")


def render() -> None:
    st.title("Similarity maps")
    st.caption("For each of the query's 20 nearest images: the query's map for that result "
               "(top) and the result's own map (bottom). The maps split the similarity "
               "score exactly over the pixels of both images.")
    url = links.incoming()
    pickers.apply_pending(PREFIX)
    reader = data.reader()
    frow = pickers.pick_features(reader, PREFIX, url=url,
                                 prefer={m.source_key for m in reader.catalog().maps})
    metric = get_registry().metric(st.session_state[f"{PREFIX}_metric"])
    view = pickers.features_link(frow, metric.name)
    try:
        _maps(reader, frow, metric, url, view)
    finally:  # whatever the page drew (or stopped at), the URL says it
        links.publish(view)


def _maps(reader: Reader, frow: FeaturesRow, metric, url, view: dict) -> None:
    shown = map_metric(metric.name)
    if shown != metric.name:
        st.info(f"No exact additive map exists for {metric.name}: a distance is not a sum "
                f"over pixels. Results are ranked by {metric.name}; the maps show the "
                f"{shown} similarity of the same features, which they split exactly.")
    mrow = stored_maps_row(reader, frow, metric.name)
    if mrow is not None and st.radio(
            "Queries", ["precomputed", "any image"], horizontal=True, key=f"{PREFIX}_maps_from",
            help="Precomputed: the queries `vizkit maps` stored, drawn at once. Any image: a "
                 "dataset image or an upload, computed with the model.") == "precomputed":
        return _render_stored(reader, frow, mrow, url, view)
    try:
        service = map_service(reader, frow)
    except DatasetMissingError as e:
        if mrow is None:
            raise
        st.info(f"{e} Showing the maps precomputed by `vizkit maps` instead.")
        return _render_stored(reader, frow, mrow, url, view)
    pickers.apply_query_link(reader, frow, PREFIX, url)
    query = pickers.pick_query(reader, frow, PREFIX, width=112, whole=True,
                               what="see where it looks like the dataset's images")
    view.update(pickers.query_link(reader, frow, query))
    is_relative = pick_relative(PREFIX)
    with st.spinner("Computing the maps…"):
        results = search(reader, frow, metric, query, K, vector=query_vector(query, service))
        qf = query_features(query, service)
        result_features, maps = service.maps(qf, results["idx"], metric.name)
    if results.empty:
        st.info(f"{frow.dataset.name} holds no other image to compare this query with.")
        return
    at = _focus(qf.view, results, [r.view for r in result_features], maps, shown, metric.name)
    draw_why_by_channel(reader, frow, qf, result_features[at], at + 1, shown, PREFIX)
    _overview(results)
    draw_panel(qf.view, results, [r.view for r in result_features], maps, shown,
               ranked_by=metric.name, is_relative=is_relative,
               highlight=int(results["idx"].iloc[at]))
