"""Findings: what a configuration's similarity attends to, over a whole dataset, in
sentences with numbers and intervals — A against B on the same queries — with the per-class
figures and the queries that drive the difference, each opening in the compare page."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from vizkit import palette
from vizkit.app import data, links, pickers
from vizkit.app.router import page_link
from vizkit.errors import ResultMissingError
from vizkit.read.findings import (
    IOU_THRESHOLD,
    compare,
    detector_table,
    dissections,
    driving_queries,
    findings,
    load,
    per_class,
)

NONE = "—"


def _pct(x: float) -> str:
    return f"{x:.1%}"


def render() -> None:
    st.title("Findings")
    st.caption("Where similarity comes from, measured over many queries: of each similarity "
               "map's positive mass (the cells that add to the score), the share on the "
               "object, against chance (the share of the image the object covers). "
               "Intervals: seeded bootstrap over queries, 95%; A − B is paired.")
    reader = data.reader()
    rows = findings(reader, "object")
    if not rows:
        raise ResultMissingError("No findings stored yet.")
    url = links.incoming()
    found = {r.result_key: load(reader, r) for r in rows}
    keys = list(found)
    c1, c2 = st.columns(2)
    links.choose(url, "a", "find_a", keys)
    a_key = c1.selectbox("A", keys, key="find_a",
                         format_func=lambda k: found[k].label)
    a = found[a_key]
    others = [k for k in keys if k != a_key
              and found[k].features.dataset.key == a.features.dataset.key]
    links.choose(url, "b", "find_b", [NONE, *others])
    b_key = c2.selectbox("B (the same queries)", [NONE, *others],
                         index=1 if others else 0, key="find_b",
                         format_func=lambda k: k if k == NONE else found[k].label)
    b = found.get(b_key)
    links.publish({"a": a_key, "b": b_key if b else None})
    _sentence(a, b)
    _per_class(a, b)
    _drivers(reader, a, b)
    _dissection(reader)


def _sentence(a, b) -> None:
    s = a.row.summary
    text = (f"**A** ({a.label}) puts **{_pct(s['object_share'])}** "
            f"[{_pct(s['ci95'][0])}, {_pct(s['ci95'][1])}] of its maps' positive mass on the "
            f"object")
    if b is not None:
        t = b.row.summary
        text += (f"; **B** ({b.label}) **{_pct(t['object_share'])}** "
                 f"[{_pct(t['ci95'][0])}, {_pct(t['ci95'][1])}]")
    text += (f". Chance: {_pct(s['area_share'])} (the object's share of the image). "
             f"{s['n_queries']:,} queries of {a.features.dataset.name}, each with its top "
             f"{a.row.k} results, both sides of every pair.")
    st.markdown(text)
    cols = st.columns(3 if b is not None else 2)
    cols[0].metric("A on the object", _pct(s["object_share"]),
                   f"{s['object_share'] - s['area_share']:+.1%} vs chance")
    cols[1].metric("chance", _pct(s["area_share"]))
    if b is not None:
        diff = compare(a, b)
        lo, hi = diff["diff_ci95"]
        cols[2].metric("A − B (paired)", f"{diff['diff']:+.1%}", f"[{lo:+.1%}, {hi:+.1%}]",
                       delta_color="off", delta_arrow="off",
                       delta_description="95% interval")
        said = (f"A − B {diff['diff']:+.1%}, 95% interval [{lo:+.1%}, {hi:+.1%}], on "
                f"{diff['n_paired']:,} paired queries")
        if lo > 0 or hi < 0:
            st.info(f"A puts {'more' if lo > 0 else 'less'} of its similarity on the object "
                    f"than B ({said}: the interval excludes 0).")
        else:
            st.info(f"A and B put no clearly different share on the object ({said}: the "
                    "interval spans 0).")


def _per_class(a, b) -> None:
    st.subheader("Per class (the query's)")
    colours = palette.run_colours(["A", "B"])
    fig = go.Figure()
    for name, f in (("A", a), ("B", b)):
        if f is None:
            continue
        t = per_class(f)
        fig.add_bar(x=t["class"], y=t["object_share"], name=name,
                    marker_color=colours[name],
                    error_y={"type": "data", "array": t["hi"] - t["object_share"],
                             "arrayminus": t["object_share"] - t["lo"]},
                    hovertemplate="%{x}: %{y:.1%}<extra>" + name + "</extra>")
    chance = per_class(a)
    fig.add_scatter(x=chance["class"], y=chance["area_share"], mode="markers",
                    name="chance", marker={"symbol": "line-ew-open", "size": 28,
                                           "color": palette.IDEAL, "line": {"width": 2}})
    fig.update_layout(barmode="group", height=340, margin={"t": 10},
                      yaxis={"title": "positive mass on the object", "tickformat": ".0%",
                             "rangemode": "tozero"})
    st.plotly_chart(fig, key="find_classes")


def _drivers(reader, a, b) -> None:
    st.subheader("The queries that drive it" if b is None else
                 "The queries where A and B differ most")
    rows = driving_queries(a, b)
    images = reader.images(a.features.dataset)
    thumbs = reader.thumbnails(a.features.dataset, rows["idx"].tolist())
    cols = st.columns(6)
    for i, r in enumerate(rows.itertuples()):
        caption = f"{r._2} · A {_pct(r.share)}" + (f" · B {_pct(r.share_b)}" if b else
                                                     f" · chance {_pct(r.area)}")
        cols[i % 6].image(thumbs[int(r.idx)], width=84, caption=caption)
    ids = {int(r.idx): str(images.table["image_id"].iloc[int(r.idx)]) for r in rows.itertuples()}
    pick = st.selectbox("Open one", list(ids), key="find_open",
                        format_func=images.caption)
    params = {**pickers.features_link(a.features, a.row.metric), "query": ids[pick]}
    if b is not None:
        params.update(pickers.features_link(b.features, b.row.metric, "b_", dataset=False))
    params = {k: str(v) for k, v in params.items() if v is not None}
    page_link("compare" if b is not None else "similarity",
              "Open it in Compare embeddings (A and B)" if b is not None else
              "Open it in Similarity maps", params)


def _dissection(reader) -> None:
    """The stored dissections: per concept, how many channels detect it; the channels, best
    first, each opening in the model explorer."""
    found = dissections(reader)
    if not found:
        st.caption("No channel dissection stored: `vizkit dissect --dataset D --checkpoint A "
                   "--layer L` says which concept each channel stands for.")
        return
    st.subheader("What single channels stand for (channel dissection)")
    names = [f"{label} · {row.layer} · on {row.dataset.name}" for label, row in found]
    i = st.selectbox("Dissection", range(len(found)), key="find_dissect",
                     format_func=names.__getitem__)
    label, row = found[i]
    table = detector_table(row)
    detectors = table[table["iou"] > IOU_THRESHOLD]
    st.markdown(f"**{len(detectors)} of {len(table)}** channels of {row.layer} detect a "
                "concept (IoU above 0.04, Network Dissection's threshold): "
                + (", ".join(f"{c} {n}" for c, n in detectors["concept"].value_counts().items())
                   or "none") + ".")
    st.dataframe(table.head(12), hide_index=True, key="find_dissect_table",
                 column_config={"iou": st.column_config.NumberColumn("IoU", format="%.3f")})
    pick = st.selectbox("Open a channel in the model explorer", table["channel"].head(12),
                        key="find_dissect_open", format_func=lambda c: f"channel {c} · "
                        f"{table.set_index('channel').loc[c, 'concept']}")
    page_link("explorer", f"Open channel {int(pick)} of {label}",
              explorer_link(reader, row, int(pick)))


def explorer_link(reader, row, channel: int) -> dict[str, str]:
    """The model explorer's link parameters for ``channel`` of a dissection's layer."""
    ref = next((f for f in reader.catalog().features.values()
                if f.weights_fp == row.weights_fp), None)
    params = {"layer": row.layer, "channel": str(channel), "tab": "Channel"}
    if ref is not None:
        params.update({"model": ref.model, **({"checkpoint": ref.checkpoint}
                                               if ref.checkpoint else {"weights": ref.weights})})
    return params
