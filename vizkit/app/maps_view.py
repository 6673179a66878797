"""Drawing similarity maps on a page: a panel of columns, one per result — the score
above, the query's map for that result, the result with its own map — and the legend."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from vizkit.read.overlay import legend, shared_scale, signed_overlay

if TYPE_CHECKING:
    from vizkit.compute.pairmaps import PairMaps


def pick_relative(prefix: str) -> bool:
    """The display toggle: contributions (centred at 0) or their excess over an even share."""
    return st.toggle("Relative to an even share (blue: a region adds more than its share "
                     "of the score, red: less)", key=f"{prefix}_relative",
                     help="Each cell's contribution minus score / cells. These maps sum to "
                          "0; the plain ones sum to the score.")


def relative(m: np.ndarray, score: float) -> np.ndarray:
    """A map minus an even share of its score (sums to 0)."""
    return m - score / m.size


def draw_legend(vmax: float, metric: str, is_relative: bool = False,
                ranked_by: str | None = None, where: str = "above it") -> None:
    """The colour scale and what it means (``ranked_by``: the metric of the scores above the
    columns, when it is not the maps' own)."""
    c1, c2 = st.columns([1, 2])
    c1.image(legend(vmax), width="stretch")
    if is_relative:
        c2.caption(f"red −{vmax:.3g} · 0 · +{vmax:.3g} blue — per map cell, its {metric} "
                   "contribution minus an even share of the score: blue regions carry more "
                   "of the similarity than their area, red ones less.")
    elif ranked_by and ranked_by != metric:
        c2.caption(f"red −{vmax:.3g} · 0 · +{vmax:.3g} blue — per map cell, in units of "
                   f"{metric} similarity; each map sums to the pair's {metric} similarity "
                   "(the sum under each column). The score above is the "
                   f"{ranked_by} that ranks the results: a distance has no split over "
                   "pixels. Blue regions add to the similarity, red ones take away.")
    else:
        c2.caption(f"red −{vmax:.3g} · 0 · +{vmax:.3g} blue — per map cell, in units of "
                   f"{metric} similarity; each map sums to the score {where}. Blue regions "
                   "add to the similarity, red ones take away.")


def draw_panel(query_view: np.ndarray, results: pd.DataFrame, result_views: list[np.ndarray],
               maps: list[PairMaps], metric: str, *, columns: int = 5,
               notes: list[str] | None = None, is_relative: bool = False,
               ranked_by: str | None = None, highlight: int | None = None) -> None:
    """One row of columns per ``columns`` results: ``#rank · score``, the query's map
    over ``query_view`` (top), the result's map (bottom) and ``notes`` (e.g. its rank
    elsewhere). One colour scale for every map in the panel, so they compare.
    ``is_relative`` draws each map minus an even share of its score; ``ranked_by`` names the
    metric of the scores above the columns when it is not the maps' own ``metric``;
    ``highlight`` is the dataset index of the result in focus, framed wherever it appears
    (a caption says so when this ranking does not hold it)."""
    if is_relative:
        maps = [dataclasses.replace(m, query=relative(m.query, m.score),
                                    result=relative(m.result, m.score)) for m in maps]
    vmax = shared_scale([m.query for m in maps] + [m.result for m in maps])
    rows = list(results.itertuples())
    if highlight is not None:
        where = [i for i, r in enumerate(rows) if int(r.idx) == highlight]
        st.caption(f"The result in focus is framed: #{rows[where[0]].rank} here." if where
                   else f"The result in focus is not among these {len(rows)}.")
    for lo in range(0, len(rows), columns):
        cols = st.columns(columns)
        for j, col in enumerate(cols):
            i = lo + j
            if i >= len(rows):
                break
            row, view, pm = rows[i], result_views[i], maps[i]
            focused = highlight is not None and int(row.idx) == highlight
            with col.container(border=focused):
                rank = f"#{row.rank}" if isinstance(row.rank, (int, np.integer)) else \
                    str(row.rank)
                st.markdown(f"**{rank}** · {ranked_by or metric} {row.score:.4f}"
                            + (" · **in focus**" if focused else ""))
                st.image(signed_overlay(query_view, pm.query, vmax), width="stretch",
                         output_format="PNG")
                st.image(signed_overlay(view, pm.result, vmax), width="stretch",
                         output_format="PNG")
                note = f"{row.class_name} · Σ map = {metric} {pm.score:.4f}"
                st.caption(note + (f" · {notes[i]}" if notes else ""))
    draw_legend(vmax, metric, is_relative, ranked_by)


def draw_focus(sides: list[tuple[str, np.ndarray, np.ndarray, PairMaps, dict]],
               metric: str, width: int = 240, ranked_by: str | None = None) -> None:
    """One result large: per side (a title, the query's and the result's images, their
    maps, the numbers as ``{label: value}``), the query's map and the result's map side by
    side on one colour scale, the numbers in readable type."""
    vmax = shared_scale([m for *_, pm, _ in sides for m in (pm.query, pm.result)])
    for col, (title, query_view, view, pm, numbers) in zip(st.columns(len(sides)), sides):
        with col:
            if title:
                st.markdown(f"**{title}**")
            c1, c2 = st.columns(2)
            c1.image(signed_overlay(query_view, pm.query, vmax, width=width), width="stretch",
                     caption="the query, where it looks like the result", output_format="PNG")
            c2.image(signed_overlay(view, pm.result, vmax, width=width), width="stretch",
                     caption="the result, where it looks like the query", output_format="PNG")
            for c, (name, value) in zip(st.columns(len(numbers)), numbers.items()):
                c.metric(name, value)
    draw_legend(vmax, metric, ranked_by=ranked_by, where="beside it")
