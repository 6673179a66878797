"""Embedding spectrum: PCA of a checkpoint's embedding — explained variance per direction,
the values of each class along the largest and the smallest directions, and Recall@1 after
keeping only the top-k directions, across runs of different embedding sizes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from vizkit import palette
from vizkit.app import data, links, pickers
from vizkit.identity import CheckpointId
from vizkit.read.catalog import Reader
from vizkit.read.runs import epochs_of, eval_features, eval_splits, run_names
from vizkit.read.spectra import spectrum_of, truncated_recall

POINTS_PER_CLASS = 300


def render() -> None:
    st.title("Embedding spectrum")
    url = links.incoming()
    reader = data.reader()
    names = run_names(reader)
    c1, c2, c3 = st.columns([2, 2, 1])
    run = pickers.pick_run(c1, url, "spec_run", names)
    epoch = pickers.pick_epoch(c2, url, "spec_epoch", epochs_of(reader, run))
    links.choose(url, "split", "spec_split", eval_splits(reader, run))
    split = c3.selectbox("Images", eval_splits(reader, run), key="spec_split")
    links.publish({"run": run, "epoch": epoch, "split": split})
    frow = eval_features(reader, run, epoch, split)
    spec = spectrum_of(reader, frow)
    d = len(spec.explained)
    ninety = int(np.searchsorted(np.cumsum(spec.explained), 0.9) + 1)
    st.caption(f"{frow.n:,} {split} images × {d} dimensions ({frow.layer} of "
               f"{CheckpointId(run, epoch).label}). The top direction explains "
               f"{spec.explained[0]:.1%}; "
               + ("it alone explains" if ninety == 1 else f"{ninety} directions explain")
               + " 90%.")
    _variance(spec.explained)
    _extremes(reader, spec, frow)
    _truncation(reader, names, run, split, epoch)


def _variance(explained: np.ndarray) -> None:
    k = np.arange(1, len(explained) + 1)
    fig = go.Figure([go.Bar(x=k, y=explained, name="explained variance"),
                     go.Scatter(x=k, y=np.cumsum(explained), name="cumulative",
                                mode="lines+markers", yaxis="y2")])
    fig.update_layout(height=320, xaxis_title="principal direction",
                      yaxis={"title": "share of variance", "tickformat": ".0%"},
                      yaxis2={"overlaying": "y", "side": "right", "range": [0, 1.02],
                              "tickvals": [0, 0.25, 0.5, 0.75, 1], "tickformat": ".0%",
                              "title": "cumulative", "showgrid": False},
                      margin={"t": 30}, legend={"orientation": "h", "y": 1.12})
    st.markdown("**Explained variance per principal direction**")
    st.plotly_chart(fig, key="spec_variance")


def _extremes(reader: Reader, spec, frow) -> None:
    images = reader.images(frow.dataset)
    classes, labels = images.classes, images.labels
    rng = np.random.default_rng(0)
    shown = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[
        :POINTS_PER_CLASS] for c in np.unique(labels)]))
    d = spec.scores.shape[1]
    frames = [pd.DataFrame({"direction": f"PC {j + 1} ({name}, {spec.explained[j]:.1%})",
                            "value": spec.scores[shown, j],
                            "class": [classes[v] for v in labels[shown]]})
              for j, name in ((0, "largest"), (d - 1, "smallest"))]
    colours = palette.class_colours(classes)
    fig = px.strip(pd.concat(frames), x="class", y="value", color="class",
                   facet_col="direction", height=360, color_discrete_map=colours,
                   category_orders={"class": list(colours)})
    fig.update_yaxes(matches=None, showticklabels=True)
    fig.update_layout(showlegend=False, margin={"t": 40})
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    st.markdown("**Each class along the largest and the smallest direction** (up to "
                f"{POINTS_PER_CLASS} images a class): the largest separates classes, the "
                "smallest is mostly noise")
    st.plotly_chart(fig, key="spec_extremes")


def _truncation(reader: Reader, names: list[str], run: str, split: str, epoch: int) -> None:
    st.markdown("**Recall@1 after keeping the top-k principal directions** (k = d, d/2, …; "
                "each run's last checkpoint, or the chosen epoch for this run)")
    compare = st.multiselect("Runs", names, default=[run] + [n for n in names if n != run][:3],
                             key="spec_compare")
    rows = []
    for name in compare:
        if split not in eval_splits(reader, name):
            continue
        e = epoch if name == run else epochs_of(reader, name)[-1]
        frow = eval_features(reader, name, e, split)
        for k, r in truncated_recall(reader, frow).items():
            rows.append({"run": f"{CheckpointId(name, e).label} (d={frow.dim})",
                         "kept directions": k,
                         "Recall@1": r})
    if not rows:
        return
    runs = pd.DataFrame(rows)
    fig = px.line(runs, x="kept directions", y="Recall@1", color="run", markers=True,
                  log_x=True, height=340, color_discrete_map=palette.run_colours(runs["run"]))
    fig.update_xaxes(type="log", dtick=np.log10(2), tickformat="d")
    st.plotly_chart(fig, key="spec_truncation")
