"""Compare two embeddings: the research workflow's four panels for one query.

A and B are two (model or checkpoint, layer, metric) configurations over the same dataset.
1. ranked by A with A's maps; 2. the same ranking with B's maps and B's scores;
3. ranked by B with B's maps; 4. the same ranking with A's maps and A's scores.
Each result also shows its rank in the other ranking, and overlap@k says how much the two
top lists share. "Where A and B disagree" ranks a sample of the dataset's images by how
little A's and B's top-10 overlap; any of them opens in the four panels.
"""
from __future__ import annotations

import streamlit as st

from vizkit.app import data, links, pickers
from vizkit.app.maps_view import (
    draw_focus,
    draw_panel,
    pick_relative,
)
from vizkit.app.plots import data_uri
from vizkit.read.disagreement import MAX_QUERIES, disagreement_table
from vizkit.read.maps import map_metric, map_service, query_features, query_vector
from vizkit.read.query import overlap_at, rank_and_score, search
from vizkit.registry import get_registry

K = 20
COLUMNS = 10
DISAGREEING = 20  # rows of the disagreement table


def _side(reader, prefix: str, url, link: str, dataset: str | None = None, avoid=None):
    frow = pickers.pick_features(reader, prefix, dataset=dataset, avoid=avoid, url=url,
                                 link=link)
    metric = get_registry().metric(st.session_state[f"{prefix}_metric"])
    return frow, metric


def _vector(reader, query, frow, service):
    """The query's vector under ``frow``: its stored row, or an upload's pooled features."""
    if query.idx is not None:
        return reader.matrix(frow.result_key)[query.idx]
    return query_vector(query, service)


def _rescore(reader, query, frow, metric, service, results):
    """``results`` (another config's ranking) with this config's scores and ranks."""
    ranks, scores = rank_and_score(metric, _vector(reader, query, frow, service),
                                   reader.matrix(frow.result_key), results["idx"].to_numpy(),
                                   exclude=query.idx)
    return results.assign(rank=ranks, score=scores)


def _panel(title, query, service, metric, shown_results, notes, is_relative, focused):
    st.subheader(title)
    qf = query_features(query, service)
    result_features, maps = service.maps(qf, shown_results["idx"], metric.name)
    draw_panel(qf.view, shown_results, [r.view for r in result_features], maps,
               map_metric(metric.name), columns=COLUMNS, notes=notes,
               is_relative=is_relative, ranked_by=metric.name, highlight=focused)


def render() -> None:
    st.title("Compare embeddings")
    st.caption("Two configurations A and B over the same images: what each ranks nearest to "
               "a query, and what each attends to — on its own ranking and on the other's.")
    url = links.incoming()
    pickers.apply_pending("cmp")
    reader = data.reader()
    st.markdown("**A**")
    frow_a, metric_a = _side(reader, "cmp_a", url, "")
    st.markdown("**B**")
    frow_b, metric_b = _side(reader, "cmp_b", url, "b_", dataset=frow_a.dataset.name,
                             avoid=frow_a)
    view = {**pickers.features_link(frow_a, metric_a.name),
            **pickers.features_link(frow_b, metric_b.name, "b_", dataset=False)}
    try:
        _compare(reader, frow_a, metric_a, frow_b, metric_b, url, view)
    finally:  # whatever the page drew (or stopped at), the URL says it
        links.publish(view)


def _compare(reader, frow_a, metric_a, frow_b, metric_b, url, view: dict) -> None:
    if frow_b.dataset.key != frow_a.dataset.key:
        st.error("A and B were computed on different versions of the dataset; pick features "
                 "of the same images.")
        st.stop()
    for m in {metric_a.name, metric_b.name} - {map_metric(m) for m in
                                               (metric_a.name, metric_b.name)}:
        st.info(f"No exact additive map exists for {m}; its maps show the cosine similarity "
                "of the same features.")
    _disagreements(reader, (frow_a, metric_a), (frow_b, metric_b))
    with st.spinner("Loading A's and B's models…"):  # once per reader, then kept
        service_a = map_service(reader, frow_a)
        service_b = map_service(reader, frow_b)
    pickers.apply_query_link(reader, frow_a, "cmp", url)
    query = pickers.pick_query(reader, frow_a, "cmp", width=112, whole=True,
                               what="see where it looks like the dataset's images")
    view.update(pickers.query_link(reader, frow_a, query))
    with st.spinner("Ranking and computing maps…"):
        ranked_a = search(reader, frow_a, metric_a, query, K,
                          vector=query_vector(query, service_a))
        ranked_b = search(reader, frow_b, metric_b, query, K,
                          vector=query_vector(query, service_b))
        a_by_b = _rescore(reader, query, frow_a, metric_a, service_a, ranked_b)
        b_by_a = _rescore(reader, query, frow_b, metric_b, service_b, ranked_a)
    cols = st.columns(4)
    for col, k in zip(cols, (1, 5, 10, 20)):
        col.metric(f"Overlap@{k}", f"{overlap_at(ranked_a['idx'], ranked_b['idx'], k):.0%}",
                   help=f"Share of A's top {k} that is also in B's top {k}.")
    focused = _focus(query, (service_a, metric_a, ranked_a, a_by_b),
                     (service_b, metric_b, ranked_b, b_by_a))
    in_b = [f"B rank {r}" for r in b_by_a["rank"]]
    in_a = [f"A rank {r}" for r in a_by_b["rank"]]
    with st.expander(f"All {K} results in the four panels: each ranking with each "
                     "embedding's maps"):
        is_relative = pick_relative("cmp")
        _panel("1 · Ranked by A, with A's maps and scores", query, service_a, metric_a,
               ranked_a, in_b, is_relative, focused)
        _panel("2 · Ranked by A, with B's maps and B's scores", query, service_b, metric_b,
               b_by_a.assign(rank=ranked_a["rank"]), in_b, is_relative, focused)
        _panel("3 · Ranked by B, with B's maps and scores", query, service_b, metric_b,
               ranked_b, in_a, is_relative, focused)
        _panel("4 · Ranked by B, with A's maps and A's scores", query, service_a, metric_a,
               a_by_b.assign(rank=ranked_b["rank"]), in_a, is_relative, focused)


