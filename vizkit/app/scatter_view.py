"""The 2-D scatter the projection and evolution pages share, drawn three ways: WebGL points
(lasso and box), points that show their image under the pointer, or the thumbnails
themselves at their places; each returns the image indices selected."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from vizkit import palette
from vizkit.app import plots
from vizkit.read.catalog import Reader
from vizkit.read.rows import FeaturesRow

DRAW = {"points": "points", "hover": "points, image on hover", "images": "images"}
LIMITS = {"points": plots.MAX_POINTS, "hover": plots.MAX_HOVER, "images": plots.MAX_IMAGES}
IMAGE_BYTES = 8 * 2**20  # thumbnails one chart carries to the browser, whatever their size


def pick_drawing(where, prefix: str, before: dict[str, str] | None = None,
                 atlas: bool = False) -> str:
    """The "Draw" radio (in ``where``, a column or the page); returns a key of ``before``
    (a page's own drawings, offered first) or of :data:`DRAW`. With an ``atlas`` stored,
    it replaces the "images" drawing and comes first."""
    options = {**(before or {}), **({"atlas": "atlas"} if atlas else {}), **DRAW}
    if atlas:
        del options["images"]
    return where.radio("Draw", list(options), horizontal=True, key=f"{prefix}_draw",
                       format_func=options.get,
                       help="hover: a point shows its image under the pointer; images: each "
                            "point's thumbnail at its place (samples of at most "
                            f"{plots.MAX_HOVER:,} and {plots.MAX_IMAGES:,} points)")


def drawn_sample(n: int, draw: str, note: str = "") -> np.ndarray:
    """Positions of the ``n`` points to draw the ``draw`` way: all, or a fixed random sample
    within its limit, said in a caption (``note`` adds what still uses all of them)."""
    shown = plots.sample(n, LIMITS[draw])
    if len(shown) < n:
        st.caption(f"Drawing a fixed random sample of {len(shown):,} of {n:,} "
                   f"{'images' if draw == 'images' else 'points'}"
                   + (f" ({note})." if note else "."))
    return shown


def thumbnails_within(reader: Reader, frow: FeaturesRow, idxs: list[int],
                      budget: int = IMAGE_BYTES) -> dict[int, bytes]:
    """The thumbnails of ``idxs`` in order, as many as fit ``budget`` bytes (a folder of
    large colour photos has thumbnails twenty times Fashion-MNIST's); says so when some
    points go without."""
    thumbs, used = {}, 0
    for i, png in reader.thumbnails(frow.dataset, idxs).items():
        if used + len(png) > budget:
            st.caption(f"{len(thumbs):,} of the {len(idxs):,} points carry their image "
                       f"(at most {budget / 2**20:.0f} MB of thumbnails per chart).")
            break
        thumbs[i], used = png, used + len(png)
    return thumbs


def _plotly_selection(event) -> list[int]:
    points = getattr(getattr(event, "selection", None), "points", None) or []
    return [int(p["customdata"][0]) for p in points if p.get("customdata")]


def draw_scatter(reader: Reader, frow: FeaturesRow, df: pd.DataFrame, color: str, draw: str,
                 *, key: str) -> list[int]:
    """Draw ``df``'s points (x, y, idx, image_id, ``color``) the ``draw`` way; return the
    image indices selected (lasso or box on points and images; box or click with hover).
    Thumbnails are read only for the hover and images drawings. Colours come from the
    palette by what they mean (a class, a cluster), never by their order on this view."""
    colours = palette.colours_for(color, df[color], reader.images(frow.dataset).classes)
    if draw == "hover":
        st.html(plots.HOVER_CSS)
        thumbs = thumbnails_within(reader, frow, df["idx"].tolist())
        event = st.altair_chart(plots.hover_scatter(df, color, thumbs, colours), key=f"{key}_hover",
                                on_select="rerun", width="stretch")
        return plots.selected_idx(event, df)
    fig = plots.scatter(df, color, colours)
    if draw == "images":  # composed once per view; a rerun (a selection) reuses it
        key_of = (frow.result_key, color, hashlib.sha1(np.ascontiguousarray(
            df[["idx", "x", "y"]].to_numpy(np.float64)).tobytes()).hexdigest())

        def compose() -> dict:
            with st.spinner(f"Composing {len(df):,} thumbnails…"):
                return plots.compose_thumbnails(
                    df, thumbnails_within(reader, frow, df["idx"].tolist()),
                    [colours.get(str(v), palette.UNLABELLED) for v in df[color]])
        plots.add_thumbnails(fig, reader.memo("composed thumbnails", key_of, compose, keep=4))
    event = st.plotly_chart(fig, key=key, on_select="rerun",
                            selection_mode=("points", "box", "lasso"))
    return _plotly_selection(event)
