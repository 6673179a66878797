"""Findings: what a configuration's similarity attends to, over a whole dataset, in
sentences with numbers and intervals — A against B on the same queries — with the per-class
and per-part figures and the queries that drive each difference, each opening in the
compare page; then what single channels stand for."""
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
    compare_parts,
    detector_table,
    dissections,
    driving_queries,
    findings,
    load,
    load_faithfulness,
    part_bars,
    part_column,
    part_names,
    per_class,
)

NONE = "—"


def _pct(x: float) -> str:
    return f"{x:.1%}"


def render() -> None:
    st.title("Findings")
    st.caption("Where similarity comes from, measured over many queries: of each similarity "
               "map's positive mass (the cells that add to the score), the share on the "
               "object against chance (the share of the image the object covers), and how "
               "strongly it lies on each named part (1 = chance). Intervals: seeded "
               "bootstrap over queries, 95%; A − B is paired.")
    reader = data.reader()
    objects, parts = findings(reader, "object"), findings(reader, "parts")
    trust = findings(reader, "faithfulness")
    if not objects and not parts and not trust and not dissections(reader):
        raise ResultMissingError("No findings stored yet.")
    url = links.incoming()
    chosen: dict[str, str | None] = {}
    if objects:
        st.header("The object")
        a, b = _pair(reader, objects, url, "", chosen)
        _sentence(a, b)
        _per_class(a, b)
        _drivers(reader, a, b, "share", "find")
    else:
        st.caption("No object finding stored: `vizkit findings object --dataset D "
                   "--checkpoint A --layer L` measures it.")
    if parts:
        st.header("Parts")
        a, b = _pair(reader, parts, url, "part_", chosen)
        _parts(reader, a, b, url, chosen)
    else:
        st.caption("No part finding stored: `vizkit findings parts --dataset D --checkpoint "
                   "A --layer L` measures it on a dataset with part points (cub200, "
                   "synthetic:N, a folder with parts.csv).")
    _faithfulness(reader, trust, url, chosen)
    links.publish(chosen)
    _dissection(reader)


def _pair(reader, rows, url, prefix: str, chosen: dict):
    """Pick A and B (another finding on the same dataset, the same queries) among ``rows``;
    their choice goes into ``chosen`` under ``prefix`` + a / b."""
    found = {r.result_key: load(reader, r) for r in rows}
    keys = list(found)
    c1, c2 = st.columns(2)
    links.choose(url, f"{prefix}a", f"find_{prefix}a", keys)
    a_key = c1.selectbox("A", keys, key=f"find_{prefix}a",
                         format_func=lambda k: found[k].label)
    a = found[a_key]
    others = [k for k in keys if k != a_key
              and found[k].features.dataset.key == a.features.dataset.key]
    links.choose(url, f"{prefix}b", f"find_{prefix}b", [NONE, *others])
    b_key = c2.selectbox("B (the same queries)", [NONE, *others],
                         index=1 if others else 0, key=f"find_{prefix}b",
                         format_func=lambda k: k if k == NONE else found[k].label)
    b = found.get(b_key)
    chosen.update({f"{prefix}a": a_key, f"{prefix}b": b_key if b else None})
    return a, b


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


def _drivers(reader, a, b, column: str, key: str, shown=_pct) -> None:
    """The queries that drive ``column`` (with B: where A and B differ most), as
    thumbnails with their values, and a link that opens one in the similarity or compare
    page."""
    st.subheader("The queries that drive it" if b is None else
                 "The queries where A and B differ most")
    rows = driving_queries(a, b, column=column)
    if rows.empty:
        st.caption("No query has a value here.")
        return
    images = reader.images(a.features.dataset)
    thumbs = reader.thumbnails(a.features.dataset, rows["idx"].tolist())
    cols = st.columns(6)
    for i, r in enumerate(rows.to_dict("records")):
        caption = f"{r['class']} · A {shown(r[column])}" + (
            f" · B {shown(r[column + '_b'])}" if b is not None else
            f" · chance {_pct(r['area'])}" if column == "share" else "")
        cols[i % 6].image(thumbs[int(r["idx"])], width=84, caption=caption)
    ids = {int(i): str(images.table["image_id"].iloc[int(i)]) for i in rows["idx"]}
    pick = st.selectbox("Open one", list(ids), key=f"{key}_open",
                        format_func=images.caption)
    params = {**pickers.features_link(a.features, a.row.metric), "query": ids[pick]}
    if b is not None:
        params.update(pickers.features_link(b.features, b.row.metric, "b_", dataset=False))
    params = {k: str(v) for k, v in params.items() if v is not None}
    page_link("compare" if b is not None else "similarity",
              "Open it in Compare embeddings (A and B)" if b is not None else
              "Open it in Similarity maps", params)


def _ratio(x: float) -> str:
    return f"{x:.2f}×"


