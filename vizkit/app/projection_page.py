"""Projections: a dataset laid out in 2-D under a model's layer, coloured by class, cluster,
split or prediction, as points or as the images themselves; select points to see their
images; the k-means clusters of the layer's
features with their purity and NMI and the images nearest each centre."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from vizkit.app import data, links, pickers
from vizkit.app.atlas_view import atlas_view
from vizkit.app.grid import image_grid
from vizkit.app.scatter_view import DRAW, draw_scatter, drawn_sample, pick_drawing
from vizkit.read.atlas import atlas_for
from vizkit.read.catalog import Reader
from vizkit.read.layouts import (
    centre_images,
    cluster_quality,
    cluster_summary,
    colour_options,
    layouts,
    point_table,
)
from vizkit.read.rows import LayoutRow


def pick_layout(reader: Reader, prefix: str, url: dict[str, str]) -> LayoutRow:
    """Dataset / model / layer / method pickers over the stored layouts (set from a link's
    ``dataset``, ``model``/``checkpoint``/``weights``, ``layer`` and ``method``)."""
    rows = layouts(reader)
    c1, c2, c3, c4 = st.columns(4)
    names = sorted({r.features.dataset.name for r in rows})
    links.choose(url, "dataset", f"{prefix}_dataset", names)
    dataset = c1.selectbox("Dataset", names, key=f"{prefix}_dataset")
    rows = [r for r in rows if r.features.dataset.name == dataset]
    pickers.choose_model(url, f"{prefix}_model", [r.features for r in rows])
    model = c2.selectbox("Model", list(dict.fromkeys(r.features.label for r in rows[::-1])),
                         key=f"{prefix}_model")
    rows = [r for r in rows if r.features.label == model]
    layers = list(dict.fromkeys(r.features.layer for r in rows))
    links.choose(url, "layer", f"{prefix}_layer", layers)
    layer = c3.selectbox("Layer", layers, key=f"{prefix}_layer")
    rows = [r for r in rows if r.features.layer == layer]
    methods = list(dict.fromkeys(r.method for r in rows))
    links.choose(url, "method", f"{prefix}_method", methods)
    method = c4.selectbox("Method", methods, key=f"{prefix}_method")
    return [r for r in rows if r.method == method][-1]


def render() -> None:
    st.title("Projections")
    url = links.incoming()
    reader = data.reader()
    layout = pick_layout(reader, "proj", url)
    frow = layout.features
    options = colour_options(reader, layout)
    c1, c2 = st.columns(2)
    links.choose(url, "color", "proj_color", options)
    color = c1.radio("Colour by", options, horizontal=True, key="proj_color")
    atlas = atlas_for(reader, layout)
    links.choose(url, "draw", "proj_draw", ["atlas", *DRAW] if atlas else DRAW)
    draw = pick_drawing(c2, "proj", atlas=atlas is not None)
    links.publish({**pickers.features_link(frow, None), "method": layout.method,
                   "color": color, "draw": draw})
    if draw == "atlas":  # the browser draws every point: the per-point table comes after
        atlas_view(atlas, frow, color, key="proj_atlas")
        if "cluster" in options:
            _clusters(reader, layout, point_table(reader, layout))
        return
    if atlas is None:
        st.caption("`vizkit atlas` with this dataset, model and layer puts every image on "
                   "one zoomable map here.")
    df = point_table(reader, layout)
    drawn = df.iloc[drawn_sample(len(df), draw, "clusters use all of them")]
    selected = draw_scatter(reader, frow, drawn, color, draw, key="proj_chart")
    if selected:
        picked = df.set_index("idx").loc[selected]
        st.subheader(f"{len(selected):,} selected")
        st.bar_chart(picked["class"].value_counts(), height=160, horizontal=True)
        image_grid(frow, selected[:40], [f"{r.image_id} · {r._2}" for r in
                   picked.head(40)[["image_id", "class"]].itertuples()], key="proj_sel")
    else:
        st.caption("Select points (lasso or box; with hover images, drag a box or click a "
                   "point) to see their images.")
    if "cluster" in df:
        _clusters(reader, layout, df)


def _clusters(reader: Reader, layout: LayoutRow, df: pd.DataFrame) -> None:
    st.subheader("Clusters of the layer's features")
    quality = cluster_quality(reader, layout)
    c1, c2, c3 = st.columns(3)
    c1.metric("Clusters (k-means)", quality["clusters"])
    if "nmi" in quality:
        c2.metric("Purity", f"{quality['purity']:.3f}",
                  help="Share of images whose cluster's majority class is their own.")
        c3.metric("NMI", f"{quality['nmi']:.3f}",
                  help="Normalised mutual information between classes and clusters.")
    summary = cluster_summary(reader, layout)
    cluster = st.selectbox("Cluster", summary.index.tolist(), key="proj_cluster",
                           format_func=lambda c: f"c{c}: {summary.loc[c, 'images']:,} images, "
                           f"{summary.loc[c, 'top_share']:.0%} {summary.loc[c, 'top_class']}")
    near = centre_images(df["cluster"].to_numpy(), df["dist"].to_numpy(), cluster, 16)
    st.caption("The images nearest the cluster's centre:")
    rows = df.iloc[near]
    image_grid(layout.features, rows["idx"], [f"{r.image_id} · {r._2}" for r in
               rows[["image_id", "class"]].itertuples()], key="proj_centre")
