"""Training evolution: a run's checkpoints laid out on one stable, aligned map — a slider
and an animation — with the clusters per checkpoint, how images move between them, and
how well clusters match classes epoch by epoch."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from vizkit.app import data, plots
from vizkit.app.data import checkpoint_epoch
from vizkit.app.grid import image_grid
from vizkit.clustering import flows, nmi, purity
from vizkit.errors import ResultMissingError
from vizkit.projection import mean_displacement

ANIMATED_POINTS = 6_000


def _series(path: str) -> pd.DataFrame:
    rows = data.catalog(path, "projections")
    if not rows.empty:
        params = [json.loads(p) for p in rows["params"]]
        rows = rows.assign(series=[p.get("series", "single") for p in params],
                           method=[p["method"] for p in params],
                           aligned=[p.get("aligned", True) for p in params],
                           epoch=[checkpoint_epoch(c) for c in rows["checkpoint"]])
        rows = rows[rows["series"] != "single"]
    if rows.empty:
        raise ResultMissingError("No training run has layouts yet. Run `vizkit demo`, or "
                                 "`vizkit evolve --run RUN --dataset fashion-mnist[test] "
                                 "--layer embedding`.")
    return rows


def _frames(path: str, rows: pd.DataFrame) -> dict[int, np.ndarray]:
    """Each epoch's aligned layout ``[n, 2]``."""
    frames = {}
    for r in rows.sort_values("epoch").itertuples():
        xy = data.per_image(path, "projections", r.result_key)
        frames[r.epoch] = xy[["x", "y"]].to_numpy(np.float32)
    return frames


def render() -> None:
    st.title("Training evolution")
    store = data.store()
    path = str(store.path)
    rows = _series(path)
    c1, c2 = st.columns([3, 1])
    series = c1.selectbox("Run / layer / dataset", sorted(rows["series"].unique()),
                          format_func=lambda s: s.split("#")[0], key="evo_series")
    rows = rows[rows["series"] == series]
    method = c2.selectbox("Method", sorted(rows["method"].unique()), key="evo_method")
    rows = rows[rows["method"] == method]
    aligned_rows = rows[rows["aligned"]]
    dataset_key = aligned_rows.iloc[0]["dataset_key"]
    table = data.image_table(path, dataset_key)
    classes = data.dataset_info(path, dataset_key)["classes"]
    class_names = np.array([classes[v] if v >= 0 else "(unlabelled)" for v in table["label"]])
    frames = _frames(path, aligned_rows)
    epochs = sorted(frames)
    _animation(frames, epochs, table, class_names)
    epoch = st.select_slider("Epoch", epochs, value=epochs[-1], key="evo_epoch")
    frow = data.Store(path).result(aligned_rows[aligned_rows["epoch"] == epoch]
                                   .iloc[-1]["source_key"])
    clusters = {}
    for r in aligned_rows.itertuples():
        crow = data.related(path, "clusters", source_key=r.source_key)
        if crow:
            clusters[r.epoch] = data.per_image(path, "clusters", crow["result_key"])[
                "cluster"].to_numpy()
    _curves(path, rows, frames, epochs, table, clusters)
    if epoch in clusters:
        _flow(path, frow, epochs, epoch, clusters, table, class_names)


def _animation(frames, epochs, table, class_names) -> None:
    n = len(table)
    shown = plots.sample(n, ANIMATED_POINTS)
    df = pd.concat([pd.DataFrame({"epoch": e, "x": frames[e][shown, 0], "y": frames[e][shown, 1],
                                  "class": class_names[shown], "idx": shown,
                                  "image_id": table["image_id"].to_numpy()[shown]})
                    for e in epochs])
    lim = float(np.abs(df[["x", "y"]].to_numpy()).max()) * 1.05
    fig = px.scatter(df, x="x", y="y", color="class", animation_frame="epoch",
                     animation_group="idx", hover_data={"image_id": True, "x": False,
                                                        "y": False},
                     range_x=[-lim, lim], range_y=[-lim, lim], height=640,
                     color_discrete_sequence=plots.PALETTE,
                     category_orders={"class": sorted(set(class_names))})
    fig.update_traces(marker={"size": 4, "opacity": 0.75})
    fig.update_layout(xaxis_visible=False, yaxis_visible=False,
                      margin={"l": 0, "r": 0, "t": 30, "b": 0})
    if len(shown) < n:
        st.caption(f"Animating a fixed sample of {len(shown):,} of {n:,} images; press ▶ "
                   "or drag the figure's slider.")
    st.plotly_chart(fig, key="evo_animation")


def _curves(path, rows, frames, epochs, table, clusters) -> None:
    labels = table["label"].to_numpy()
    c1, c2 = st.columns(2)
    if clusters:
        quality = pd.DataFrame({"epoch": list(clusters),
                                "NMI": [nmi(labels, clusters[e]) for e in clusters],
                                "purity": [purity(labels, clusters[e]) for e in clusters]}
                               ).set_index("epoch").sort_index()
        c1.markdown("**Clusters vs classes per epoch** (k-means on the layer's features)")
        c1.line_chart(quality, height=240)
    independent = rows[~rows["aligned"]]
    steps = {"aligned": [mean_displacement(frames[a], frames[b])
                         for a, b in zip(epochs, epochs[1:])]}
    if len(independent) == len(epochs):
        alone = {r.epoch: data.per_image(path, "projections", r.result_key)[["x", "y"]]
                 .to_numpy(np.float32) for r in independent.itertuples()}
        steps["independent layouts"] = [mean_displacement(alone[a], alone[b])
                                        for a, b in zip(epochs, epochs[1:])]
    if epochs[1:]:
        moves = pd.DataFrame(steps, index=[f"{a}→{b}" for a, b in zip(epochs, epochs[1:])])
        c2.markdown("**Mean displacement of a point between frames** (layout units)")
        c2.bar_chart(moves, height=240, stack=False)


def _flow(path, frow, epochs, epoch, clusters, table, class_names) -> None:
    before = max((e for e in epochs if e < epoch and e in clusters), default=None)
    if before is None:
        return
    st.subheader(f"How images move between clusters, epoch {before} → {epoch}")
    flow = flows(clusters[before], clusters[epoch])
    st.plotly_chart(plots.cluster_flow(flow, f"e{before}", f"e{epoch}"), key="evo_flow")
    src, dst = np.nonzero(flow)
    pairs = sorted(zip(src, dst), key=lambda p: -flow[p])
    pick = st.selectbox("Images that moved", pairs, key="evo_pair",
                        format_func=lambda p: f"c{p[0]} → c{p[1]}: {flow[p]:,} images")
    moved = np.flatnonzero((clusters[before] == pick[0]) & (clusters[epoch] == pick[1]))
    st.caption(f"{len(moved):,} images; classes: " + ", ".join(
        f"{c} {n}" for c, n in pd.Series(class_names[moved]).value_counts().head(5).items()))
    image_grid(path, frow, moved[:24], [f"{table['image_id'].iloc[i]} · {class_names[i]}"
                                        for i in moved[:24]], key="evo_moved")