def _parts(reader, a, b, url, chosen: dict) -> None:
    """Per part: the positive map mean within the part's disc ÷ the map's mean, A and B
    with intervals, in sentences and bars; the queries that drive one part."""
    s = a.row.summary
    ranked = sorted(((v["ratio"], name) for name, v in s["parts"].items() if v["n"]),
                    reverse=True)
    if not ranked:
        st.caption("No query of this finding saw any part.")
        return
    (top, best), (low, worst) = ranked[0], ranked[-1]
    ci = s["parts"]
    st.markdown(
        f"**A** ({a.label}) looks most at the **{best}**: {_ratio(top)} "
        f"[{ci[best]['ci95'][0]:.2f}, {ci[best]['ci95'][1]:.2f}] the map's mean within "
        f"{s['radius']:.1%} of the image's short side of it; least at the **{worst}**: "
        f"{_ratio(low)} "
        f"[{ci[worst]['ci95'][0]:.2f}, {ci[worst]['ci95'][1]:.2f}]. 1× is chance. "
        f"{s['n_queries']:,} queries, each with its top {a.row.k} results.")
    if b is not None:
        diffs = compare_parts(a, b)
        clear = [(d["diff"], name, d["diff_ci95"]) for name, d in diffs.items()
                 if d["n_paired"] and (d["diff_ci95"][0] > 0 or d["diff_ci95"][1] < 0)]
        if clear:
            st.info("Clearly different (the paired interval excludes 0): " + "; ".join(
                f"A looks {'more' if d > 0 else 'less'} at the {name} than B "
                f"({d:+.2f} [{lo:+.2f}, {hi:+.2f}])" for d, name, (lo, hi) in
                sorted(clear, reverse=True)) + ".")
        else:
            st.info("A and B look at no part clearly differently (every paired interval "
                    "spans 0).")
    bars = part_bars({"A": a, **({"B": b} if b is not None else {})})
    colours = palette.run_colours(["A", "B"])
    fig = go.Figure()
    for side, t in bars.groupby("configuration", sort=True):
        fig.add_bar(x=t["part"], y=t["ratio"], name=side, marker_color=colours[side],
                    error_y={"type": "data", "array": t["hi"] - t["ratio"],
                             "arrayminus": t["ratio"] - t["lo"]},
                    customdata=t["queries"],
                    hovertemplate="%{x}: %{y:.2f}× chance, %{customdata} queries<extra>"
                                  + side + "</extra>")
    fig.add_hline(y=1, line_dash="dot", line_color=palette.IDEAL, annotation_text="chance")
    fig.update_layout(barmode="group", height=340, margin={"t": 10},
                      yaxis={"title": "map mean on the part ÷ map mean", "rangemode": "tozero"})
    st.plotly_chart(fig, key="find_parts")
    names = part_names(a.row)
    links.choose(url, "part", "find_part", names)
    part = st.selectbox("Part", names, key="find_part")
    chosen["part"] = part
    _drivers(reader, a, b, part_column(part), "find_part", _ratio)


def _faithfulness(reader, rows, url, chosen: dict) -> None:
    """How far each kind of map can be trusted: deletion and insertion curves per method,
    with their areas and intervals, the random order as the baseline."""
    if not rows:
        st.caption("No faithfulness measured: `vizkit faithfulness --dataset D --checkpoint A "
                   "--layer L` scores every kind of map by deletion and insertion curves.")
        return
    st.header("How far each map can be trusted")
    found = {r.result_key: load_faithfulness(reader, r) for r in rows}
    keys = list(found)
    links.choose(url, "trust", "find_trust", keys)
    key = st.selectbox("Configuration", keys, key="find_trust",
                       format_func=lambda k: found[k].label)
    chosen["trust"] = key
    f = found[key]
    methods = f.row.summary["methods"]
    random = next(iter(f.row.summary.get("random", [])), None)
    better = [n for n, m in methods.items() if m.get("deletion_vs_random_ci95", [0, 0])[1] < 0]
    st.markdown(
        f"Remove the query's pixels (black) in the order each map ranks them, 5% at a time, "
        f"and re-embed: the faster the score falls, the more the map is right about what "
        f"made the pair similar (**deletion**: lower area is better; **insertion** reveals "
        f"them instead: higher is better). {f.row.summary['pairs']:,} pairs of "
        f"{f.features.dataset.name}. " + (
            f"Clearly better than the random order ({random}) at deletion, paired: "
            f"**{', '.join(better)}**." if better and random else
            "No method is clearly better than the random order at deletion." if random
            else ""))
    # colours of their own (A and B keep theirs); the random baseline in chance's colour
    colours = palette.run_colours(["A", "B", *methods])
    if random:
        colours[random] = palette.IDEAL
    fig = go.Figure()
    for name, t in f.curves.groupby("method", sort=False):
        for curve, dash in (("deletion", "solid"), ("insertion", "dot")):
            fig.add_scatter(x=t["removed"], y=t[curve], mode="lines", name=f"{name} · {curve}",
                            line={"color": colours[name], "dash": dash},
                            hovertemplate="%{x:.0%}: %{y:.2f}<extra>" + f"{name} · {curve}"
                                          + "</extra>")
    fig.update_layout(height=360, margin={"t": 10},
                      xaxis={"title": "share of the query's pixels removed / revealed",
                             "tickformat": ".0%"},
                      yaxis={"title": "score ÷ unperturbed score"})
    st.plotly_chart(fig, key="find_trust_curves")
    st.dataframe(
        [{"method": n, "deletion area": m["deletion_auc"],
          "95% interval": f"[{m['ci95_deletion'][0]:.3f}, {m['ci95_deletion'][1]:.3f}]",
          "insertion area": m["insertion_auc"]} for n, m in methods.items()],
        hide_index=True, key="find_trust_table",
        column_config={c: st.column_config.NumberColumn(c, format="%.3f")
                       for c in ("deletion area", "insertion area")})
    for name, why in f.row.summary.get("skipped", {}).items():
        st.caption(f"{name}: not applicable here — {why}")


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
