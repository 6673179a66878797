"""Home: what vizkit is, what the store holds, which plugins are loaded or failed."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from vizkit.app import data
from vizkit.plugins import failures, get_plugins


def render() -> None:
    st.title("vizkit")
    st.write("See what CNN image models learn: search a dataset by similarity under any "
             "model, layer and distance metric. Pick **Semantic search** on the left.")
    for f in failures():
        st.error(f"Plugin **{f.plugin}** failed ({f.stage}): {f.error}")
    store = data.store()
    st.subheader("The store")
    if not store.ready():
        st.info(f"There is no store at `{store.path}` yet. Run `vizkit demo` (no network "
                "needed) to train the demo model on Fashion-MNIST and precompute its results.")
    else:
        summary = store.summary()
        cols = st.columns(len(summary))
        for col, (name, count) in zip(cols, summary.items()):
            col.metric(name, f"{count:,}")
        feats = data.catalog(str(store.path), "features")
        if not feats.empty:
            shown = feats.assign(dataset=feats["dataset_key"].str.split("#").str[0])[
                ["dataset", "model", "checkpoint", "weights", "layer", "n", "dim", "created_at"]]
            st.dataframe(shown, hide_index=True, width="stretch")
    st.subheader("Plugins")
    st.dataframe(pd.DataFrame([{**p, "hooks": ", ".join(p["hooks"])} for p in get_plugins()]),
                 hide_index=True, width="stretch")
