"""Plotly figures the layout pages share: the class-coloured scatter, the confusion
heatmap and the cluster-flow Sankey diagram."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

MAX_POINTS = 30_000  # drawn at once; more are sampled (with a note on the page)
MAX_IMAGES = 1_500  # thumbnails drawn at their positions in "images" mode
PALETTE = px.colors.qualitative.Dark24


def sample(n: int, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Positions to draw: all, or a fixed random sample of ``limit`` in order."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def scatter(df: pd.DataFrame, color: str, height: int = 620, **kwargs) -> go.Figure:
    """WebGL scatter of ``df`` (columns x, y, idx, image_id, ``color``); ``idx`` travels as
    custom data so selections name images."""
    order = sorted(df[color].unique(), key=str)
    fig = px.scatter(df, x="x", y="y", color=df[color].astype(str),
                     category_orders={"color": [str(o) for o in order]},
                     custom_data=["idx"], hover_data={"image_id": True, "x": False,
                                                      "y": False, "idx": False},
                     render_mode="webgl", height=height,
                     color_discrete_sequence=PALETTE, **kwargs)
    fig.update_traces(marker={"size": 4, "opacity": 0.75})
    fig.update_layout(legend_title_text=color, dragmode="lasso", xaxis_visible=False,
                      yaxis_visible=False, margin={"l": 0, "r": 0, "t": 30, "b": 0})
    return fig


def add_thumbnails(fig: go.Figure, df: pd.DataFrame, thumbs: dict[int, bytes],
                   share: float = 0.035) -> go.Figure:
    """Each point's thumbnail (PNG bytes by ``idx``) drawn at its 2-D position, ``share``
    of the layout's width across, above the points."""
    import base64

    span = max(float(np.ptp(df["x"])), float(np.ptp(df["y"])), 1e-9) * share
    for r in df.itertuples():
        png = thumbs.get(int(r.idx))
        if png is None:
            continue
        fig.add_layout_image(source="data:image/png;base64," + base64.b64encode(png).decode(),
                             x=r.x, y=r.y, xref="x", yref="y", sizex=span, sizey=span,
                             xanchor="center", yanchor="middle", layer="above")
    return fig


def confusion_heatmap(matrix: np.ndarray, classes: list[str]) -> go.Figure:
    """Counts ``[true, predicted]`` as a heatmap (diagonal included, log-ish colour)."""
    fig = go.Figure(go.Heatmap(z=np.log1p(matrix), x=classes, y=classes,
                               text=matrix, texttemplate="%{text}", colorscale="Blues",
                               showscale=False,
                               hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>"))
    fig.update_layout(xaxis_title="predicted", yaxis_title="true", height=520,
                      yaxis_autorange="reversed", margin={"l": 0, "r": 0, "t": 10, "b": 0})
    return fig


def cluster_flow(flow: np.ndarray, before: str, after: str) -> go.Figure:
    """Sankey of images moving from the clusters of one checkpoint to the next."""
    kb, ka = flow.shape
    src, dst = np.nonzero(flow)
    fig = go.Figure(go.Sankey(
        node={"label": [f"{before} c{i}" for i in range(kb)] + [f"{after} c{j}"
                                                                for j in range(ka)],
              "color": [PALETTE[i % len(PALETTE)] for i in range(kb)] +
                       [PALETTE[j % len(PALETTE)] for j in range(ka)], "pad": 6},
        link={"source": src.tolist(), "target": (kb + dst).tolist(),
              "value": flow[src, dst].tolist()}))
    fig.update_layout(height=460, margin={"l": 0, "r": 0, "t": 10, "b": 0})
    return fig
