"""Triplet scatter: for a fixed sample of anchors, each anchor's similarity to its closest
positive (x) against its closest negative (y), epoch by epoch, train and test side by side,
one or two runs; the ideal point is (1, 0) and points below the diagonal are retrieved
correctly. Click an anchor to trace its path across epochs and see its three images."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from vizkit import palette
from vizkit.app import data, links, pickers, plots
from vizkit.identity import ImageRef
from vizkit.read.catalog import Reader
from vizkit.read.runs import (
    IDEAL,
    anchor_table,
    epochs_of,
    eval_features,
    run_names,
    start_and_ends,
)

NONE = "(none)"
CHART = "trip_scatter"


def _labelled(reader: Reader, anchors: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Anchors with class names; the evaluation images (a :class:`ImageTable`) of each
    (run, split)."""
    images, parts = {}, []
    for (run, split), part in anchors.groupby(["run", "split"], sort=False):
        frow = eval_features(reader, run, int(part["epoch"].max()), split)
        images[(run, split)] = table = reader.images(frow.dataset)
        parts.append(part.assign(label=table.class_names[part["idx"].to_numpy()]))
    return pd.concat(parts), images


def _facets(fig: go.Figure, anchors: pd.DataFrame) -> go.Figure:
    """The diagonal (below it, the positive is closer) in every panel; axes fitted to the
    anchors of all epochs (so the data fill the panel), the ideal point (1, 0) drawn where
    it is in view and otherwise pointed at from the panel's lower edge; axis titles once,
    on the outer panels."""
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.add_shape(type="line", x0=-1, y0=-1, x1=1.03, y1=1.03,
                  line={"dash": "dot", "color": palette.GUIDE},
                  row="all", col="all")
    lo_x = min(float(anchors["pos_sim"].min()), 0.9) - 0.05
    lo_y = float(anchors["neg_sim"].min()) - 0.05
    hi_y = float(anchors["neg_sim"].max()) + 0.05
    if lo_y <= IDEAL[1]:
        fig.add_scatter(x=[IDEAL[0]], y=[IDEAL[1]], mode="markers", marker={
            "symbol": "star", "size": 12, "color": palette.IDEAL}, name="ideal (1, 0)",
            showlegend=False, hovertemplate="ideal (1, 0)<extra></extra>",
            row="all", col="all")
    else:
        fig.add_annotation(x=1.0, y=lo_y, xref="x domain", yref="y", text="ideal (1, 0) ↓",
                           showarrow=False, xanchor="right", yanchor="bottom",
                           font={"size": 11, "color": palette.IDEAL})
    fig.update_xaxes(range=[lo_x, 1.03], title_text="")
    fig.update_yaxes(range=[lo_y, hi_y], title_text="")
    fig.update_xaxes(title_text="closest positive similarity", row=1)
    fig.update_yaxes(title_text="closest negative similarity", col=1)
    return fig


def render() -> None:
    st.title("Triplet scatter")
    reader = data.reader()
    names = run_names(reader)
    url = links.incoming()
    c1, c2, c3 = st.columns([2, 2, 3])
    run_a = pickers.pick_run(c1, url, "trip_run_a", names)
    links.choose({"b_run": url.get("b_run", NONE)} if url else {}, "b_run", "trip_run_b",
                 [NONE] + [n for n in names if n != run_a])
    run_b = c2.selectbox("Beside it", [NONE] + [n for n in names if n != run_a],
                         index=1 if len(names) > 1 else 0, key="trip_run_b")
    runs = [run_a] + ([run_b] if run_b != NONE else [])
    epochs = sorted(set.intersection(*[set(epochs_of(reader, r)) for r in runs]))
    every_epoch = anchor_table(reader, runs)
    if every_epoch.empty or not epochs:
        st.info("These runs have no anchors stored (they were trained before vizkit kept "
                "them). Train a run with `vizkit train`.")
        return
    epoch = pickers.pick_epoch(c3, url, "trip_epoch", epochs)
    links.publish({"run": run_a, "b_run": run_b if run_b != NONE else None,
                   "epoch": epoch})
    every_epoch, images = _labelled(reader, every_epoch)
    anchors = every_epoch[every_epoch["epoch"].isin(epochs)]
    colours = palette.class_colours(next(iter(images.values())).classes)
    _take_click()
    tab_epoch, tab_play, tab_ends = st.tabs([f"Epoch {epoch} — click an anchor to trace it",
                                             "▶ Play all epochs", "Start and end points"])
    with tab_epoch:
        traced = _traced(anchors, epoch)
        _epoch_figure(anchors, epoch, runs, traced, colours)
        if traced is not None:
            _anchor_images(reader, anchors, images, runs, epoch, traced)
    with tab_play:
        fig = px.scatter(anchors, x="pos_sim", y="neg_sim", color="label",
                         animation_frame="epoch", animation_group="idx", facet_col="split",
                         facet_row="run" if len(runs) > 1 else None, height=380 * len(runs),
                         hover_data={"idx": True}, color_discrete_map=colours,
                         category_orders={"run": runs, "label": list(colours)})
        fig.update_traces(marker={"size": 5, "opacity": 0.7})
        plots.start_at_frame(fig, epochs.index(epoch))
        st.caption(f"Epoch {epoch} (the slider above); ▶ plays every epoch.")
        st.plotly_chart(_facets(fig, anchors), key="trip_play")
    with tab_ends:
        _start_and_end_figure(start_and_ends(every_epoch, runs))
    _histograms(anchors, epoch, runs)


