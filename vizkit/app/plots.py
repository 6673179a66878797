"""Figures the layout pages share: the class-coloured scatter (points, thumbnails at their
places, or points that show their image on hover), the confusion heatmap and the
cluster-flow Sankey diagram."""
from __future__ import annotations

import base64
import io

import altair as alt
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from vizkit import palette

MAX_POINTS = 30_000  # drawn at once; more are sampled (with a note on the page)
MAX_IMAGES = 1_500  # thumbnails drawn at their positions in "images" mode
MAX_HOVER = 3_000  # points that carry their thumbnail for the hover tooltip


def sample(n: int, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Positions to draw: all, or a fixed random sample of ``limit`` in order."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def scatter(df: pd.DataFrame, color: str, colours: dict[str, str], height: int = 620,
            **kwargs) -> go.Figure:
    """WebGL scatter of ``df`` (columns x, y, idx, image_id, ``color``) in ``colours`` (value
    as text -> colour, from :mod:`vizkit.palette`); ``idx`` travels as custom data so
    selections name images."""
    fig = px.scatter(df, x="x", y="y", color=df[color].astype(str),
                     category_orders={color: list(colours)},
                     custom_data=["idx"], hover_data={"image_id": True, "x": False,
                                                      "y": False, "idx": False},
                     render_mode="webgl", height=height, color_discrete_map=colours,
                     **kwargs)
    fig.update_traces(marker={"size": 4, "opacity": 0.75})
    fig.update_layout(legend_title_text=color, dragmode="lasso", xaxis_visible=False,
                      yaxis_visible=False, margin={"l": 0, "r": 0, "t": 30, "b": 0})
    return fig


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:`` URI (what an <img> or a tooltip shows without a request)."""
    return "data:image/png;base64," + base64.b64encode(png).decode()


def compose_thumbnails(df: pd.DataFrame, thumbs: dict[int, bytes], frames: list[str],
                       share: float = 0.035, canvas: int = 1600) -> dict:
    """Every point's thumbnail (PNG bytes by ``idx``) at its 2-D position, ``share`` of the
    layout across, matted on white and framed in ``frames[i]`` (row ``i``'s colour: its
    class, its cluster), composed into one transparent PNG — one image for the browser to
    draw instead of one per point (1,500 took minutes). Returns the picture with the data
    extent it covers and how many thumbnails it holds, for :func:`add_thumbnails`."""
    from PIL import Image

    from vizkit.read.explorer import thumbnail_array

    x, y = df["x"].to_numpy(float), df["y"].to_numpy(float)
    span = max(float(np.ptp(x)), float(np.ptp(y)), 1e-9)
    pad = span * share
    x0, x1, y0, y1 = x.min() - pad, x.max() + pad, y.min() - pad, y.max() + pad
    scale = canvas / max(x1 - x0, y1 - y0)  # pixels per data unit
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    picture = Image.new("RGBA", size, (0, 0, 0, 0))
    tile = max(8, round(span * share * scale))
    placed = 0
    for r, frame in zip(df.itertuples(), frames):
        png = thumbs.get(int(r.idx))
        if png is None:
            continue
        framed = Image.new("RGBA", (tile, tile), palette.rgb(frame) + (255,))
        framed.paste(Image.new("RGBA", (tile - 4, tile - 4), palette.rgb(palette.SURFACE)
                               + (255,)), (2, 2))
        framed.paste(Image.fromarray(thumbnail_array(png)).resize(
            (tile - 6, tile - 6), Image.Resampling.BILINEAR), (3, 3))
        left = round((r.x - x0) * scale) - tile // 2
        top = round((y1 - r.y) * scale) - tile // 2
        picture.alpha_composite(framed, (max(0, min(size[0] - tile, left)),
                                         max(0, min(size[1] - tile, top))))
        placed += 1
    buf = io.BytesIO()
    picture.save(buf, format="PNG", compress_level=1)
    return {"png": buf.getvalue(), "extent": (x0, x1, y0, y1), "placed": placed}


def add_thumbnails(fig: go.Figure, composed: dict) -> go.Figure:
    """Lay :func:`compose_thumbnails`' picture over ``fig`` at its data extent, the axes
    keeping one data unit square so the tiles stay square; ``layout.meta.thumbnails`` says
    how many it holds."""
    x0, x1, y0, y1 = composed["extent"]
    fig.add_layout_image(source=data_uri(composed["png"]), x=x0, y=y1, xref="x", yref="y",
                         sizex=x1 - x0, sizey=y1 - y0, xanchor="left", yanchor="top",
                         sizing="stretch", layer="above")
    fig.update_xaxes(range=[x0, x1], constrain="domain")
    fig.update_yaxes(range=[y0, y1], scaleanchor="x", constrain="domain")
    fig.update_layout(meta={"thumbnails": composed["placed"]})
    return fig


HOVER_CSS = ("<style>#vg-tooltip-element img { width: 112px; height: 112px; "
             "object-fit: contain; image-rendering: pixelated; }</style>")


def hover_scatter(df: pd.DataFrame, color: str, thumbs: dict[int, bytes],
                  colours: dict[str, str], height: int = 620) -> alt.Chart:
    """A Vega-Lite scatter of ``df`` (columns x, y, idx, image_id, ``color``) whose tooltip
    shows each point's thumbnail (``thumbs``: PNG bytes by idx; the tooltip's ``image`` key
    is drawn as an image). Drag a box (selection ``box``) or click a point (``pick``) to
    select; :func:`selected_idx` turns either into image indices."""
    frame = pd.DataFrame({"x": df["x"].to_numpy(), "y": df["y"].to_numpy(),
                          "idx": df["idx"].to_numpy(), "image_id": df["image_id"].astype(str),
                          color: df[color].astype(str)})
    frame["image"] = [data_uri(thumbs[i]) if i in thumbs else "" for i in frame["idx"]]
    box = alt.selection_interval(name="box", encodings=["x", "y"])
    pick = alt.selection_point(name="pick", fields=["idx"], on="click")
    none = alt.Axis(labels=False, ticks=False, title=None, grid=False, domain=False)
    return (alt.Chart(frame, height=height)
            .mark_circle(size=30, opacity=0.8)
            .encode(x=alt.X("x:Q", axis=none, scale=alt.Scale(zero=False)),
                    y=alt.Y("y:Q", axis=none, scale=alt.Scale(zero=False)),
                    color=alt.Color(f"{color}:N", scale=alt.Scale(
                        domain=list(colours), range=list(colours.values()))),
                    tooltip=[alt.Tooltip("image:N"), alt.Tooltip("image_id:N"),
                             alt.Tooltip(f"{color}:N")])
            .add_params(box, pick))


def selected_idx(event, df: pd.DataFrame) -> list[int]:
    """The image indices a :func:`hover_scatter` selection names: the points clicked, or
    the points of ``df`` inside the box dragged."""
    selection = getattr(event, "selection", None) or {}
    picked = [int(p["idx"]) for p in selection.get("pick") or [] if "idx" in p]
    if picked:
        return picked
    box = selection.get("box") or {}
    if "x" not in box or "y" not in box:
        return []
    (x0, x1), (y0, y1) = sorted(box["x"]), sorted(box["y"])
    inside = df["x"].between(x0, x1) & df["y"].between(y0, y1)
    return [int(i) for i in df.loc[inside, "idx"]]


def start_at_frame(fig: go.Figure, frame: int) -> go.Figure:
    """An animated figure drawn at ``frame`` with its own slider removed: the page's one
    epoch control decides what is shown; the figure keeps its play button."""
    if fig.frames:
        for trace, shown in zip(fig.data, fig.frames[frame].data):
            trace.update(x=shown.x, y=shown.y)
    fig.layout.sliders = []
    return fig


def confusion_heatmap(matrix: np.ndarray, classes: list[str], height: int = 520
                      ) -> go.Figure:
    """Counts ``[true, predicted]`` as a heatmap of square markers (diagonal included,
    log-ish colour, each count in black or white to read on its cell): markers, because a
    click selects a scatter point (``customdata`` = [true, predicted]) and never a heatmap
    cell."""
    n = len(classes)
    true, pred = np.divmod(np.arange(n * n), n)
    counts = matrix[true, pred]
    shade = np.log1p(counts) / (np.log1p(counts.max()) or 1.0)
    side = max(4, int((height - 120) / max(n, 1) * 0.92))
    fig = go.Figure(go.Scatter(
        x=[classes[p] for p in pred], y=[classes[t] for t in true], mode="markers+text",
        text=[f"{c:,}" if c else "" for c in counts],
        customdata=[[int(t), int(p)] for t, p in zip(true, pred)],
        selected={"marker": {"opacity": 1}}, unselected={"marker": {"opacity": 1}},
        textfont={"color": [palette.text_colour(s) for s in shade],
                  "size": 11 if n <= 20 else 8},
        marker={"symbol": "square", "size": side, "color": shade, "cmin": 0, "cmax": 1,
                "colorscale": palette.plotly_scale(palette.SEQUENTIAL), "line": {"width": 0}},
        hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>"))
    fig.update_layout(xaxis_title="predicted", yaxis_title="true", height=height,
                      xaxis={"type": "category", "categoryorder": "array",
                             "categoryarray": classes, "showgrid": False},
                      yaxis={"type": "category", "categoryorder": "array",
                             "categoryarray": classes[::-1], "showgrid": False},
                      margin={"l": 0, "r": 0, "t": 10, "b": 0}, dragmode=False)
    return fig


def cluster_flow(flow: np.ndarray, before: str, after: str) -> go.Figure:
    """Sankey of images moving from the clusters of one checkpoint to the next."""
    kb, ka = flow.shape
    src, dst = np.nonzero(flow)
    fig = go.Figure(go.Sankey(
        node={"label": [f"c{i} ({before})" for i in range(kb)] + [f"c{j} ({after})"
                                                                  for j in range(ka)],
              "color": [palette.cluster_colour(i) for i in range(kb)] +
                       [palette.cluster_colour(j) for j in range(ka)], "pad": 8,
              "thickness": 14, "line": {"width": 0}},
        link={"source": src.tolist(), "target": (kb + dst).tolist(),
              "value": flow[src, dst].tolist(),
              "color": [palette.translucent(palette.cluster_colour(i), 0.35) for i in src]},
        textfont={"color": palette.INK, "size": 12}))
    fig.update_layout(height=460, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def quality_heatmap(table: pd.DataFrame, score: str, title: str) -> go.Figure:
    """The Models x layers heatmap of ``table`` (read.grid.quality_table): a square marker
    per (model, layer) with the layer's name and ``score`` in readable type, models as rows,
    each model's layers from shallow to deep as columns. Markers, not a heatmap trace:
    clicking one is a point selection (Plotly selects points, not heatmap cells)."""
    models = list(dict.fromkeys(table["model"]))
    values = table[score].to_numpy(float)
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    fraction = (values - lo) / ((hi - lo) or 1.0)
    fig = go.Figure(go.Scatter(
        x=[f"layer {d}" for d in table["depth"]], y=table["model"], mode="markers+text",
        text=[f"{r.layer}<br>{getattr(r, score):.3f}" for r in table.itertuples()],
        textfont={"color": [palette.text_colour(f) for f in fraction], "size": 11},
        customdata=table["result_key"],
        marker={"symbol": "square", "size": 64, "color": values, "cmin": lo, "cmax": hi,
                "colorscale": palette.plotly_scale(palette.SEQUENTIAL), "showscale": True,
                "line": {"color": palette.GUIDE, "width": 1},
                "colorbar": {"title": title}},
        hovertemplate="%{y}<br>%{text}<extra></extra>"))
    fig.update_layout(height=140 + 80 * len(models), margin={"t": 10},
                      xaxis={"categoryorder": "array", "categoryarray":
                             [f"layer {d}" for d in range(1, int(table["depth"].max()) + 1)]},
                      yaxis={"categoryorder": "array", "categoryarray": models[::-1]},
                      dragmode=False)
    return fig


def quality_overview(table: pd.DataFrame, score: str, title: str) -> go.Figure:
    """The Models x layers table as a compact heatmap for a card: models as rows (their
    short names), depth as columns, each cell's ``score`` written in it and its layer's
    name on hover."""
    models = list(dict.fromkeys(table["model"]))
    depth = int(table["depth"].max())
    z = np.full((len(models), depth), np.nan)
    names = np.full((len(models), depth), "", dtype=object)
    for r in table.itertuples():
        z[models.index(r.model), r.depth - 1] = getattr(r, score)
        names[models.index(r.model), r.depth - 1] = r.layer
    lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
    fig = go.Figure(go.Heatmap(
        z=z, x=[f"layer {d}" for d in range(1, depth + 1)],
        y=[m.split(" (")[0] for m in models], customdata=names, zmin=lo, zmax=hi,
        colorscale=palette.plotly_scale(palette.SEQUENTIAL), xgap=2, ygap=2,
        text=[[f"{v:.2f}" if v == v else "" for v in row] for row in z],
        texttemplate="%{text}", colorbar={"title": title, "thickness": 10},
        hovertemplate="%{y} · %{customdata}<br>%{z:.3f}<extra></extra>"))
    fig.update_traces(textfont={"size": 11})
    fig.update_layout(height=80 + 44 * len(models), yaxis={"autorange": "reversed"})
    return fig
