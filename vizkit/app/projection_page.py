"""Projections: a dataset laid out in 2-D under a model's layer, coloured by class, cluster,
split or prediction; select points to see their images; the k-means clusters of the layer's
features with their purity and NMI and the images nearest each centre."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from vizkit.app import data, plots
from vizkit.app.grid import image_grid
from vizkit.clustering import nearest_to_centre, nmi, purity
from vizkit.errors import ResultMissingError

HINT = ("Run `vizkit demo`, or `vizkit project --dataset fashion-mnist[test] --checkpoint demo "
        "--layer embedding --method umap`.")


def _layouts(path: str) -> pd.DataFrame:
    rows = data.catalog(path, "projections")
    if rows.empty:
        raise ResultMissingError("The store has no 2-D layouts yet. " + HINT)
    params = [json.loads(p) for p in rows["params"]]
    rows = rows.assign(method=[p["method"] for p in params],
                       aligned=[p.get("aligned", True) for p in params],
                       dataset=rows["dataset_key"].str.split("#").str[0],
                       label=[data.model_label(r) for r in rows.to_dict("records")])
    return rows[rows["aligned"]]


def pick_layout(path: str, prefix: str) -> dict:
    """Dataset / model / layer / method pickers over the stored layouts."""
    rows = _layouts(path)
    c1, c2, c3, c4 = st.columns(4)
    dataset = c1.selectbox("Dataset", sorted(rows["dataset"].unique()), key=f"{prefix}_dataset")
    rows = rows[rows["dataset"] == dataset]
    model = c2.selectbox("Model", list(dict.fromkeys(rows["label"][::-1])), key=f"{prefix}_model")
    rows = rows[rows["label"] == model]
    layer = c3.selectbox("Layer", list(dict.fromkeys(rows["layer"])), key=f"{prefix}_layer")
    rows = rows[rows["layer"] == layer]
    method = c4.selectbox("Method", list(dict.fromkeys(rows["method"])), key=f"{prefix}_method")
    return rows[rows["method"] == method].iloc[-1].to_dict()


def point_table(path: str, layout: dict) -> tuple[pd.DataFrame, dict]:
    """Per image: x, y, id, class, split and (when stored) cluster and prediction."""
    frow = data.Store(path).result(layout["source_key"])
    table = data.image_table(path, layout["dataset_key"])
    classes = data.dataset_info(path, layout["dataset_key"])["classes"]
    xy = data.per_image(path, "projections", layout["result_key"])
    df = pd.DataFrame({"idx": xy["idx"], "x": xy["x"], "y": xy["y"],
                       "image_id": table["image_id"].to_numpy(),
                       "class": [classes[v] if v >= 0 else "(unlabelled)"
                                 for v in table["label"]],
                       "label": table["label"].to_numpy(), "split": table["split"].to_numpy()})
    crow = data.related(path, "clusters", source_key=layout["source_key"])
    if crow:
        cl = data.per_image(path, "clusters", crow["result_key"])
        df["cluster"], df["dist"] = cl["cluster"].to_numpy(), cl["dist"].to_numpy()
    prow = data.related(path, "predictions", dataset_key=layout["dataset_key"],
                        weights_fp=layout["weights_fp"])
    if prow:
        pr = data.per_image(path, "predictions", prow["result_key"])
        df["predicted"] = [classes[v] for v in pr["pred"]]
        df["correct"] = np.where(pr["pred"].to_numpy() == df["label"].to_numpy(), "yes", "no")
    return df, frow


def _selection(event) -> list[int]:
    points = getattr(getattr(event, "selection", None), "points", None) or []
    return [int(p["customdata"][0]) for p in points if p.get("customdata")]


def render() -> None:
    st.title("Projections")
    store = data.store()
    path = str(store.path)
    layout = pick_layout(path, "proj")
    df, frow = point_table(path, layout)
    options = [c for c in ("class", "cluster", "predicted", "correct", "split") if c in df]
    color = st.radio("Colour by", options, horizontal=True, key="proj_color")
    shown = plots.sample(len(df))
    if len(shown) < len(df):
        st.caption(f"Drawing a fixed random sample of {len(shown):,} of {len(df):,} points "
                   "(selections and clusters use all of them).")
    event = st.plotly_chart(plots.scatter(df.iloc[shown], color), key="proj_chart",
                            on_select="rerun", selection_mode=("points", "box", "lasso"))
    selected = _selection(event)
    if selected:
        picked = df.set_index("idx").loc[selected]
        st.subheader(f"{len(selected):,} selected")
        st.bar_chart(picked["class"].value_counts(), height=160, horizontal=True)
        image_grid(path, frow, selected[:40], [f"{r.image_id} · {r._2}" for r in
                   picked.head(40)[["image_id", "class"]].itertuples()], key="proj_sel")
    else:
        st.caption("Select points (lasso or box) to see their images.")
    if "cluster" in df:
        _clusters(path, frow, df)


def _clusters(path: str, frow: dict, df: pd.DataFrame) -> None:
    st.subheader("Clusters of the layer's features")
    labelled = df["label"].to_numpy() >= 0
    c1, c2, c3 = st.columns(3)
    c1.metric("Clusters (k-means)", int(df["cluster"].max()) + 1)
    if labelled.any():
        c2.metric("Purity", f"{purity(df['label'][labelled], df['cluster'][labelled]):.3f}",
                  help="Share of images whose cluster's majority class is their own.")
        c3.metric("NMI", f"{nmi(df['label'][labelled], df['cluster'][labelled]):.3f}",
                  help="Normalised mutual information between classes and clusters.")
    summary = df.groupby("cluster").agg(images=("idx", "size"),
                                        top_class=("class", lambda s: s.value_counts().index[0]),
                                        top_share=("class", lambda s: s.value_counts(
                                            normalize=True).iloc[0]))
    cluster = st.selectbox("Cluster", summary.index.tolist(), key="proj_cluster",
                           format_func=lambda c: f"c{c}: {summary.loc[c, 'images']:,} images, "
                           f"{summary.loc[c, 'top_share']:.0%} {summary.loc[c, 'top_class']}")
    near = nearest_to_centre(df["cluster"].to_numpy(), df["dist"].to_numpy(), cluster, 16)
    st.caption("The images nearest the cluster's centre:")
    rows = df.iloc[near]
    image_grid(path, frow, rows["idx"], [f"{r.image_id} · {r._2}" for r in
               rows[["image_id", "class"]].itertuples()], key="proj_centre")
