"""Training evolution: a run's checkpoints laid out on one stable, aligned map — an
animation, or one epoch's map as points, points that show their image on hover, or the
images themselves — with the clusters per checkpoint, how images move between them, and
how well clusters match classes epoch by epoch."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from vizkit import palette
from vizkit.app import data, links, pickers, plots
from vizkit.app.atlas_view import atlas_view
from vizkit.app.grid import image_grid
from vizkit.app.scatter_view import DRAW, draw_scatter, drawn_sample, pick_drawing
from vizkit.read.atlas import atlas_for
from vizkit.read.layouts import (
    cluster_moves,
    coords,
    displacement,
    epoch_quality,
    matched_clusters,
    methods,
    series,
    series_layouts,
)

ANIMATED_POINTS = 6_000


def render() -> None:
    st.title("Training evolution")
    url = links.incoming()
    reader = data.reader()
    found = sorted(series(reader), key=lambda r: r.label)
    c1, c2 = st.columns([3, 1])
    wanted = [r for r in found if (r.run, r.layer, r.dataset.name) ==
              (url.get("run"), url.get("layer"), url.get("dataset"))]
    if wanted:
        st.session_state["evo_series"] = wanted[0]
    ref = c1.selectbox("Run / layer / dataset", found, format_func=lambda r: r.label,
                       key="evo_series")
    links.choose(url, "method", "evo_method", methods(reader, ref))
    method = c2.selectbox("Method", methods(reader, ref), key="evo_method")
    by_epoch = series_layouts(reader, ref, method)
    epochs = sorted(by_epoch)
    images = reader.images(ref.dataset)
    frames = {e: coords(reader, by_epoch[e]) for e in epochs}
    atlases = {e: atlas_for(reader, by_epoch[e]) for e in epochs}
    framed = all(atlases.values())  # `vizkit atlas --run`: every epoch a frame
    links.choose(url, "draw", "evo_draw", ["animation", *(["atlas"] if framed else []), *DRAW])
    draw = pick_drawing(st, "evo", {"animation": "animation"}, atlas=framed)
    epoch = pickers.pick_epoch(st, url, "evo_epoch", epochs)
    links.publish({"run": ref.run, "layer": ref.layer, "dataset": ref.dataset.name,
                   "method": method, "draw": draw, "epoch": epoch})
    if draw == "atlas":
        st.caption(f"Epoch {epoch} (the slider above): every image of the run's frames in "
                   "one frame, the view kept as the epoch changes.")
        atlas_view(atlases[epoch], by_epoch[epoch].features, "class", key="evo_atlas")
    elif draw == "animation":
        _animation(frames, epochs, epoch, images.table, images.class_names, images.classes)
    else:
        _one_epoch(reader, by_epoch[epoch].features, frames[epoch], images, draw)
    clusters = matched_clusters(reader, by_epoch)
    c1, c2 = st.columns(2)
    quality = epoch_quality(reader, ref, method)
    if not quality.empty:
        c1.markdown("**Clusters vs classes per epoch** (k-means on the layer's features)")
        c1.line_chart(quality, height=240)
    moves = displacement(reader, ref, method)
    if not moves.empty:
        c2.markdown("**Mean displacement of a point between frames** (layout units)")
        c2.bar_chart(moves, height=240, stack=False)
    if epoch in clusters:
        _flow(by_epoch[epoch].features, epochs, epoch, clusters, images)


def _one_epoch(reader, frow, xy, images, draw: str) -> None:
    """One checkpoint's map drawn the ``draw`` way; a selection shows its images."""
    df = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "idx": np.arange(len(xy)),
                       "image_id": images.table["image_id"].to_numpy(),
                       "class": images.class_names})
    selected = draw_scatter(reader, frow, df.iloc[drawn_sample(len(df), draw)], "class", draw,
                            key="evo_chart")
    if selected:
        st.caption(f"{len(selected):,} selected")
        image_grid(frow, selected[:24], [images.caption(int(i)) for i in selected[:24]],
                   key="evo_sel")


def _animation(frames, epochs, epoch, table, class_names, classes: list[str]) -> None:
    colours = palette.class_colours(classes)
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
                     color_discrete_map=colours, category_orders={"class": list(colours)})
    fig.update_traces(marker={"size": 4, "opacity": 0.75})
    fig.update_layout(xaxis_visible=False, yaxis_visible=False,
                      margin={"l": 0, "r": 0, "t": 30, "b": 0})
    plots.start_at_frame(fig, epochs.index(epoch))
    st.caption(f"Epoch {epoch} (the slider above); ▶ plays every epoch"
               + (f" — a fixed sample of {len(shown):,} of {n:,} images." if len(shown) < n
                  else "."))
    st.plotly_chart(fig, key="evo_animation")


def _flow(frow, epochs, epoch, clusters, images) -> None:
    before = max((e for e in epochs if e < epoch and e in clusters), default=None)
    if before is None:
        return
    st.subheader(f"How images move between clusters, epoch {before} → {epoch}")
    flow = cluster_moves(clusters[before], clusters[epoch])
    st.plotly_chart(plots.cluster_flow(flow, f"e{before}", f"e{epoch}"), key="evo_flow")
    src, dst = np.nonzero(flow)
    pairs = sorted(zip(src, dst), key=lambda p: -flow[p])
    pick = st.selectbox("Images that moved", pairs, key="evo_pair",
                        format_func=lambda p: f"c{p[0]} → c{p[1]}: {flow[p]:,} images")
    moved = np.flatnonzero((clusters[before] == pick[0]) & (clusters[epoch] == pick[1]))
    names = images.class_names
    st.caption(f"{len(moved):,} images; classes: " + ", ".join(
        f"{c} {n}" for c, n in pd.Series(names[moved]).value_counts().head(5).items()))
    image_grid(frow, moved[:24], [images.caption(int(i)) for i in moved[:24]],
               key="evo_moved")
