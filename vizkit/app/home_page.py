"""Home: what vizkit is, what the store holds, which pages there are and which command fills
each, and which plugins are loaded or failed."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from vizkit.app import data
from vizkit.plugins import failures, get_plugins
from vizkit.registry import get_registry


def render() -> None:
    st.title("vizkit")
    st.write("See what CNN image models learn: search a dataset by similarity under any "
             "model, layer and distance metric. Pick **Semantic search** on the left.")
    for f in failures():
        st.error(f"Plugin **{f.plugin}** failed ({f.stage}): {f.error}")
    reader = data.reader()
    st.subheader("The store")
    catalog = reader.catalog()
    if not catalog.counts:
        st.info(f"There is no store at `{reader.path}` yet. Run `vizkit demo` (no network "
                "needed) to train the demo model on Fashion-MNIST and precompute its results.")
    else:
        cols = st.columns(len(catalog.counts))
        for col, (name, count) in zip(cols, catalog.counts.items()):
            col.metric(name, f"{count:,}")
        rows = [{"dataset": r.dataset.name, "model": r.model, "checkpoint": r.checkpoint,
                 "weights": r.weights, "layer": r.layer, "input size": r.input_size,
                 "n": r.n, "dim": r.dim} for r in catalog.features.values()]
        if rows:
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.subheader("Pages and the commands that fill them")
    st.dataframe(pd.DataFrame([{"page": v.title, "what it shows": v.description,
                                "filled by": v.command_line} for v in
                               get_registry().visualizers() if v.name != "home"]),
                 hide_index=True, width="stretch")
    st.subheader("Plugins")
    st.dataframe(pd.DataFrame([{**p, "hooks": ", ".join(p["hooks"])} for p in get_plugins()]),
                 hide_index=True, width="stretch")
