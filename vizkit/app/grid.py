"""A grid of dataset thumbnails with captions, each with a button that opens the image
as the query of the semantic search page (same dataset, model and layer)."""
from __future__ import annotations

import streamlit as st

from vizkit.app import data, pickers
from vizkit.read.rows import FeaturesRow


def open_in_search(frow: FeaturesRow, idx: int) -> None:
    """Make image ``idx`` of ``frow``'s features the search page's query and go there."""
    st.session_state["search_dataset"] = frow.dataset.name
    st.session_state["search_model"] = frow.label
    st.session_state["search_layer"] = frow.layer
    st.session_state["search_query_idx_next"] = int(idx)
    st.session_state["search_source_next"] = pickers.FROM_DATASET
    from vizkit.app.router import switch_to

    switch_to("search")


def image_grid(frow: FeaturesRow, idxs, captions: list[str], key: str, columns: int = 8,
               width: int = 84, buttons: bool = True) -> None:
    """Thumbnails of ``idxs`` with ``captions``; with ``buttons``, "Search" under each opens
    it in semantic search (an overview beside a focus view goes without)."""
    idxs = [int(i) for i in idxs]
    thumbs = data.reader().thumbnails(frow.dataset, idxs)
    for lo in range(0, len(idxs), columns):
        cols = st.columns(columns)
        for col, i, caption in zip(cols, idxs[lo: lo + columns], captions[lo: lo + columns]):
            with col:
                st.image(thumbs[i], width=width, output_format="PNG")
                st.caption(caption)
                if buttons and st.button("Search", key=f"{key}_{i}",
                                         help="Open in semantic search"):
                    open_in_search(frow, i)