def _focus(query, a, b) -> int | None:
    """One result at a time, large: under A and under B, the pair's maps and its scores and
    ranks in both embeddings; previous / next through either ranking. Returns the focused
    image's dataset index, which the four panels frame wherever it appears."""
    (service_a, metric_a, ranked_a, a_of_b), (service_b, metric_b, ranked_b, b_of_a) = a, b
    st.subheader("One result at a time")
    side = st.radio("Results ranked by", ["A", "B"], horizontal=True, key="cmp_focus_side")
    ranked = ranked_a if side == "A" else ranked_b
    if ranked.empty:
        return None
    labels = [f"#{r.rank} · {r.class_name} · {r.id}" for r in ranked.itertuples()]
    i = pickers.step("cmp_focus", labels, f"Result, ranked by {side}")
    idx = int(ranked["idx"].iloc[i])
    if side == "A":
        rank_a, score_a = ranked_a["rank"].iloc[i], ranked_a["score"].iloc[i]
        rank_b, score_b = b_of_a["rank"].iloc[i], b_of_a["score"].iloc[i]
    else:
        rank_b, score_b = ranked_b["rank"].iloc[i], ranked_b["score"].iloc[i]
        rank_a, score_a = a_of_b["rank"].iloc[i], a_of_b["score"].iloc[i]
    sides = []
    for name, service, metric, rank, score in (("A", service_a, metric_a, rank_a, score_a),
                                               ("B", service_b, metric_b, rank_b, score_b)):
        qf = query_features(query, service)
        (result,), (pm,) = service.maps(qf, [idx], metric.name)
        sides.append((f"{name}: {metric.name}", qf.view, result.view, pm,
                      {f"{name} score": f"{score:.4f}", f"rank under {name}": f"#{rank}"}))
    draw_focus(sides, map_metric(metric_a.name), ranked_by=metric_a.name)
    return idx


def _open(idx: int) -> None:
    """A click on a disagreeing query: it becomes the query of the four panels."""
    st.session_state["cmp_query_idx_next"] = idx
    st.session_state["cmp_source_next"] = pickers.FROM_DATASET


def _disagreements(reader, a, b, k: int = 10) -> None:
    if not st.toggle(f"Where A and B disagree most (overlap@{k} over the first "
                     f"{MAX_QUERIES:,} images)", key="cmp_disagree"):
        return  # searched only when asked: the page's first draw stays fast
    with st.container(border=True):
        table = disagreement_table(reader, a, b, k)
        mean = float(table["overlap"].mean())
        st.caption(f"Mean overlap@{k}: {mean:.0%}. The queries whose top {k} under A and "
                   "under B share the least; open one to see why in the four panels.")
        shown = table.head(DISAGREEING).reset_index(drop=True)
        thumbs = reader.thumbnails(a[0].dataset, shown["idx"].tolist())
        view = shown.assign(image=[data_uri(thumbs[int(i)]) if int(i) in thumbs else None
                                   for i in shown["idx"]],
                            overlap=shown["overlap"].map("{:.0%}".format))
        names = {int(r.idx): f"{r.id} · {r.class_name} · overlap {r.overlap:.0%}"
                 for r in shown.itertuples()}
        st.selectbox("Open one in the four panels", [None, *names], key="cmp_disagree_open",
                     format_func=lambda i: "—" if i is None else names[i],
                     on_change=_open_picked)
        st.dataframe(view[["image", "id", "class_name", "overlap"]], hide_index=True,
                     key="cmp_disagree_table", row_height=48,
                     column_config={"image": st.column_config.ImageColumn("image"),
                                    "class_name": "class",
                                    "overlap": st.column_config.TextColumn(
                                        f"overlap@{k}", help="Share of the top "
                                        f"{k} under A also in the top {k} under B")})


def _open_picked() -> None:
    """A query picked among those where A and B disagree: it becomes the query."""
    idx = st.session_state.get("cmp_disagree_open")
    if idx is not None:
        _open(int(idx))
        st.session_state["cmp_disagree_open"] = None
