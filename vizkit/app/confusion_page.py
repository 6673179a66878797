"""Misclassifications: a classifier checkpoint's confusion matrix; open a cell to see the
images it got wrong, each beside its nearest images of the class it predicted ("this
pullover is atypical and close to these coats")."""
from __future__ import annotations

import numpy as np
import streamlit as st

from vizkit.app import data, plots
from vizkit.app.grid import image_grid
from vizkit.clustering import confusion
from vizkit.errors import ResultMissingError
from vizkit.query import nearest_among
from vizkit.registry import get_registry

SHOWN = 8
PREFERRED_LAYERS = ("embedding", "pre_logits")


def _pick(path: str) -> dict:
    rows = data.catalog(path, "predictions")
    if rows.empty:
        raise ResultMissingError("No predictions stored yet. Run `vizkit demo`, or `vizkit "
                                 "evolve --run RUN --dataset fashion-mnist[test] --layer "
                                 "embedding` (predictions come with every checkpoint).")
    rows = rows.assign(dataset=rows["dataset_key"].str.split("#").str[0],
                       label=[data.model_label(r) for r in rows.to_dict("records")])
    c1, c2 = st.columns(2)
    dataset = c1.selectbox("Dataset", sorted(rows["dataset"].unique()), key="conf_dataset")
    rows = rows[rows["dataset"] == dataset]
    rows = rows.assign(epoch=[data.checkpoint_epoch(c) for c in rows["checkpoint"]])
    labels = list(dict.fromkeys(rows.sort_values("epoch", kind="stable")["label"]))
    model = c2.select_slider("Checkpoint", labels, value=labels[-1], key="conf_model") \
        if len(labels) > 1 else labels[0]
    return rows[rows["label"] == model].iloc[-1].to_dict()


def _features_for(path: str, prow: dict) -> dict | None:
    feats = data.catalog(path, "features")
    feats = feats[(feats["dataset_key"] == prow["dataset_key"]) &
                  (feats["weights_fp"] == prow["weights_fp"])]
    if feats.empty:
        return None
    order = sorted(feats.to_dict("records"), key=lambda r: (
        PREFERRED_LAYERS.index(r["layer"]) if r["layer"] in PREFERRED_LAYERS else 9))
    return order[0]


def _clicked_cell(event, classes: list[str]) -> tuple[int, int] | None:
    points = getattr(getattr(event, "selection", None), "points", None) or []
    for p in points:
        if p.get("x") in classes and p.get("y") in classes:
            return classes.index(p["y"]), classes.index(p["x"])
    return None


def render() -> None:
    st.title("Misclassifications")
    path = str(data.store().path)
    prow = _pick(path)
    classes = data.dataset_info(path, prow["dataset_key"])["classes"]
    table = data.image_table(path, prow["dataset_key"])
    labels = table["label"].to_numpy()
    pred = data.per_image(path, "predictions", prow["result_key"])["pred"].to_numpy()
    keep = labels >= 0
    matrix = confusion(labels[keep], pred[keep], len(classes))
    c1, c2 = st.columns(2)
    c1.metric("Accuracy", f"{np.trace(matrix) / max(matrix.sum(), 1):.3f}")
    c2.metric("Misclassified", f"{int(matrix.sum() - np.trace(matrix)):,} of "
                               f"{int(matrix.sum()):,}")
    event = st.plotly_chart(plots.confusion_heatmap(matrix, classes), key="conf_chart",
                            on_select="rerun", selection_mode="points")
    cells = sorted(((t, p) for t in range(len(classes)) for p in range(len(classes))
                    if t != p and matrix[t, p]), key=lambda c: -matrix[c])
    if not cells:
        st.success("No misclassified images.")
        return
    clicked = _clicked_cell(event, classes)
    if clicked in cells:
        st.session_state.conf_cell = clicked
    cell = st.selectbox("Cell (true → predicted); or click one in the matrix", cells,
                        key="conf_cell", format_func=lambda c: f"{classes[c[0]]} → "
                        f"{classes[c[1]]}: {matrix[c]:,} images")
    _cell(path, prow, table, classes, labels, pred, cell)


def _cell(path, prow, table, classes, labels, pred, cell) -> None:
    true, predicted = cell
    wrong = np.flatnonzero((labels == true) & (pred == predicted))
    conf = data.per_image(path, "predictions", prow["result_key"])["confidence"].to_numpy()
    wrong = wrong[np.argsort(-conf[wrong], kind="stable")]  # most confident mistakes first
    st.subheader(f"{classes[true]} predicted as {classes[predicted]}: {len(wrong):,} images")
    frow = _features_for(path, prow)
    if frow is None:
        st.info("No stored features of this checkpoint to find neighbours with.")
        return
    matrix = data.feature_matrix(path, frow["result_key"])
    metric = get_registry().metric("cosine")
    of_class = np.flatnonzero(labels == predicted)
    st.caption(f"Each row: a misclassified image (confidence), then its nearest "
               f"{classes[predicted]} images under {frow['layer']} (cosine).")
    for i in wrong[:SHOWN]:
        near, score = nearest_among(metric, matrix, int(i), of_class, 7)
        image_grid(path, frow, [i, *near],
                   [f"{table['image_id'].iloc[i]} · {conf[i]:.0%}"] +
                   [f"{classes[predicted]} · {s:.3f}" for s in score], key=f"conf_{i}")
    if len(wrong) > SHOWN:
        st.caption(f"… and {len(wrong) - SHOWN:,} more.")
