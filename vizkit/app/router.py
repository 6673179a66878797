"""Builds the app's navigation from the registered visualizers."""
from __future__ import annotations

import streamlit as st

from vizkit.app.guard import guarded
from vizkit.registry import get_registry

_pages: dict[str, st.Page] = {}


def navigation():
    """``st.navigation`` over every visualizer's page (home first)."""
    pages = [st.Page(guarded(v), title=v.title, icon=v.icon, url_path=v.name,
                     default=i == 0)
             for i, v in enumerate(get_registry().visualizers())]
    _pages.update({v.name: p for v, p in zip(get_registry().visualizers(), pages)})
    return st.navigation(pages)


def switch_to(name: str) -> None:
    """Go to visualizer ``name``'s page (under ``run_page``, where there is no navigation,
    the state is set and the page stays)."""
    if name in _pages:
        st.switch_page(_pages[name])
    st.rerun()


def page_link(name: str, label: str, params: dict[str, str]) -> None:
    """A link to visualizer ``name``'s page opening on ``params`` (its URL's parameters);
    under ``run_page``, where there is no navigation, the link's text alone."""
    if name in _pages:
        st.page_link(_pages[name], label=label, icon=":material/arrow_forward:",
                     query_params=params)
    else:
        st.caption(f"{label} → {name}?" + "&".join(f"{k}={v}" for k, v in params.items()))


def run_page(name: str) -> None:
    """Run one visualizer's page by name, guarded as in the app (AppTest scripts use it)."""
    for v in get_registry().visualizers():
        if v.name == name:
            return guarded(v)()
    raise KeyError(name)
