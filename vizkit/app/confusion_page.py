"""Misclassifications: a classifier checkpoint's confusion matrix; open a cell to see the
images it got wrong, each beside its nearest images of the class it predicted ("this
pullover is atypical and close to these coats")."""
from __future__ import annotations

import numpy as np
import streamlit as st

from vizkit.app import data, links, pickers, plots
from vizkit.app.grid import image_grid, open_in_search
from vizkit.read.catalog import Reader
from vizkit.read.layouts import confusion_of, features_for_predictions, prediction_rows
from vizkit.read.query import nearest_among
from vizkit.read.rows import PredictionsRow
from vizkit.registry import get_registry

OVERVIEW = 40  # mistakes of a cell shown as thumbnails; one at a time in focus


def _pick(reader: Reader, url: dict[str, str]) -> PredictionsRow:
    rows = prediction_rows(reader)
    c1, c2 = st.columns(2)
    names = sorted({r.dataset.name for r in rows})
    links.choose(url, "dataset", "conf_dataset", names)
    dataset = c1.selectbox("Dataset", names, key="conf_dataset")
    rows = [r for r in rows if r.dataset.name == dataset]
    labels = list(dict.fromkeys(r.label for r in rows))
    wanted = [r.label for r in rows if r.checkpoint and r.checkpoint == url.get("checkpoint")]
    if wanted:
        st.session_state["conf_model"] = wanted[-1]
    model = c2.select_slider("Checkpoint", labels, value=labels[-1], key="conf_model") \
        if len(labels) > 1 else labels[0]
    return [r for r in rows if r.label == model][-1]


def _clicked_cell(event) -> tuple[int, int] | None:
    """The (true, predicted) cell a click on the matrix selected (its point's customdata)."""
    points = getattr(getattr(event, "selection", None), "points", None) or []
    for p in points:
        cell = p.get("customdata")
        if isinstance(cell, list) and len(cell) == 2:
            return int(cell[0]), int(cell[1])
    return None


def render() -> None:
    st.title("Misclassifications")
    url = links.incoming()
    reader = data.reader()
    prow = _pick(reader, url)
    images = reader.images(prow.dataset)
    classes = images.classes
    pred, matrix = confusion_of(reader, prow)
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
    clicked = _clicked_cell(event)
    if clicked in cells and clicked != st.session_state.get("conf_clicked"):  # a new click
        st.session_state.conf_clicked = st.session_state.conf_cell = clicked
    cell_names = {c: f"{classes[c[0]]}>{classes[c[1]]}" for c in cells}
    wanted = [c for c, name in cell_names.items() if name == url.get("cell")]
    if wanted:
        st.session_state.conf_cell = wanted[0]
    cell = st.selectbox("Cell (true → predicted); or click one in the matrix", cells,
                        key="conf_cell", format_func=lambda c: f"{classes[c[0]]} → "
                        f"{classes[c[1]]}: {matrix[c]:,} images")
    links.publish({"dataset": prow.dataset.name, "checkpoint": prow.checkpoint,
                   "cell": cell_names[cell]})
    _cell(reader, prow, images, pred, cell)


def _cell(reader, prow, images, pred, cell) -> None:
    true, predicted = cell
    classes, labels = images.classes, images.labels
    wrong = np.flatnonzero((labels == true) & (pred == predicted))
    conf = reader.per_image("predictions", prow.result_key)["confidence"].to_numpy()
    wrong = wrong[np.argsort(-conf[wrong], kind="stable")]  # most confident mistakes first
    st.subheader(f"{classes[true]} predicted as {classes[predicted]}: {len(wrong):,} images")
    frow = features_for_predictions(reader, prow)
    if frow is None:
        st.info("No stored features of this checkpoint to find neighbours with.")
        return
    matrix = reader.matrix(frow.result_key)
    metric = get_registry().metric("cosine")
    of_class = np.flatnonzero(labels == predicted)
    ids = images.table["image_id"]
    shown = wrong[:OVERVIEW]
    i = int(shown[pickers.step(f"conf_focus_{true}_{predicted}",
                               [f"{ids.iloc[w]} · {conf[w]:.0%} sure it is a "
                                f"{classes[predicted]}" for w in shown],
                               "Misclassified image (most confident first)")])
    near, score = nearest_among(metric, matrix, i, of_class, 7)
    left, right = st.columns([1, 3])
    with left:
        st.image(reader.thumbnails(frow.dataset, [i])[i], width=180, output_format="PNG")
        st.metric(f"predicted {classes[predicted]}", f"{conf[i]:.0%}",
                  help="The classifier's confidence in its wrong answer.")
        if st.button("Search with this image", key="conf_search"):
            open_in_search(frow, i)
    with right:
        st.caption(f"Its nearest {classes[predicted]} images under {frow.layer} (cosine): "
                   f"is it atypical of {classes[true]}, or close to these?")
        image_grid(frow, list(near), [f"{classes[predicted]} · {s:.3f}" for s in score],
                   key="conf_near", columns=7, buttons=False)
    st.caption(f"All {len(shown):,} of these mistakes" + (f" (of {len(wrong):,})" if
                                                         len(wrong) > len(shown) else "")
               + ", most confident first:")
    image_grid(frow, list(shown), [f"{ids.iloc[w]} · {conf[w]:.0%}" for w in shown],
               key="conf_all", columns=10, width=64, buttons=False)
