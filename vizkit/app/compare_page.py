"""Compare two embeddings: the research workflow's four panels for one query.

A and B are two (model or checkpoint, layer, metric) configurations over the same dataset.
1. ranked by A with A's maps; 2. the same ranking with B's maps and B's scores;
3. ranked by B with B's maps; 4. the same ranking with A's maps and A's scores.
Each result also shows its rank in the other ranking, and overlap@k says how much the two
top lists share.
"""
from __future__ import annotations

import streamlit as st

from vizkit.app import data, pickers
from vizkit.app.maps_view import draw_panel, pick_query, pick_relative
from vizkit.explain import map_metric
from vizkit.query import overlap_at, rank_and_score
from vizkit.registry import get_registry

K = 20
COLUMNS = 10


def _side(path: str, prefix: str, dataset: str | None = None, avoid: dict | None = None):
    frow = pickers.pick_features(path, prefix, dataset=dataset, avoid=avoid)
    metric = get_registry().metric(st.session_state[f"{prefix}_metric"])
    return frow, metric


def _rescore(path, query, frow, metric, service, results):
    """``results`` (another config's ranking) with this config's scores and ranks."""
    matrix = data.feature_matrix(path, frow["result_key"])
    ranks, scores = rank_and_score(metric, query.vector(path, frow, service), matrix,
                                   results["idx"].to_numpy(), exclude=query.idx)
    return results.assign(rank=ranks, score=scores)


def _panel(title, query, service, metric, shown_results, notes, is_relative):
    st.subheader(title)
    qf = query.features(service)
    result_features, maps = service.maps(qf, shown_results["idx"], metric.name)
    draw_panel(qf.view, shown_results, [r.view for r in result_features], maps,
               map_metric(metric.name), columns=COLUMNS, notes=notes,
               is_relative=is_relative)


def render() -> None:
    st.title("Compare embeddings")
    st.caption("Two configurations A and B over the same images: what each ranks nearest to "
               "a query, and what each attends to — on its own ranking and on the other's.")
    pickers.apply_pending("cmp")
    store = data.store()
    path = str(store.path)
    st.markdown("**A**")
    frow_a, metric_a = _side(path, "cmp_a")
    dataset = frow_a["dataset_key"].split("#")[0]
    st.markdown("**B**")
    frow_b, metric_b = _side(path, "cmp_b", dataset=dataset, avoid=frow_a)
    if frow_b["dataset_key"] != frow_a["dataset_key"]:
        st.error("A and B were computed on different versions of the dataset; pick features "
                 "of the same images.")
        st.stop()
    for m in {metric_a.name, metric_b.name} - {map_metric(m) for m in
                                               (metric_a.name, metric_b.name)}:
        st.info(f"No exact additive map exists for {m}; its maps show the cosine similarity "
                "of the same features.")
    service_a = data.map_service(path, frow_a["result_key"])
    service_b = data.map_service(path, frow_b["result_key"])
    query = pick_query(path, frow_a["dataset_key"], "cmp")
    with st.spinner("Ranking and computing maps…"):
        ranked_a = query.search(store, frow_a, metric_a, service_a, K)
        ranked_b = query.search(store, frow_b, metric_b, service_b, K)
        a_by_b = _rescore(path, query, frow_a, metric_a, service_a, ranked_b)
        b_by_a = _rescore(path, query, frow_b, metric_b, service_b, ranked_a)
    cols = st.columns(4)
    for col, k in zip(cols, (1, 5, 10, 20)):
        col.metric(f"Overlap@{k}", f"{overlap_at(ranked_a['idx'], ranked_b['idx'], k):.0%}",
                   help=f"Share of A's top {k} that is also in B's top {k}.")
    is_relative = pick_relative("cmp")
    in_b = [f"B rank {r}" for r in b_by_a["rank"]]
    in_a = [f"A rank {r}" for r in a_by_b["rank"]]
    _panel("1 · Ranked by A, with A's maps and scores", query, service_a, metric_a,
           ranked_a, in_b, is_relative)
    _panel("2 · Ranked by A, with B's maps and B's scores", query, service_b, metric_b,
           b_by_a.assign(rank=ranked_a["rank"]), in_b, is_relative)
    _panel("3 · Ranked by B, with B's maps and scores", query, service_b, metric_b,
           ranked_b, in_a, is_relative)
    _panel("4 · Ranked by B, with A's maps and A's scores", query, service_a, metric_a,
           a_by_b.assign(rank=ranked_b["rank"]), in_a, is_relative)