def _start_and_end_figure(points: pd.DataFrame) -> None:
    """Every anchor at the starting point and at each run's last epoch, on one plot."""
    if points.empty:
        st.info("No stored anchors to compare.")
        return
    order = list(dict.fromkeys(points["point"]))
    colours = {order[0]: palette.START, **palette.run_colours(order[1:])}
    fig = px.scatter(points, x="pos_sim", y="neg_sim", color="point", facet_col="split",
                     height=420, hover_data={"idx": True, "label": True},
                     category_orders={"point": order}, color_discrete_map=colours)
    fig.update_traces(marker={"size": 5, "opacity": 0.6})
    st.plotly_chart(_facets(fig, points), key="trip_ends")
    st.caption("Dark grey: the starting point (epoch 0, e.g. the pretrained model); each "
               "run's colour: where it ends. Closer to the ideal (1, 0) is better.")


def _take_click() -> None:
    """A click on the scatter (its selection) becomes the traced anchor."""
    points = (st.session_state.get(CHART) or {}).get("selection", {}).get("points", [])
    if points and points[0].get("customdata"):
        split, idx = points[0]["customdata"][1], int(points[0]["customdata"][2])
        choice = ImageRef(split, idx).text
        if st.session_state.get("trip_clicked") != choice:
            st.session_state["trip_clicked"] = st.session_state["trip_anchor"] = choice


def _traced(anchors: pd.DataFrame, epoch: int) -> tuple[str, int] | None:
    now = anchors[(anchors["epoch"] == epoch)].drop_duplicates(["split", "idx"])
    now = now.sort_values("dist", ascending=False)
    refs = {ImageRef(r.split, int(r.idx)).text: f"{r.split} image {r.idx} · {r.label}"
            for r in now.itertuples()}
    options, info = [NONE, *refs], refs
    if st.session_state.get("trip_anchor") not in options:
        st.session_state["trip_anchor"] = NONE
    pick = st.selectbox("Trace an anchor (or click one; listed farthest from the ideal "
                        "first)", options, format_func=lambda o: info.get(o, o),
                        key="trip_anchor")
    if pick == NONE:
        return None
    ref = ImageRef.parse(pick)
    return ref.split, ref.idx


