"""The image atlas on a page: every image of a layout on one map that the browser draws
(regl-scatterplot's WebGL points under deck.gl's image tiles) and zooms from the density
of the whole set down to the thumbnails themselves; a lasso selects points, a click on a
thumbnail searches with it.

Its elements carry it so that what is large goes to the browser once: the vendored
libraries (regl-scatterplot 0.2 MB and deck.gl 2 MB, the same messages on every run), the
points (one Arrow table per atlas, about 16 bytes an image; beyond 128,000 images a sample
of them comes first, which the view draws while the rest arrive), and the view itself,
whose data are small: its settings and the tiles it asked for last (at most
:data:`vizkit.read.atlas.MAX_TILES_PER_REQUEST` per request)."""
from __future__ import annotations

import base64
from functools import cache
from pathlib import Path

import numpy as np
import streamlit as st

from vizkit import palette
from vizkit.app import data
from vizkit.app.grid import image_grid, open_in_search
from vizkit.read import atlas as read_atlas
from vizkit.read.rows import AtlasRow, FeaturesRow

HERE = Path(__file__).parent
HEIGHT_PX = 620
COLOUR_OPTIONS = ("class", "cluster", "predicted", "correct")

CSS = """
.vk-atlas { font: 13px sans-serif; color: INK; }
.vk-atlas-bar { display: flex; gap: 14px; align-items: center; margin-bottom: 6px;
                flex-wrap: wrap; }
.vk-atlas-bar button { border: 1px solid BORDER; background: SURFACE; border-radius: 6px;
                       padding: 3px 10px; cursor: pointer; color: INK; }
.vk-atlas-bar button[aria-pressed="true"] { outline: 2px solid ACCENT; }
.vk-atlas-status { color: GUIDE; }
.vk-atlas-stage { position: relative; height: HEIGHTpx; border: 1px solid BORDER;
                  border-radius: 6px; overflow: hidden; background: SURFACE; }
.vk-atlas-points { position: absolute; inset: 0; width: 100%; height: 100%; }
.vk-atlas-tiles { position: absolute; inset: 0; pointer-events: none; }
.vk-atlas-lasso-path { position: absolute; inset: 0; width: 100%; height: 100%;
                       pointer-events: none; }
.vk-atlas-lasso-path polyline { fill: ACCENT; fill-opacity: 0.08; stroke: ACCENT;
                                stroke-width: 2; }
.vk-atlas-tip { position: absolute; display: none; pointer-events: none; padding: 4px;
                background: SURFACE; border: 1px solid BORDER; border-radius: 4px; }
.vk-atlas-tip canvas { width: 160px; height: 160px; image-rendering: pixelated; }
"""
for _name in ("INK", "BORDER", "SURFACE", "ACCENT", "GUIDE"):
    CSS = CSS.replace(_name, getattr(palette, _name))
CSS = CSS.replace("HEIGHT", str(HEIGHT_PX))


def _library(name: str, path: Path, defines: str):
    """An element that loads a vendored library once per page (it defines ``defines``)."""
    code = path.read_text(encoding="utf-8")
    return st.components.v2.component(
        name, js=f"if (!globalThis.{defines}) {{\n{code}\n}}\nexport default function () {{}}\n")


@cache
def _components():
    """The elements, defined once per process (the libraries read from the package)."""
    vendor = HERE / "vendor"
    scatter = _library("vizkit_atlas_scatterplot",
                       vendor / "regl-scatterplot" / "regl-scatterplot.bundle.js",
                       "createScatterplot")
    deck = _library("vizkit_atlas_deck", vendor / "deck.gl" / "deck.min.js", "deck")
    points = st.components.v2.component(
        "vizkit_atlas_points", js="export default function ({data}) {\n"
        "  const reg = (globalThis.vkAtlasPoints = globalThis.vkAtlasPoints || {});\n"
        "  reg[data.key] = {...reg[data.key], [data.part]: data.points};\n}\n")
    view = st.components.v2.component(
        "vizkit_atlas", css=CSS, js=(HERE / "atlas_view.js").read_text(encoding="utf-8"))
    return scatter, deck, points, view


