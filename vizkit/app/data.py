"""The app's handle on the read side: one :class:`~vizkit.read.catalog.Reader` per store per
server process, shared by every session (it caches what it reads, and re-reads the catalog
when a job commits)."""
from __future__ import annotations

import streamlit as st

from vizkit.paths import store_path
from vizkit.read.catalog import Reader


@st.cache_resource(show_spinner=False, max_entries=4)
def _reader(path: str) -> Reader:
    return Reader(path)


def reader() -> Reader:
    """The reader of the store the app serves (``$VIZKIT_STORE`` or ``data/vizkit.duckdb``)."""
    return _reader(str(store_path()))
