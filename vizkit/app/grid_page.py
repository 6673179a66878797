"""Models x layers: which model and layer retrieve best, at a glance -- a heatmap of Recall@1
or mean nDCG@50 per model (rows) and layer (columns, in depth order) under a chosen metric;
click a cell (or pick it below) to open semantic search in that configuration."""
from __future__ import annotations

import streamlit as st

from vizkit.app import data, links, plots
from vizkit.app.grid import open_in_search
from vizkit.read.grid import (
    MAX_QUERIES,
    SCORES,
    configurations,
    labelled_datasets,
    quality_table,
    richest_first,
)
from vizkit.registry import get_registry

CHART = "grid_heatmap"


def _open(reader, dataset: str, result_key: str, metric: str) -> None:
    frow = next(r for r in configurations(reader, dataset) if r.result_key == result_key)
    st.session_state["search_metric"] = metric
    open_in_search(frow, int(st.session_state.get("search_query_idx", 0)))


def render() -> None:
    st.title("Models × layers")
    reader = data.reader()
    datasets = richest_first(reader, labelled_datasets(reader))
    if not datasets:
        st.info("No labelled dataset has features yet. Run `vizkit precompute --dataset "
                "fashion-mnist --models vizkit_small_cnn,resnet18 --layers auto`.")
        return
    url = links.incoming()
    c1, c2, c3 = st.columns(3)
    links.choose(url, "dataset", "grid_dataset", datasets)
    dataset = c1.selectbox("Dataset", datasets, key="grid_dataset")
    metrics = [m.name for m in get_registry().metrics()]
    links.choose(url, "metric", "grid_metric", metrics)
    metric = c2.selectbox("Metric", metrics, key="grid_metric")
    links.choose(url, "score", "grid_score", SCORES)
    score = c3.radio("Score", list(SCORES), format_func=SCORES.get, horizontal=True,
                     key="grid_score")
    links.publish({"dataset": dataset, "metric": metric, "score": score})
    bar = st.empty()

    def scoring(done: int, total: int) -> None:
        bar.progress(done / total, text=f"Scoring configuration {done + 1} of {total} "
                     "(once per metric; the grid job's stored lists make it a look-up)…")
    table = quality_table(reader, dataset, get_registry().metric(metric), on_cell=scoring)
    bar.empty()
    st.caption(f"Each cell: the first {int(table['queries'].max()):,} labelled images (at most "
               f"{MAX_QUERIES:,}) each searched by {metric} among all {dataset}'s images (read "
               f"from stored top-50 lists where `vizkit precompute --models ... --metrics "
               f"{metric}` made them); {SCORES[score]} of their top 50 against their class. "
               "Columns are each model's stored layers from shallow to deep.")
    fig = plots.quality_heatmap(table, score, SCORES[score])
    st.plotly_chart(fig, key=CHART, on_select="rerun", selection_mode=("points",))
    points = (st.session_state.get(CHART) or {}).get("selection", {}).get("points", [])
    clicked = points[0].get("customdata") if points else None
    clicked = clicked[0] if isinstance(clicked, list) else clicked
    if clicked and clicked != st.session_state.get("grid_clicked"):  # a new click only
        st.session_state["grid_clicked"] = clicked
        _open(reader, dataset, clicked, metric)
    best = table.loc[table[score].idxmax()]
    st.success(f"Best: {best['model']} at {best['layer']} ({SCORES[score]} "
               f"{best[score]:.3f}).")
    ranked = table.sort_values(score, ascending=False, kind="stable")  # the best first
    labels = {r.result_key: f"{r.model} · {r.layer} · {getattr(r, score):.3f}"
              for r in ranked.itertuples()}
    c1, c2 = st.columns([3, 1])
    pick = c1.selectbox("Open a configuration in semantic search", list(labels),
                        format_func=labels.get, key="grid_pick")
    if c2.button("Open in search", key="grid_open"):
        _open(reader, dataset, pick, metric)
    st.dataframe(table.drop(columns=["result_key"]), hide_index=True, key="grid_table")