def _epoch_figure(anchors, epoch, runs, traced, colours: dict[str, str]) -> None:
    now = anchors[anchors["epoch"] == epoch]
    fig = px.scatter(now, x="pos_sim", y="neg_sim", color="label", facet_col="split",
                     facet_row="run" if len(runs) > 1 else None, height=380 * len(runs),
                     custom_data=["run", "split", "idx"], hover_data={"idx": True},
                     category_orders={"run": runs, "label": list(colours)},
                     color_discrete_map=colours, render_mode="webgl")
    fig.update_traces(marker={"size": 5, "opacity": 0.7})
    _facets(fig, anchors)
    if traced is not None:
        split, idx = traced
        path = anchors[(anchors["split"] == split) & (anchors["idx"] == idx)]
        splits = sorted(anchors["split"].unique())
        for i, run in enumerate(runs):
            p = path[path["run"] == run].sort_values("epoch")
            fig.add_scatter(x=p["pos_sim"], y=p["neg_sim"], mode="lines+markers+text",
                            text=[f"e{e}" for e in p["epoch"]], textposition="top center",
                            line={"color": palette.IDEAL, "width": 2}, marker={"size": 9},
                            name=f"anchor {idx}", showlegend=i == 0,
                            row=len(runs) - i if len(runs) > 1 else 1,
                            col=splits.index(split) + 1)
    st.plotly_chart(fig, key=CHART, on_select="rerun", selection_mode=("points",))
    share = (now["pos_sim"] > now["neg_sim"]).groupby([now["run"], now["split"]]).mean()
    st.caption("Below the diagonal (closest positive more similar than closest negative): "
               + "; ".join(f"{r} {s} {v:.1%}" for (r, s), v in share.items()))


def _anchor_images(reader, anchors, images, runs, epoch, traced) -> None:
    split, idx = traced
    cols = st.columns(len(runs))
    for col, run in zip(cols, runs):
        row = anchors[(anchors["run"] == run) & (anchors["epoch"] == epoch)
                      & (anchors["split"] == split) & (anchors["idx"] == idx)]
        if row.empty:
            continue
        r = row.iloc[0]
        table = images[(run, split)]
        shown = (int(r.idx), int(r.pos_idx), int(r.neg_idx))
        thumbs = reader.thumbnails(table.dataset, shown)
        with col:
            st.markdown(f"**{run}**, epoch {epoch}: distance to ideal {r.dist:.3f}")
            for c, i, caption in zip(st.columns(3), shown,
                                     ("anchor", f"closest positive · {r.pos_sim:.3f}",
                                      f"closest negative · {r.neg_sim:.3f}")):
                c.image(thumbs[i], width=84, output_format="PNG")
                c.caption(f"{caption}  \n{table.class_name(int(table.labels[i]))}")
            key = f"trip_maps_{run}_{split}_{idx}_{epoch}"
            if st.toggle("Similarity maps of this triplet", key=key,
                         help="Where the anchor looks like its closest positive and its "
                              "closest negative at this epoch (loads the checkpoint)."):
                _triplet_maps(reader, run, epoch, split, shown, (r.pos_sim, r.neg_sim))


def _triplet_maps(reader, run, epoch, split, shown, sims) -> None:
    """The anchor's maps against its closest positive and its closest negative: the exact
    split of each cosine over both images' pixels, on one colour scale."""
    from vizkit.app.maps_view import draw_panel
    from vizkit.errors import VizkitError
    from vizkit.read.maps import map_service, pair_maps

    frow = eval_features(reader, run, epoch, split)
    try:
        with st.spinner("Computing the maps…"):
            service = map_service(reader, frow)
            anchor, *pair = service.dataset_features(shown)
            maps = pair_maps(anchor, pair, "cosine")
    except VizkitError as e:
        st.info(f"No maps for this checkpoint here: {e}")
        return
    table = reader.images(frow.dataset)
    results = pd.DataFrame({"rank": ["positive", "negative"], "score": list(sims),
                            "class_name": [table.class_name(int(table.labels[i]))
                                           for i in shown[1:]]})
    draw_panel(anchor.view, results, [f.view for f in pair], maps, "cosine", columns=2)


def _histograms(anchors, epoch, runs) -> None:
    st.subheader("Distance to the ideal point (1, 0)")
    now = anchors[anchors["epoch"] == epoch]
    fig = px.histogram(now, x="dist", color="run", facet_col="split", barmode="overlay",
                       nbins=40, opacity=0.6, height=300, category_orders={"run": runs},
                       color_discrete_map=palette.run_colours(runs))
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    st.plotly_chart(fig, key="trip_hist")
    median = anchors.groupby(["run", "split", "epoch"], as_index=False)["dist"].median()
    fig = px.line(median, x="epoch", y="dist", color="run", line_dash="split", markers=True,
                  height=280, labels={"dist": "median distance to (1, 0)"},
                  color_discrete_map=palette.run_colours(runs))
    fig.update_xaxes(dtick=1)
    st.plotly_chart(fig, key="trip_median")
