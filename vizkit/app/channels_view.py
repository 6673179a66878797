"""Why similar, by channel: for one (query, result) pair, the channels of the compared layer
that add the most to the score and take the most from it, each with where it acts on both
images, and (when the model explorer has them) its optimised image and top images."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from vizkit import palette
from vizkit.read.catalog import Reader
from vizkit.read.explorer import channel_images, top_images
from vizkit.read.maps import channel_pair_maps, split_by_channel
from vizkit.read.overlay import shared_scale, signed_overlay
from vizkit.read.rows import FeaturesRow

if TYPE_CHECKING:
    from vizkit.compute.pairmaps import SpatialFeatures

SHOWN_FOR, SHOWN_AGAINST = 4, 2
CHART_FOR, CHART_AGAINST = 12, 6


def draw_why_by_channel(reader: Reader, frow: FeaturesRow, query: SpatialFeatures,
                        result: SpatialFeatures, rank: int, metric: str, prefix: str) -> None:
    """The focused (query, result #``rank``) pair's score split over channels: the
    contributions as bars, then the channels adding and taking the most, each with where it
    acts on both images and (when stored) its optimised image and top images."""
    st.markdown(f"**Why similar, by channel** · result #{rank}")
    split = split_by_channel(query, result, metric)
    top, against = split.most_for(CHART_FOR), split.most_against(CHART_AGAINST)
    st.caption(f"The {metric} score {split.score:.4f} is the sum of {len(split.contributions)} "
               f"channel contributions of {frow.layer} (query channel × result channel of the "
               "pooled features); each channel's share is split again over both images' "
               "pixels below. Blue adds to the similarity, red takes away.")
    shown = top + against
    fig = go.Figure(go.Bar(
        x=[f"ch {c}" for c in shown], y=[split.contributions[c] for c in shown],
        marker_color=[palette.FOR if split.contributions[c] > 0 else palette.AGAINST
                      for c in shown]))
    fig.update_layout(height=260, margin={"t": 10, "b": 10}, yaxis_title="contribution",
                      xaxis={"type": "category"})
    st.plotly_chart(fig, key=f"{prefix}_channel_bars")
    chosen = top[:SHOWN_FOR] + against[:SHOWN_AGAINST]
    maps = {c: channel_pair_maps(query, result, metric, c) for c in chosen}
    vmax = shared_scale([m for pair in maps.values() for m in pair])
    rendered = _rendered(reader, frow)
    for c in chosen:
        on_query, on_result = maps[c]
        cols = st.columns([1, 1, 1, 3])
        cols[0].markdown(f"**channel {c}**  \n{split.contributions[c]:+.4f} "
                         f"({split.contributions[c] / split.score:+.0%} of the score)"
                         if split.score else f"**channel {c}**")
        cols[1].image(signed_overlay(query.view, on_query, vmax, 120), caption="on the query")
        cols[2].image(signed_overlay(result.view, on_result, vmax, 120),
                      caption="on the result")
        _explorer_column(reader, frow, c, rendered, cols[3])
    if not rendered.empty or frow.checkpoint is None:
        return
    st.caption(f"Render channel images of {frow.layer} in the Model explorer (or `vizkit "
               f"precompute --channel-vis --layers {frow.layer}`) to see what each channel "
               "responds to beside it.")


def _rendered(reader: Reader, frow: FeaturesRow) -> pd.DataFrame:
    images = channel_images(reader, frow.weights_fp)
    return images[images["layer"] == frow.layer] if not images.empty else images


def _explorer_column(reader: Reader, frow: FeaturesRow, channel: int, rendered: pd.DataFrame,
                     col) -> None:
    """The channel's optimised image and its top dataset images, when stored."""
    mine = rendered[rendered["channel"] == channel] if not rendered.empty else rendered
    tops = top_images(reader, frow.weights_fp, frow.layer, channel, "max")
    if mine.empty and tops.empty:
        col.caption("no channel image or top images stored for this channel")
        return
    with col:
        inner = st.columns(1 + min(4, len(tops)))
        if not mine.empty:
            inner[0].image(mine["png"].iloc[0], caption="optimised", width=72)
        if not tops.empty:
            images = reader.images(tops["dataset_key"].iloc[0])
            idx = [int(i) for i in tops["idx"].head(4)]
            thumbs = reader.thumbnails(images.dataset, idx)
            for c, i in zip(inner[1:], idx):
                c.image(thumbs[i], width=56, caption="top image")