def _palette(classes: list[str], clusters: np.ndarray) -> dict:
    """Colours by what they mean (vizkit.palette): classes and predictions by class,
    clusters by cluster number, correct yes/no; -1 (none) grey."""
    by_class = {str(i): palette.class_colour(i) for i in range(len(classes))}
    return {"class": by_class, "predicted": by_class,
            "cluster": {str(int(c)): palette.cluster_colour(int(c))
                        for c in np.unique(clusters) if c >= 0},
            "correct": {"1": palette.CORRECT["yes"], "0": palette.CORRECT["no"]},
            "none": palette.UNLABELLED}


def _uri(webp: bytes | None) -> str | None:
    return None if webp is None else "data:image/webp;base64," + base64.b64encode(webp).decode()


def atlas_view(atlas: AtlasRow, frow: FeaturesRow, color: str, *, key: str) -> None:
    """Draw ``atlas`` (of ``frow``'s images) coloured by ``color``; a click on an image opens
    it in semantic search; a lasso lists the images inside it below the map."""
    scatter, deck, points_element, _ = _components()
    reader = data.reader()
    # in the order the browser needs them: the scatterplot library (0.2 MB) and the view,
    # which draws the points; a sample of them first where there are many (a million
    # take seconds to arrive and draw); deck.gl (2 MB), which draws the images over them;
    # then all the points
    scatter(key="vk_atlas_scatterplot", height="content")
    _view(atlas, frow, color if color in COLOUR_OPTIONS else "class", key)
    first = read_atlas.browser_sample(reader, atlas)
    if first is not None:
        points_element(key=f"{key}_first", data={"key": atlas.result_key, "part": "first",
                                                 "points": first}, height="content")
    deck(key="vk_atlas_deck", height="content")
    points_element(key=f"{key}_points", data={"key": atlas.result_key, "part": "all",
                                              "points": read_atlas.browser_points(reader, atlas)},
                   height="content")


@st.fragment
def _view(atlas: AtlasRow, frow: FeaturesRow, color: str, key: str) -> None:
    """The map and what its lasso selected: a fragment, so that asking for tiles or drawing
    a lasso reruns only this."""
    reader = data.reader()
    *_, view = _components()
    state = st.session_state.get(key)
    want = getattr(state, "want", None) if state is not None else None
    asked = want.get("tiles") if isinstance(want, dict) else None
    tiles = {k: _uri(v) for k, v in read_atlas.tiles(reader, atlas, asked).items()} \
        if asked else {}
    classes = reader.classes(frow.dataset)

    def opened() -> None:
        click = getattr(st.session_state.get(key), "open", None)
        idx = read_atlas.image_at(reader, atlas, *(click.get(k) for k in ("level", "x", "y"))) \
            if isinstance(click, dict) else None
        if idx is not None:
            open_in_search(frow, idx)

    view(key=key, data={"key": atlas.result_key, "levels": atlas.levels, "cells": atlas.cells,
                        "cell_px": atlas.cell_px, "world": atlas.world, "color": color,
                        "palette": reader.memo("atlas palette", atlas.result_key, lambda: _palette(
                            classes, read_atlas.points(reader, atlas)["cluster"].to_numpy()),
                            keep=8),
                        "accent": palette.ACCENT,
                        "tiles": tiles},
         on_want_change=lambda: None, on_lasso_change=lambda: None, on_open_change=opened,
         height="content")
    lasso = getattr(state, "lasso", None) if state is not None else None
    selected = read_atlas.lasso(reader, atlas, lasso.get("polygon")) \
        if isinstance(lasso, dict) else np.zeros(0, np.int64)
    if not len(selected):
        st.caption("Scroll or pinch to zoom, drag to pan; zoomed in, the map shows the "
                   "images themselves. Click an image to search with it; Lasso selects.")
        return
    images = reader.images(frow.dataset)
    names = images.class_names[selected]
    st.subheader(f"{len(selected):,} selected")
    counts = dict(zip(*np.unique(names, return_counts=True)))
    st.bar_chart(counts, height=160, horizontal=True)
    shown = selected[:40]
    image_grid(frow, shown, [images.caption(int(i)) for i in shown], key=f"{key}_sel")
