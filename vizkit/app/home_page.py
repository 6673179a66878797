"""Home: what vizkit is, shown with the store's own results — a search, a pair's similarity
maps, a channel and the images that excite it, a run's map, the Models x layers heatmap —
each card opening its page on that very view; the store's tables, the pages' commands and
the plugins behind expanders."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from vizkit import palette
from vizkit.app import data, plots
from vizkit.app.guard import DEMO
from vizkit.app.router import page_link
from vizkit.plugins import failures, get_plugins
from vizkit.read.grid import SCORES
from vizkit.read.showcase import Card, cards
from vizkit.registry import get_registry

PICTURE = 84  # px of each thumbnail on a card


def render() -> None:
    st.title("vizkit")
    st.write("See what CNN image models learn: which images a model finds alike, which pixels "
             "make them alike, what its channels respond to, and how training moves the "
             "classes apart. Each card below is a result from this store; open it to explore.")
    for f in failures():
        st.error(f"Plugin **{f.plugin}** failed ({f.stage}): {f.error}")
    reader = data.reader()
    catalog = reader.catalog()
    if not catalog.counts:
        st.info(f"There is no store at `{reader.path}` yet. {DEMO}: it trains the demo model "
                "on Fashion-MNIST and precomputes its results.")
    else:
        with st.spinner("Gathering one example of each result from the store…"):
            shown = cards(reader)  # once per version of the store
        if not shown:
            st.info("The store holds no results to show yet: run `vizkit precompute ...` "
                    "(see the pages' commands below).")
        for row in range(0, len(shown), 2):
            for col, card in zip(st.columns(2), shown[row: row + 2]):
                with col, st.container(border=True):
                    _card(card)
    _details(catalog)


def _card(card: Card) -> None:
    st.markdown(f"**{card.title}**")
    if card.points is not None:
        df = pd.DataFrame({"x": card.points["x"], "y": card.points["y"],
                           "class": card.points["class"], "idx": range(len(card.points["x"])),
                           "image_id": ""})
        colours = palette.colours_for("class", df["class"], card.points["classes"])
        fig = plots.scatter(df.iloc[plots.sample(len(df), 4000)], "class", colours,
                            height=260)
        fig.update_layout(showlegend=False, dragmode=False, margin={"t": 0, "b": 0})
        st.plotly_chart(fig, key=f"home_{card.page}", config={"displayModeBar": False})
    elif card.grid is not None:
        fig = plots.quality_overview(card.grid, card.link["score"], SCORES[card.link["score"]])
        fig.update_layout(margin={"t": 0, "b": 0, "l": 0, "r": 0})
        st.plotly_chart(fig, key=f"home_{card.page}", config={"displayModeBar": False})
    else:
        cols = st.columns(min(len(card.pictures), 5))
        for i, (png, caption) in enumerate(zip(card.pictures[:10], card.captions[:10])):
            cols[i % len(cols)].image(png, width=PICTURE, caption=caption,
                                      output_format="PNG")
    st.caption(card.text)
    page_link(card.page, f"Open in {card.title}", card.link)


def _details(catalog) -> None:
    with st.expander("What the store holds"):
        if catalog.counts:
            cols = st.columns(len(catalog.counts))
            for col, (name, count) in zip(cols, catalog.counts.items()):
                col.metric(name, f"{count:,}")
        rows = [{"dataset": r.dataset.name, "model": r.model, "checkpoint": r.checkpoint,
                 "weights": r.weights, "layer": r.layer, "input size": r.input_size,
                 "n": r.n, "dim": r.dim} for r in catalog.features.values()]
        if rows:
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    with st.expander("Pages and the commands that fill them"):
        st.dataframe(pd.DataFrame([{"page": v.title, "what it shows": v.description,
                                    "filled by": v.command_line} for v in
                                   get_registry().visualizers() if v.name != "home"]),
                     hide_index=True, width="stretch")
    with st.expander("Plugins"):
        st.dataframe(pd.DataFrame([{**p, "hooks": ", ".join(p["hooks"])}
                                   for p in get_plugins()]), hide_index=True, width="stretch")
