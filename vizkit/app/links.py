"""Links that reproduce a view: each page keeps its state in the URL's query parameters,
named like the CLI's options (``dataset``, ``model``, ``weights``, ``checkpoint``,
``layer``, ``metric``, ``query`` as an image id such as ``test/00042``, and per page
``channel``, ``epoch``, ``method``, ...), so the address bar always reproduces what is on
the screen and a link a colleague sends opens on that view.

A page calls :func:`incoming` once, at its top: the URL's parameters when they are news to
this session (a link just opened, the back button), else nothing — so the user's own
changes are never overridden by the URL they themselves produced. It sets its widgets from
them (pickers check that a value is one of their options; an unknown one is ignored) and
calls :func:`publish` with what the view shows once its widgets are drawn.
"""
from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

_SEEN = "_vk_url_seen"  # the parameters this session last read or wrote


def incoming() -> dict[str, str]:
    """The URL's parameters if this session has not seen them yet, else ``{}``. Called once
    per page run, before its widgets."""
    url = {k: st.query_params[k] for k in st.query_params}
    if url and url != st.session_state.get(_SEEN):
        st.session_state[_SEEN] = url
        return url
    return {}


def publish(values: Mapping[str, object]) -> None:
    """Make the URL say ``values`` (``None`` and empty values left out): called by a page
    after its widgets, with everything that determines its view."""
    clean = {k: str(v) for k, v in values.items() if v is not None and str(v) != ""}
    current = {k: st.query_params[k] for k in st.query_params}
    if clean != current:
        st.query_params.from_dict(clean)
    st.session_state[_SEEN] = clean


def choose(url: Mapping[str, str], name: str, key: str, options) -> None:
    """Set the widget ``key`` to the URL's ``name`` when it is one of ``options`` (compared
    as text; the option itself is stored)."""
    if name not in url:
        return
    for option in options:
        if str(option) == url[name]:
            st.session_state[key] = option
            return


def whole_number(url: Mapping[str, str], name: str, key: str, low: int, high: int) -> None:
    """Set the number widget ``key`` from the URL's ``name`` when it is a whole number in
    ``[low, high]``."""
    text = url.get(name, "")
    if text.lstrip("-").isdigit() and low <= int(text) <= high:
        st.session_state[key] = int(text)
