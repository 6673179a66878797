"""Builds the app's navigation from the registered visualizers."""
from __future__ import annotations

import streamlit as st

from vizkit.app.guard import guarded
from vizkit.registry import get_registry


def navigation():
    """``st.navigation`` over every visualizer's page (home first)."""
    pages = [st.Page(guarded(v.page, v.title), title=v.title, icon=v.icon, url_path=v.name,
                     default=i == 0)
             for i, v in enumerate(get_registry().visualizers())]
    return st.navigation(pages)


def run_page(name: str) -> None:
    """Run one visualizer's page by name, guarded as in the app (AppTest scripts use it)."""
    for v in get_registry().visualizers():
        if v.name == name:
            return guarded(v.page, v.title)()
    raise KeyError(name)
